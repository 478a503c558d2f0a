// Verify a list with the mailsift API from Node.js 18+ (global fetch, FormData and Blob).
//
//   MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... node verify_list.mjs customers.csv alice@example.com
//
// Uploads the list to /batch_process/, polls /job_progress/ until the job is Completed, asks
// /get_results/ for the three links and saves valid.csv, invalid.csv and unknown.csv in the
// current directory, then verifies one address in real time with /email_verification/.
// A failed answer prints its message and exits with status 1.
import { readFile, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const baseUrl = (process.env.MAILSIFT_URL ?? "http://127.0.0.1:8000").replace(/\/+$/, "");
const token = process.env.MAILSIFT_TOKEN ?? "";
const pollSeconds = Number(process.env.MAILSIFT_POLL_SECONDS ?? "5");

class Failed extends Error {}

async function post(path, body) {
  let response;
  try {
    response = await fetch(baseUrl + path, { method: "POST", body });
  } catch (error) {
    throw new Failed(`cannot reach ${baseUrl}: ${error.cause?.message ?? error.message}`);
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

// URLSearchParams is sent as application/x-www-form-urlencoded.
const form = (fields) => new URLSearchParams({ user_API_token: token, ...fields });

async function upload(listPath) {
  const body = new FormData(); // multipart/form-data
  body.append("user_API_token", token);
  body.append("file", new Blob([await readFile(listPath)], { type: "text/csv" }), basename(listPath));
  const answer = await post("/batch_process/", body);
  return answer.job_id[0];
}

async function waitUntilCompleted(jobId) {
  for (;;) {
    await sleep(pollSeconds * 1000);
    const progress = await post("/job_progress/", form({ job_id: jobId }));
    console.log(`${progress.stage} ${progress.percentage}%`);
    if (progress.stage === "Completed") return;
    if (progress.stage === "Failed" || progress.stage === "Cancelled") {
      throw new Failed(progress.message ?? `the job was ${progress.stage}`);
    }
  }
}

// Result links are signed: no token needed.
async function download(url, target) {
  const response = await fetch(url);
  if (!response.ok) throw new Failed(`downloading ${target}: HTTP ${response.status}`);
  await writeFile(target, Buffer.from(await response.arrayBuffer()));
  console.log(`saved ${target}`);
}

async function main() {
  const [listPath, email] = process.argv.slice(2);
  if (!listPath || !email) {
    console.error("usage: node verify_list.mjs LIST_FILE EMAIL");
    return 2;
  }
  try {
    const jobId = await upload(listPath);
    console.log(`job ${jobId}`);
    await waitUntilCompleted(jobId);
    const results = await post("/get_results/", form({ job_id: jobId }));
    await download(results.valid_result_link, "valid.csv");
    await download(results.invalid_result_link, "invalid.csv");
    await download(results.unknown_link, "unknown.csv");
    const answer = await post("/email_verification/", form({ email }));
    console.log(`${answer.email}: ${answer.result} (${answer.reason})`);
    return 0;
  } catch (error) {
    if (!(error instanceof Failed)) throw error;
    console.error(`mailsift: ${error.message}`);
    return 1;
  }
}

process.exitCode = await main();
