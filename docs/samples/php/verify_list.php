<?php
// Verify a list with the mailsift API from PHP, with the curl extension PHP ships with.
//
//   MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... php verify_list.php customers.csv alice@example.com
//
// Uploads the list to /batch_process/, polls /job_progress/ until the job is Completed, asks
// /get_results/ for the three links and saves valid.csv, invalid.csv and unknown.csv in the
// current directory, then verifies one address in real time with /email_verification/.
// A failed answer prints its message and exits with status 1.

final class Failed extends Exception {}

$baseUrl = rtrim(getenv('MAILSIFT_URL') ?: 'http://127.0.0.1:8000', '/');
$token = getenv('MAILSIFT_TOKEN') ?: '';
$pollSeconds = (float) (getenv('MAILSIFT_POLL_SECONDS') ?: '5');

// POST $fields: an array is sent as multipart/form-data (needed for a CURLFile),
// a string from http_build_query() as application/x-www-form-urlencoded.
function post(string $path, array|string $fields): array
{
    global $baseUrl;
    $curl = curl_init($baseUrl . $path);
    curl_setopt_array($curl, [
        CURLOPT_POST => true,
        CURLOPT_POSTFIELDS => $fields,
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_TIMEOUT => 120,
    ]);
    $body = curl_exec($curl);
    if ($body === false) {
        throw new Failed("cannot reach $baseUrl: " . curl_error($curl));
    }
    $status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
    curl_close($curl);
    $answer = json_decode($body, true);
    if (!is_array($answer)) {
        throw new Failed("$path answered HTTP $status");
    }
    if (($answer['status'] ?? '') === 'failed') {
        throw new Failed($answer['message']);
    }
    return $answer;
}

function waitUntilCompleted(string $jobId): void
{
    global $token, $pollSeconds;
    while (true) {
        usleep((int) ($pollSeconds * 1e6));
        $progress = post('/job_progress/', http_build_query(['user_API_token' => $token, 'job_id' => $jobId]));
        echo "{$progress['stage']} {$progress['percentage']}%\n";
        if ($progress['stage'] === 'Completed') {
            return;
        }
        if (in_array($progress['stage'], ['Failed', 'Cancelled'], true)) {
            throw new Failed($progress['message'] ?? "the job was {$progress['stage']}");
        }
    }
}

// Result links are signed: no token needed.
function download(string $url, string $target): void
{
    $out = fopen($target, 'wb');
    $curl = curl_init($url);
    curl_setopt_array($curl, [CURLOPT_FILE => $out, CURLOPT_FAILONERROR => true, CURLOPT_TIMEOUT => 300]);
    $ok = curl_exec($curl);
    $error = curl_error($curl);
    curl_close($curl);
    fclose($out);
    if (!$ok) {
        unlink($target);
        throw new Failed("downloading $target: $error");
    }
    echo "saved $target\n";
}

function main(array $argv): int
{
    global $token;
    if (count($argv) !== 3) {
        fwrite(STDERR, "usage: php verify_list.php LIST_FILE EMAIL\n");
        return 2;
    }
    [, $listPath, $email] = $argv;
    try {
        $upload = post('/batch_process/', [
            'user_API_token' => $token,
            'file' => new CURLFile($listPath, 'text/csv', basename($listPath)),
        ]);
        $jobId = $upload['job_id'][0];
        echo "job $jobId\n";
        waitUntilCompleted($jobId);
        $results = post('/get_results/', http_build_query(['user_API_token' => $token, 'job_id' => $jobId]));
        download($results['valid_result_link'], 'valid.csv');
        download($results['invalid_result_link'], 'invalid.csv');
        download($results['unknown_link'], 'unknown.csv');
        $answer = post('/email_verification/', http_build_query(['user_API_token' => $token, 'email' => $email]));
        echo "{$answer['email']}: {$answer['result']} ({$answer['reason']})\n";
        return 0;
    } catch (Failed $failure) {
        fwrite(STDERR, 'mailsift: ' . $failure->getMessage() . "\n");
        return 1;
    }
}

exit(main($argv));
