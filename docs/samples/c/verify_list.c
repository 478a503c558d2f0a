/* Verify a list with the mailsift API, in C with libcurl.
 *
 *   cc -o verify_list verify_list.c -lcurl
 *   MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... ./verify_list customers.csv alice@example.com
 *
 * Uploads the list to /batch_process/, polls /job_progress/ until the job is Completed, asks
 * /get_results/ for the three links and saves valid.csv, invalid.csv and unknown.csv in the
 * current directory, then verifies one address in real time with /email_verification/.
 * A failed answer prints its message and exits with status 1.
 *
 * The answers are flat JSON objects; json_string() below reads one string field, which is all
 * this program needs. A larger program would use a JSON library (cJSON, jansson).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *base_url;
static const char *token;
static double poll_seconds = 5;

struct buffer {
    char *data;
    size_t size;
};

static size_t collect(char *chunk, size_t size, size_t count, void *user) {
    struct buffer *buffer = user;
    size_t n = size * count;
    char *grown = realloc(buffer->data, buffer->size + n + 1);
    if (grown == NULL) return 0;
    buffer->data = grown;
    memcpy(buffer->data + buffer->size, chunk, n);
    buffer->size += n;
    buffer->data[buffer->size] = '\0';
    return n;
}

static void fail(const char *message) {
    fprintf(stderr, "mailsift: %s\n", message);
    exit(1);
}

/* Append the UTF-8 encoding of code point cp to out. */
static size_t put_utf8(char *out, unsigned long cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

/* The string value of "key" in a flat JSON object, unescaped (malloc'd), or NULL. */
static char *json_string(const char *json, const char *key) {
    size_t key_len = strlen(key);
    for (const char *p = strchr(json, '"'); p != NULL; p = strchr(p + 1, '"')) {
        if (strncmp(p + 1, key, key_len) != 0 || p[key_len + 1] != '"') continue;
        const char *v = p + key_len + 2;
        while (*v == ' ' || *v == ':') v++;
        if (*v == '[') v++;  /* job_id is a list of strings: its first one */
        if (*v != '"') return NULL;
        char *out = malloc(strlen(v) + 1), *o = out;
        for (v++; *v && *v != '"'; v++) {
            if (*v != '\\') { *o++ = *v; continue; }
            switch (*++v) {
            case 'n': *o++ = '\n'; break;
            case 't': *o++ = '\t'; break;
            case 'r': *o++ = '\r'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'u': {
                unsigned long cp = strtoul((char[5]){v[1], v[2], v[3], v[4], 0}, NULL, 16);
                v += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && v[1] == '\\' && v[2] == 'u') { /* surrogate pair */
                    unsigned long low = strtoul((char[5]){v[3], v[4], v[5], v[6], 0}, NULL, 16);
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    v += 6;
                }
                o += put_utf8(o, cp);
                break;
            }
            default: *o++ = *v; /* \" \\ \/ */
            }
        }
        *o = '\0';
        return out;
    }
    return NULL;
}

/* POST a form (url-encoded string, or a multipart mime); the answer, or exit on a failed one. */
static char *post(const char *path, const char *fields, curl_mime *mime) {
    char url[2048];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    struct buffer answer = {calloc(1, 1), 0};
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    if (mime != NULL) curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    else curl_easy_setopt(curl, CURLOPT_POSTFIELDS, fields);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    char message[2300];
    if (code != CURLE_OK) {
        snprintf(message, sizeof message, "cannot reach %s: %s", base_url, curl_easy_strerror(code));
        fail(message);
    }
    char *outcome = json_string(answer.data, "status");
    if (outcome == NULL) {
        snprintf(message, sizeof message, "%s answered HTTP %ld", path, status);
        fail(message);
    }
    if (strcmp(outcome, "failed") == 0) {
        char *reason = json_string(answer.data, "message");
        fail(reason ? reason : "failed");
    }
    free(outcome);
    return answer.data;
}

/* POST user_API_token plus one more field, url-encoded. */
static char *post_form(const char *path, const char *name, const char *value) {
    char *escaped_token = curl_easy_escape(NULL, token, 0);
    char *escaped_value = curl_easy_escape(NULL, value, 0);
    size_t size = strlen(escaped_token) + strlen(name) + strlen(escaped_value) + 32;
    char *fields = malloc(size);
    snprintf(fields, size, "user_API_token=%s&%s=%s", escaped_token, name, escaped_value);
    char *answer = post(path, fields, NULL);
    curl_free(escaped_token);
    curl_free(escaped_value);
    free(fields);
    return answer;
}

static char *upload(const char *list_path) {
    CURL *curl = curl_easy_init(); /* a handle to build the mime on */
    curl_mime *mime = curl_mime_init(curl);
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_name(part, "user_API_token");
    curl_mime_data(part, token, CURL_ZERO_TERMINATED);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "file");
    if (curl_mime_filedata(part, list_path) != CURLE_OK) fail("cannot read the list file");
    curl_mime_type(part, "text/csv");
    char *answer = post("/batch_process/", NULL, mime);
    curl_mime_free(mime);
    curl_easy_cleanup(curl);
    char *job_id = json_string(answer, "job_id");
    free(answer);
    return job_id;
}

static void wait_until_completed(const char *job_id) {
    for (;;) {
        usleep((useconds_t)(poll_seconds * 1e6));
        char *answer = post_form("/job_progress/", "job_id", job_id);
        char *stage = json_string(answer, "stage");
        char *percentage = json_string(answer, "percentage");
        printf("%s %s%%\n", stage, percentage);
        fflush(stdout);
        if (strcmp(stage, "Failed") == 0 || strcmp(stage, "Cancelled") == 0) {
            char *message = json_string(answer, "message");
            fail(message ? message : "the job did not complete");
        }
        int completed = strcmp(stage, "Completed") == 0;
        free(stage);
        free(percentage);
        free(answer);
        if (completed) return;
    }
}

/* Save a result link; links are signed, so no token is needed. */
static void download(const char *link, const char *target) {
    FILE *out = fopen(target, "wb");
    if (out == NULL) fail("cannot write the result file");
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, link);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out); /* the default writer fwrite()s */
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    CURLcode code = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    fclose(out);
    if (code != CURLE_OK) {
        remove(target);
        fail(curl_easy_strerror(code));
    }
    printf("saved %s\n", target);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIST_FILE EMAIL\n", argv[0]);
        return 2;
    }
    static char url[1024];
    snprintf(url, sizeof url, "%s", getenv("MAILSIFT_URL") ? getenv("MAILSIFT_URL") : "http://127.0.0.1:8000");
    for (size_t n = strlen(url); n > 0 && url[n - 1] == '/'; n--) url[n - 1] = '\0';
    base_url = url;
    token = getenv("MAILSIFT_TOKEN") ? getenv("MAILSIFT_TOKEN") : "";
    if (getenv("MAILSIFT_POLL_SECONDS")) poll_seconds = atof(getenv("MAILSIFT_POLL_SECONDS"));
    curl_global_init(CURL_GLOBAL_DEFAULT);

    char *job_id = upload(argv[1]);
    printf("job %s\n", job_id);
    wait_until_completed(job_id);
    char *results = post_form("/get_results/", "job_id", job_id);
    const char *files[][2] = {{"valid_result_link", "valid.csv"},
                              {"invalid_result_link", "invalid.csv"},
                              {"unknown_link", "unknown.csv"}};
    for (int i = 0; i < 3; i++) {
        char *link = json_string(results, files[i][0]);
        download(link, files[i][1]);
        free(link);
    }
    char *verdict = post_form("/email_verification/", "email", argv[2]);
    char *email = json_string(verdict, "email"), *result = json_string(verdict, "result");
    char *reason = json_string(verdict, "reason");
    printf("%s: %s (%s)\n", email, result, reason);
    curl_global_cleanup();
    return 0;
}
