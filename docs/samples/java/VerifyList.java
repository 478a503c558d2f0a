// Verify a list with the mailsift API, using Java 11+'s standard library (java.net.http).
//
//   javac VerifyList.java
//   MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... java VerifyList customers.csv alice@example.com
//
// Uploads the list to /batch_process/, polls /job_progress/ until the job is Completed, asks
// /get_results/ for the three links and saves valid.csv, invalid.csv and unknown.csv in the
// current directory, then verifies one address in real time with /email_verification/.
// A failed answer prints its message and exits with status 1.
//
// Java has no JSON parser of its own; jsonString() reads one string field of the flat answers,
// which is all this program needs. A larger program would use Jackson or Gson.

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

public final class VerifyList {
    private static final String BASE_URL =
            System.getenv().getOrDefault("MAILSIFT_URL", "http://127.0.0.1:8000").replaceAll("/+$", "");
    private static final String TOKEN = System.getenv().getOrDefault("MAILSIFT_TOKEN", "");
    private static final double POLL_SECONDS =
            Double.parseDouble(System.getenv().getOrDefault("MAILSIFT_POLL_SECONDS", "5"));
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build();

    /** The server answered with a failed status (or not at all). */
    static final class Failed extends Exception {
        private static final long serialVersionUID = 1L;

        Failed(String message) {
            super(message);
        }
    }

    private VerifyList() {}

    /** The string value of {@code key} in a flat JSON object (the first one of a list), or null. */
    static String jsonString(String json, String key) {
        Matcher m = Pattern.compile("\"" + Pattern.quote(key) + "\"\\s*:\\s*\\[?\\s*\"((?:[^\"\\\\]|\\\\.)*)\"")
                .matcher(json);
        if (!m.find()) {
            return null;
        }
        String raw = m.group(1);
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c != '\\') {
                out.append(c);
                continue;
            }
            char e = raw.charAt(++i);
            switch (e) {
                case 'n': out.append('\n'); break;
                case 't': out.append('\t'); break;
                case 'r': out.append('\r'); break;
                case 'b': out.append('\b'); break;
                case 'f': out.append('\f'); break;
                case 'u': out.append((char) Integer.parseInt(raw.substring(i + 1, i + 5), 16)); i += 4; break;
                default: out.append(e); // \" \\ \/
            }
        }
        return out.toString();
    }

    static String post(String path, String contentType, byte[] body) throws Failed, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create(BASE_URL + path))
                .timeout(Duration.ofMinutes(2))
                .header("Content-Type", contentType)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        HttpResponse<String> response;
        try {
            response = HTTP.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new Failed("cannot reach " + BASE_URL + ": " + e);
        }
        String status = jsonString(response.body(), "status");
        if (status == null) {
            throw new Failed(path + " answered HTTP " + response.statusCode());
        }
        if (status.equals("failed")) {
            throw new Failed(jsonString(response.body(), "message"));
        }
        return response.body();
    }

    static String postForm(String path, Map<String, String> fields) throws Failed, InterruptedException {
        String body = fields.entrySet().stream()
                .map(f -> URLEncoder.encode(f.getKey(), StandardCharsets.UTF_8) + "="
                        + URLEncoder.encode(f.getValue(), StandardCharsets.UTF_8))
                .collect(Collectors.joining("&"));
        return post(path, "application/x-www-form-urlencoded", body.getBytes(StandardCharsets.UTF_8));
    }

    static String upload(Path list) throws Failed, InterruptedException, IOException {
        String boundary = UUID.randomUUID().toString();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"user_API_token\"\r\n\r\n"
                + TOKEN + "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
                + list.getFileName() + "\"\r\nContent-Type: text/csv\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.write(Files.readAllBytes(list));
        body.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        String answer = post("/batch_process/", "multipart/form-data; boundary=" + boundary, body.toByteArray());
        return jsonString(answer, "job_id");
    }

    static void waitUntilCompleted(String jobId) throws Failed, InterruptedException {
        while (true) {
            Thread.sleep((long) (POLL_SECONDS * 1000));
            String progress = postForm("/job_progress/", Map.of("user_API_token", TOKEN, "job_id", jobId));
            String stage = jsonString(progress, "stage");
            System.out.println(stage + " " + jsonString(progress, "percentage") + "%");
            if (stage.equals("Completed")) {
                return;
            }
            if (stage.equals("Failed") || stage.equals("Cancelled")) {
                throw new Failed(jsonString(progress, "message"));
            }
        }
    }

    /** Save a result link; links are signed, so no token is needed. */
    static void download(String link, String target) throws Failed, InterruptedException, IOException {
        HttpRequest request = HttpRequest.newBuilder(URI.create(link)).timeout(Duration.ofMinutes(5)).build();
        Path path = Path.of(target);
        HttpResponse<Path> response = HTTP.send(request, HttpResponse.BodyHandlers.ofFile(path));
        if (response.statusCode() != 200) {
            Files.deleteIfExists(path);
            throw new Failed("downloading " + target + ": HTTP " + response.statusCode());
        }
        System.out.println("saved " + target);
    }

    public static void main(String[] args) throws InterruptedException, IOException {
        if (args.length != 2) {
            System.err.println("usage: java VerifyList LIST_FILE EMAIL");
            System.exit(2);
        }
        try {
            String jobId = upload(Path.of(args[0]));
            System.out.println("job " + jobId);
            waitUntilCompleted(jobId);
            String results = postForm("/get_results/", Map.of("user_API_token", TOKEN, "job_id", jobId));
            download(jsonString(results, "valid_result_link"), "valid.csv");
            download(jsonString(results, "invalid_result_link"), "invalid.csv");
            download(jsonString(results, "unknown_link"), "unknown.csv");
            String verdict = postForm("/email_verification/", Map.of("user_API_token", TOKEN, "email", args[1]));
            System.out.println(jsonString(verdict, "email") + ": " + jsonString(verdict, "result")
                    + " (" + jsonString(verdict, "reason") + ")");
        } catch (Failed failure) {
            System.err.println("mailsift: " + failure.getMessage());
            System.exit(1);
        }
    }
}
