// Verify a list with the mailsift API, in Objective-C with Foundation alone (GNUstep or Apple).
//
//   . /usr/share/GNUstep/Makefiles/GNUstep.sh
//   gcc $(gnustep-config --objc-flags) -o verify_list verify_list.m $(gnustep-config --base-libs)
//   (on macOS: clang -framework Foundation -o verify_list verify_list.m)
//   MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... ./verify_list customers.csv alice@example.com
//
// Uploads the list to /batch_process/, polls /job_progress/ until the job is Completed, asks
// /get_results/ for the three links and saves valid.csv, invalid.csv and unknown.csv in the
// current directory, then verifies one address in real time with /email_verification/.
// A failed answer prints its message and exits with status 1.
//
// The calls use NSURLConnection's synchronous request, which GNUstep and Apple both provide;
// an app with a run loop would use NSURLSession instead.
#import <Foundation/Foundation.h>
#include <stdio.h>
#include <stdlib.h>

static NSString *baseURL;
static NSString *token;

static void fail(NSString *message) {
    fprintf(stderr, "mailsift: %s\n", [message UTF8String]);
    exit(1);
}

// POST a body; the JSON answer, or exit with the message of a failed one.
static NSDictionary *post(NSString *path, NSString *contentType, NSData *body) {
    NSURL *url = [NSURL URLWithString:[baseURL stringByAppendingString:path]];
    NSMutableURLRequest *request = [NSMutableURLRequest requestWithURL:url
                                                           cachePolicy:NSURLRequestReloadIgnoringCacheData
                                                       timeoutInterval:120];
    [request setHTTPMethod:@"POST"];
    [request setValue:contentType forHTTPHeaderField:@"Content-Type"];
    [request setHTTPBody:body];
    NSHTTPURLResponse *response = nil;
    NSError *error = nil;
    NSData *data = [NSURLConnection sendSynchronousRequest:request returningResponse:&response error:&error];
    if (data == nil || [data length] == 0) {
        fail([NSString stringWithFormat:@"no answer from %@: %@", url,
                                        error ? [error localizedDescription] : @"empty body"]);
    }
    id answer = [NSJSONSerialization JSONObjectWithData:data options:0 error:NULL];
    if (![answer isKindOfClass:[NSDictionary class]]) {
        fail([NSString stringWithFormat:@"%@ answered HTTP %ld", path, (long)[response statusCode]]);
    }
    if ([[answer objectForKey:@"status"] isEqual:@"failed"]) fail([answer objectForKey:@"message"]);
    return answer;
}

static NSString *escaped(NSString *value) {
    NSMutableCharacterSet *allowed = [NSMutableCharacterSet alphanumericCharacterSet];
    [allowed addCharactersInString:@"-._~"];
    return [value stringByAddingPercentEncodingWithAllowedCharacters:allowed];
}

// POST user_API_token and one more field, url-encoded.
static NSDictionary *postForm(NSString *path, NSString *name, NSString *value) {
    NSString *form = [NSString stringWithFormat:@"user_API_token=%@&%@=%@", escaped(token), name, escaped(value)];
    return post(path, @"application/x-www-form-urlencoded", [form dataUsingEncoding:NSUTF8StringEncoding]);
}

static NSString *upload(NSString *listPath) {
    NSData *list = [NSData dataWithContentsOfFile:listPath];
    if (list == nil) fail([NSString stringWithFormat:@"cannot read %@", listPath]);
    NSString *boundary = [[NSProcessInfo processInfo] globallyUniqueString];
    NSMutableData *body = [NSMutableData data];
    NSString *head = [NSString stringWithFormat:
        @"--%@\r\nContent-Disposition: form-data; name=\"user_API_token\"\r\n\r\n%@\r\n"
        @"--%@\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%@\"\r\n"
        @"Content-Type: text/csv\r\n\r\n",
        boundary, token, boundary, [listPath lastPathComponent]];
    [body appendData:[head dataUsingEncoding:NSUTF8StringEncoding]];
    [body appendData:list];
    [body appendData:[[NSString stringWithFormat:@"\r\n--%@--\r\n", boundary]
                         dataUsingEncoding:NSUTF8StringEncoding]];
    NSString *type = [@"multipart/form-data; boundary=" stringByAppendingString:boundary];
    return [[post(@"/batch_process/", type, body) objectForKey:@"job_id"] objectAtIndex:0];
}

static void waitUntilCompleted(NSString *jobId, double pollSeconds) {
    for (;;) {
        [NSThread sleepForTimeInterval:pollSeconds];
        NSDictionary *progress = postForm(@"/job_progress/", @"job_id", jobId);
        NSString *stage = [progress objectForKey:@"stage"];
        printf("%s %s%%\n", [stage UTF8String], [[progress objectForKey:@"percentage"] UTF8String]);
        fflush(stdout);
        if ([stage isEqual:@"Completed"]) return;
        if ([stage isEqual:@"Failed"] || [stage isEqual:@"Cancelled"]) {
            fail([progress objectForKey:@"message"]);
        }
    }
}

// Save a result link; links are signed, so no token is needed.
static void download(NSString *link, NSString *target) {
    NSURLRequest *request = [NSURLRequest requestWithURL:[NSURL URLWithString:link]];
    NSHTTPURLResponse *response = nil;
    NSError *error = nil;
    NSData *data = [NSURLConnection sendSynchronousRequest:request returningResponse:&response error:&error];
    if (data == nil || [response statusCode] != 200 || ![data writeToFile:target atomically:YES]) {
        fail([NSString stringWithFormat:@"downloading %@ failed (HTTP %ld)", target, (long)[response statusCode]]);
    }
    printf("saved %s\n", [target UTF8String]);
}

int main(int argc, const char *argv[]) {
    // An explicit pool: gcc's Objective-C has no @autoreleasepool block.
    NSAutoreleasePool *pool = [[NSAutoreleasePool alloc] init];
    if (argc != 3) {
        fprintf(stderr, "usage: verify_list LIST_FILE EMAIL\n");
        return 2;
    }
    NSDictionary *environment = [[NSProcessInfo processInfo] environment];
    baseURL = [environment objectForKey:@"MAILSIFT_URL"] ?: @"http://127.0.0.1:8000";
    while ([baseURL hasSuffix:@"/"]) baseURL = [baseURL substringToIndex:[baseURL length] - 1];
    token = [environment objectForKey:@"MAILSIFT_TOKEN"] ?: @"";
    NSString *poll = [environment objectForKey:@"MAILSIFT_POLL_SECONDS"];
    double pollSeconds = poll ? [poll doubleValue] : 5.0;

    NSString *jobId = upload([NSString stringWithUTF8String:argv[1]]);
    printf("job %s\n", [jobId UTF8String]);
    waitUntilCompleted(jobId, pollSeconds);
    NSDictionary *results = postForm(@"/get_results/", @"job_id", jobId);
    download([results objectForKey:@"valid_result_link"], @"valid.csv");
    download([results objectForKey:@"invalid_result_link"], @"invalid.csv");
    download([results objectForKey:@"unknown_link"], @"unknown.csv");
    NSDictionary *verdict = postForm(@"/email_verification/", @"email", [NSString stringWithUTF8String:argv[2]]);
    printf("%s: %s (%s)\n", [[verdict objectForKey:@"email"] UTF8String],
           [[verdict objectForKey:@"result"] UTF8String], [[verdict objectForKey:@"reason"] UTF8String]);
    [pool drain];
    return 0;
}
