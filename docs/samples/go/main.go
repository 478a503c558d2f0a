// Verify a list with the mailsift API, using Go's standard library.
//
//	MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... go run main.go customers.csv alice@example.com
//
// Uploads the list to /batch_process/, polls /job_progress/ until the job is Completed, asks
// /get_results/ for the three links and saves valid.csv, invalid.csv and unknown.csv in the
// current directory, then verifies one address in real time with /email_verification/.
// A failed answer prints its message and exits with status 1.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

var (
	baseURL     = strings.TrimRight(getenv("MAILSIFT_URL", "http://127.0.0.1:8000"), "/")
	token       = os.Getenv("MAILSIFT_TOKEN")
	client      = &http.Client{Timeout: 2 * time.Minute}
	pollSeconds = 5.0
)

// answer holds the fields of every call's JSON answer that this program reads.
type answer struct {
	Status      string   `json:"status"`
	Message     string   `json:"message"`
	JobID       []string `json:"job_id"`
	Stage       string   `json:"stage"`
	Percentage  string   `json:"percentage"`
	ValidLink   string   `json:"valid_result_link"`
	InvalidLink string   `json:"invalid_result_link"`
	UnknownLink string   `json:"unknown_link"`
	Email       string   `json:"email"`
	Result      string   `json:"result"`
	Reason      string   `json:"reason"`
}

func getenv(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func post(path, contentType string, body io.Reader) (*answer, error) {
	response, err := client.Post(baseURL+path, contentType, body)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", baseURL, err)
	}
	defer response.Body.Close()
	var a answer
	if err := json.NewDecoder(response.Body).Decode(&a); err != nil {
		return nil, fmt.Errorf("%s answered HTTP %d", path, response.StatusCode)
	}
	if a.Status == "failed" {
		return nil, fmt.Errorf("%s", a.Message)
	}
	return &a, nil
}

func postForm(path string, fields url.Values) (*answer, error) {
	fields.Set("user_API_token", token)
	return post(path, "application/x-www-form-urlencoded", strings.NewReader(fields.Encode()))
}

func upload(listPath string) (string, error) {
	file, err := os.Open(listPath)
	if err != nil {
		return "", err
	}
	defer file.Close()
	var body bytes.Buffer
	form := multipart.NewWriter(&body)
	form.WriteField("user_API_token", token)
	part, err := form.CreateFormFile("file", filepath.Base(listPath))
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(part, file); err != nil {
		return "", err
	}
	form.Close()
	a, err := post("/batch_process/", form.FormDataContentType(), &body)
	if err != nil {
		return "", err
	}
	return a.JobID[0], nil
}

func waitUntilCompleted(jobID string) error {
	for {
		time.Sleep(time.Duration(pollSeconds * float64(time.Second)))
		progress, err := postForm("/job_progress/", url.Values{"job_id": {jobID}})
		if err != nil {
			return err
		}
		fmt.Printf("%s %s%%\n", progress.Stage, progress.Percentage)
		switch progress.Stage {
		case "Completed":
			return nil
		case "Failed", "Cancelled":
			return fmt.Errorf("%s", progress.Message)
		}
	}
}

// download saves a result link; links are signed, so no token is needed.
func download(link, target string) error {
	response, err := client.Get(link)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s: HTTP %d", target, response.StatusCode)
	}
	out, err := os.Create(target)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, response.Body); err != nil {
		out.Close()
		return err
	}
	fmt.Printf("saved %s\n", target)
	return out.Close()
}

func run(listPath, email string) error {
	jobID, err := upload(listPath)
	if err != nil {
		return err
	}
	fmt.Printf("job %s\n", jobID)
	if err := waitUntilCompleted(jobID); err != nil {
		return err
	}
	results, err := postForm("/get_results/", url.Values{"job_id": {jobID}})
	if err != nil {
		return err
	}
	for target, link := range map[string]string{
		"valid.csv": results.ValidLink, "invalid.csv": results.InvalidLink, "unknown.csv": results.UnknownLink,
	} {
		if err := download(link, target); err != nil {
			return err
		}
	}
	verdict, err := postForm("/email_verification/", url.Values{"email": {email}})
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s (%s)\n", verdict.Email, verdict.Result, verdict.Reason)
	return nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: verify_list LIST_FILE EMAIL")
		os.Exit(2)
	}
	if seconds, err := strconv.ParseFloat(os.Getenv("MAILSIFT_POLL_SECONDS"), 64); err == nil {
		pollSeconds = seconds
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "mailsift: %v\n", err)
		os.Exit(1)
	}
}
