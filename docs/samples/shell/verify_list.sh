#!/bin/sh
# Verify a list with the mailsift API from a plain POSIX shell (dash, BusyBox ash): curl for
# the calls and sed to read the flat JSON answers, for small images and servers that have
# neither bash nor jq. (wget is not enough: it drops the body of a 401 answer, and with it the
# server's message.) See ../curl/ for the same calls with bash and jq.
#
#   MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... sh verify_list.sh customers.csv alice@example.com
#
# Uploads the list to /batch_process/, polls /job_progress/ until the job is Completed, asks
# /get_results/ for the three links and saves valid.csv, invalid.csv and unknown.csv in the
# current directory, then verifies one address in real time with /email_verification/.
# A failed answer prints its message and exits with status 1.
set -eu

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

fail() {
  echo "mailsift: $*" >&2
  exit 1
}

# field KEY JSON: the string value of KEY in a flat JSON answer (the first one, for a list).
# Enough for mailsift's answers; a value holding an escaped quote would be cut short.
field() {
  printf '%s' "$2" | sed -n 's/.*"'"$1"'":[[:space:]]*\[\{0,1\}[[:space:]]*"\([^"]*\)".*/\1/p'
}

# call PATH CURL-ARGS...: POST, print the answer; a failed one prints its message, status 1.
# Use it as  answer="$(call ...)" || exit 1  (a function in $(...) cannot end the script).
call() {
  path="$1"
  shift
  answer="$(curl --silent --show-error --max-time 120 "$@" "$url$path")" \
    || fail "cannot reach $url"
  status="$(field status "$answer")"
  [ -n "$status" ] || fail "$path did not answer JSON"
  [ "$status" != failed ] || fail "$(field message "$answer")"
  printf '%s\n' "$answer"
}

# --form-string sends a value as is, never as @file or <file (multipart/form-data).
answer="$(call /batch_process/ --form-string "user_API_token=$token" \
  -F "file=@$list_file;type=text/csv")" || exit 1
job_id="$(field job_id "$answer")"
echo "job $job_id"

while :; do
  sleep "$poll_seconds"
  progress="$(call /job_progress/ --form-string "user_API_token=$token" \
    --form-string "job_id=$job_id")" || exit 1
  stage="$(field stage "$progress")"
  echo "$stage $(field percentage "$progress")%"
  case "$stage" in
    Completed) break ;;
    Failed | Cancelled) fail "$(field message "$progress")" ;;
  esac
done

results="$(call /get_results/ --form-string "user_API_token=$token" \
  --form-string "job_id=$job_id")" || exit 1
# Result links are signed: no token needed.
for pair in valid:valid_result_link invalid:invalid_result_link unknown:unknown_link; do
  name="${pair%%:*}"
  curl --silent --show-error --fail --output "$name.csv" "$(field "${pair#*:}" "$results")" \
    || fail "downloading $name.csv failed"
  echo "saved $name.csv"
done

verdict="$(call /email_verification/ --form-string "user_API_token=$token" \
  --form-string "email=$email")" || exit 1
echo "$(field email "$verdict"): $(field result "$verdict") ($(field reason "$verdict"))"
