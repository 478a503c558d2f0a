// Verify a list with the mailsift API from a web page, with the browser's fetch.
//
// Uploads the chosen list to /batch_process/, polls /job_progress/ until the job is Completed,
// asks /get_results/ for the three links and fetches them, offering valid.csv, invalid.csv and
// unknown.csv as downloads, then verifies one address in real time with /email_verification/.
// A failed answer shows its message. The page's <body data-state> says where it is:
// running, done or failed.
//
// The API must allow the page's origin: start mailsift with MAILSIFT_CORS_ORIGINS set to it
// (e.g. MAILSIFT_CORS_ORIGINS=https://tools.example.com), or serve the page from the same
// origin as the API (one reverse proxy in front of both).
"use strict";

class Failed extends Error {}

const $ = (id) => document.getElementById(id);
const log = (line) => { $("log").textContent += line + "\n"; };
const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

async function post(baseUrl, path, body) {
  let response;
  try {
    response = await fetch(baseUrl + path, { method: "POST", body });
  } catch (error) {
    // The browser tells a blocked cross-origin call and a server that is down apart only in
    // its console: the page sees a TypeError either way.
    throw new Failed(`cannot reach ${baseUrl} (is this page's origin in MAILSIFT_CORS_ORIGINS?)`);
  }
  let answer;
  try {
    answer = await response.json();
  } catch {
    throw new Failed(`${path} answered HTTP ${response.status}`);
  }
  if (answer.status === "failed") throw new Failed(answer.message);
  return answer;
}

async function verifyList({ baseUrl, token, file, email, pollSeconds }) {
  const upload = new FormData(); // multipart/form-data
  upload.append("user_API_token", token);
  upload.append("file", file, file.name);
  const jobId = (await post(baseUrl, "/batch_process/", upload)).job_id[0];
  log(`job ${jobId}`);

  // URLSearchParams is sent as application/x-www-form-urlencoded.
  const job = new URLSearchParams({ user_API_token: token, job_id: jobId });
  for (;;) {
    await sleep(pollSeconds);
    const progress = await post(baseUrl, "/job_progress/", job);
    log(`${progress.stage} ${progress.percentage}%`);
    if (progress.stage === "Completed") break;
    if (progress.stage === "Failed" || progress.stage === "Cancelled") {
      throw new Failed(progress.message ?? `the job was ${progress.stage}`);
    }
  }

  const results = await post(baseUrl, "/get_results/", job);
  const files = { valid: results.valid_result_link, invalid: results.invalid_result_link,
                  unknown: results.unknown_link };
  for (const [name, link] of Object.entries(files)) {
    const response = await fetch(link); // signed: no token needed
    if (!response.ok) throw new Failed(`downloading ${name}.csv: HTTP ${response.status}`);
    const anchor = document.createElement("a");
    anchor.href = URL.createObjectURL(await response.blob());
    anchor.download = `${name}.csv`;
    anchor.id = `download-${name}`;
    anchor.textContent = `${name}.csv `;
    $("downloads").append(anchor);
    log(`saved ${name}.csv`);
  }

  const verdict = await post(baseUrl, "/email_verification/",
                             new URLSearchParams({ user_API_token: token, email }));
  log(`${verdict.email}: ${verdict.result} (${verdict.reason})`);
}

$("verify").addEventListener("submit", async (event) => {
  event.preventDefault();
  document.body.dataset.state = "running";
  $("error").textContent = "";
  $("log").textContent = "";
  $("downloads").replaceChildren();
  try {
    await verifyList({
      baseUrl: $("url").value.replace(/\/+$/, ""),
      token: $("token").value,
      file: $("file").files[0],
      email: $("email").value,
      pollSeconds: Number($("poll").value) || 5,
    });
    document.body.dataset.state = "done";
  } catch (error) {
    $("error").textContent = `mailsift: ${error.message}`;
    document.body.dataset.state = "failed";
  }
});
