#!/usr/bin/env ruby
# Verify a list with the mailsift API, using Ruby's standard library (net/http, json).
#
#   MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... ruby verify_list.rb customers.csv alice@example.com
#
# Uploads the list to /batch_process/, polls /job_progress/ until the job is Completed, asks
# /get_results/ for the three links and saves valid.csv, invalid.csv and unknown.csv in the
# current directory, then verifies one address in real time with /email_verification/.
# A failed answer prints its message and exits with status 1.
require "json"
require "net/http"
require "uri"

BASE_URL = ENV.fetch("MAILSIFT_URL", "http://127.0.0.1:8000").sub(%r{/+\z}, "")
TOKEN = ENV.fetch("MAILSIFT_TOKEN", "")
POLL_SECONDS = Float(ENV.fetch("MAILSIFT_POLL_SECONDS", "5"))

class Failed < StandardError; end

# POST form fields (multipart when one of them is a file); the JSON answer.
def post(path, fields, multipart: false)
  uri = URI(BASE_URL + path)
  request = Net::HTTP::Post.new(uri)
  request.set_form(fields, multipart ? "multipart/form-data" : "application/x-www-form-urlencoded")
  response = Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == "https",
                                                 read_timeout: 120) { |http| http.request(request) }
  begin
    answer = JSON.parse(response.body)
  rescue JSON::ParserError
    raise Failed, "#{path} answered HTTP #{response.code}"
  end
  raise Failed, answer["message"] if answer["status"] == "failed"
  answer
rescue SystemCallError, SocketError, Timeout::Error => e
  raise Failed, "cannot reach #{BASE_URL}: #{e.message}"
end

def upload(list_path)
  File.open(list_path, "rb") do |file|
    fields = [["user_API_token", TOKEN], ["file", file, { filename: File.basename(list_path),
                                                          content_type: "text/csv" }]]
    post("/batch_process/", fields, multipart: true)["job_id"].first
  end
end

def wait_until_completed(job_id)
  loop do
    sleep POLL_SECONDS
    progress = post("/job_progress/", { "user_API_token" => TOKEN, "job_id" => job_id })
    puts "#{progress["stage"]} #{progress["percentage"]}%"
    return if progress["stage"] == "Completed"
    if %w[Failed Cancelled].include?(progress["stage"])
      raise Failed, progress.fetch("message", "the job was #{progress["stage"]}")
    end
  end
end

# Result links are signed: no token needed.
def download(url, target)
  uri = URI(url)
  Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == "https") do |http|
    http.request(Net::HTTP::Get.new(uri)) do |response|
      raise Failed, "downloading #{target}: HTTP #{response.code}" unless response.is_a?(Net::HTTPSuccess)
      File.open(target, "wb") { |out| response.read_body { |chunk| out.write(chunk) } }
    end
  end
  puts "saved #{target}"
end

def main
  if ARGV.length != 2
    warn "usage: ruby verify_list.rb LIST_FILE EMAIL"
    return 2
  end
  list_path, email = ARGV
  job_id = upload(list_path)
  puts "job #{job_id}"
  wait_until_completed(job_id)
  results = post("/get_results/", { "user_API_token" => TOKEN, "job_id" => job_id })
  download(results["valid_result_link"], "valid.csv")
  download(results["invalid_result_link"], "invalid.csv")
  download(results["unknown_link"], "unknown.csv")
  answer = post("/email_verification/", { "user_API_token" => TOKEN, "email" => email })
  puts "#{answer["email"]}: #{answer["result"]} (#{answer["reason"]})"
  0
rescue Failed => e
  warn "mailsift: #{e.message}"
  1
end

$stdout.sync = true
exit main
