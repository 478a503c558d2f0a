#!/usr/bin/env bash
# Verify a list with the mailsift API from the command line: curl for the calls, jq to read
# the JSON answers.
#
#   MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... bash verify_list.sh customers.csv alice@example.com
#
# Uploads the list to /batch_process/, polls /job_progress/ until the job is Completed, asks
# /get_results/ for the three links and saves valid.csv, invalid.csv and unknown.csv in the
# current directory, then verifies one address in real time with /email_verification/.
# A failed answer prints its message and exits with status 1.
set -euo pipefail

url="${MAILSIFT_URL:-http://127.0.0.1:8000}"
url="${url%/}"
token="${MAILSIFT_TOKEN:-}"
poll_seconds="${MAILSIFT_POLL_SECONDS:-5}"

if [ $# -ne 2 ]; then
  echo "usage: verify_list.sh LIST_FILE EMAIL" >&2
  exit 2
fi
list_file="$1"
email="$2"

# call PATH CURL-ARGS...: POST, print the JSON answer; on a failed one print its message and exit 1.
call() {
  local path="$1" answer
  shift
  if ! answer="$(curl --silent --show-error --max-time 120 -X POST "$url$path" "$@")"; then
    echo "mailsift: cannot reach $url" >&2
    exit 1
  fi
  if ! jq -e 'type == "object"' <<<"$answer" >/dev/null 2>&1; then
    echo "mailsift: $path did not answer JSON" >&2
    exit 1
  fi
  if [ "$(jq -r '.status' <<<"$answer")" = failed ]; then
    echo "mailsift: $(jq -r '.message' <<<"$answer")" >&2
    exit 1
  fi
  printf '%s\n' "$answer"
}

# -F sends multipart/form-data (the file); -d / --data-urlencode send a url-encoded form.
job_id="$(call /batch_process/ -F "user_API_token=$token" -F "file=@$list_file;type=text/csv" \
  | jq -r '.job_id[0]')"
echo "job $job_id"

while :; do
  sleep "$poll_seconds"
  progress="$(call /job_progress/ --data-urlencode "user_API_token=$token" -d "job_id=$job_id")"
  stage="$(jq -r '.stage' <<<"$progress")"
  echo "$stage $(jq -r '.percentage' <<<"$progress")%"
  case "$stage" in
    Completed) break ;;
    Failed | Cancelled)
      echo "mailsift: $(jq -r '.message // "the job did not complete"' <<<"$progress")" >&2
      exit 1
      ;;
  esac
done

results="$(call /get_results/ --data-urlencode "user_API_token=$token" -d "job_id=$job_id")"
# Result links are signed: no token needed.
for pair in valid:valid_result_link invalid:invalid_result_link unknown:unknown_link; do
  name="${pair%%:*}"
  curl --silent --show-error --fail --output "$name.csv" "$(jq -r ".${pair#*:}" <<<"$results")"
  echo "saved $name.csv"
done

verdict="$(call /email_verification/ --data-urlencode "user_API_token=$token" \
  --data-urlencode "email=$email")"
jq -r '"\(.email): \(.result) (\(.reason))"' <<<"$verdict"
