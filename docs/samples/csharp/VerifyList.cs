// Verify a list with the mailsift API, in C# with the .NET base library (HttpClient and
// DataContractJsonSerializer), as Mono and .NET both provide.
//
//   mcs -r:System.Net.Http.dll -r:System.Runtime.Serialization.dll VerifyList.cs
//   MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... mono VerifyList.exe customers.csv alice@example.com
//
// Uploads the list to /batch_process/, polls /job_progress/ until the job is Completed, asks
// /get_results/ for the three links and saves valid.csv, invalid.csv and unknown.csv in the
// current directory, then verifies one address in real time with /email_verification/.
// A failed answer prints its message and exits with status 1.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Http;
using System.Runtime.Serialization;
using System.Runtime.Serialization.Json;
using System.Threading;

// The fields of every call's JSON answer that this program reads.
[DataContract]
public class Answer
{
    [DataMember(Name = "status")] public string Status;
    [DataMember(Name = "message")] public string Message;
    [DataMember(Name = "job_id")] public string[] JobId;
    [DataMember(Name = "stage")] public string Stage;
    [DataMember(Name = "percentage")] public string Percentage;
    [DataMember(Name = "valid_result_link")] public string ValidLink;
    [DataMember(Name = "invalid_result_link")] public string InvalidLink;
    [DataMember(Name = "unknown_link")] public string UnknownLink;
    [DataMember(Name = "email")] public string Email;
    [DataMember(Name = "result")] public string Result;
    [DataMember(Name = "reason")] public string Reason;
}

public class FailedException : Exception
{
    public FailedException(string message) : base(message) { }
}

public static class VerifyList
{
    static readonly string BaseUrl =
        (Environment.GetEnvironmentVariable("MAILSIFT_URL") ?? "http://127.0.0.1:8000").TrimEnd('/');
    static readonly string Token = Environment.GetEnvironmentVariable("MAILSIFT_TOKEN") ?? "";
    static readonly double PollSeconds =
        double.Parse(Environment.GetEnvironmentVariable("MAILSIFT_POLL_SECONDS") ?? "5",
                     System.Globalization.CultureInfo.InvariantCulture);
    static readonly HttpClient Http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };

    static Answer Post(string path, HttpContent body)
    {
        HttpResponseMessage response;
        try
        {
            response = Http.PostAsync(BaseUrl + path, body).Result;
        }
        catch (AggregateException error)
        {
            throw new FailedException("cannot reach " + BaseUrl + ": " + error.InnerException.Message);
        }
        Answer answer;
        try
        {
            var serializer = new DataContractJsonSerializer(typeof(Answer));
            answer = (Answer)serializer.ReadObject(response.Content.ReadAsStreamAsync().Result);
        }
        catch (SerializationException)
        {
            throw new FailedException(path + " answered HTTP " + (int)response.StatusCode);
        }
        if (answer.Status == "failed") throw new FailedException(answer.Message);
        return answer;
    }

    static Answer PostForm(string path, string name, string value)
    {
        var fields = new Dictionary<string, string> { { "user_API_token", Token }, { name, value } };
        return Post(path, new FormUrlEncodedContent(fields));
    }

    static string Upload(string listPath)
    {
        var form = new MultipartFormDataContent();
        form.Add(new StringContent(Token), "user_API_token");
        var file = new ByteArrayContent(File.ReadAllBytes(listPath));
        file.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/csv");
        form.Add(file, "file", Path.GetFileName(listPath));
        return Post("/batch_process/", form).JobId[0];
    }

    static void WaitUntilCompleted(string jobId)
    {
        while (true)
        {
            Thread.Sleep(TimeSpan.FromSeconds(PollSeconds));
            var progress = PostForm("/job_progress/", "job_id", jobId);
            Console.WriteLine(progress.Stage + " " + progress.Percentage + "%");
            if (progress.Stage == "Completed") return;
            if (progress.Stage == "Failed" || progress.Stage == "Cancelled")
                throw new FailedException(progress.Message);
        }
    }

    // Result links are signed: no token needed.
    static void Download(string link, string target)
    {
        var response = Http.GetAsync(link).Result;
        if (!response.IsSuccessStatusCode)
            throw new FailedException("downloading " + target + ": HTTP " + (int)response.StatusCode);
        using (var output = File.Create(target))
        {
            response.Content.ReadAsStreamAsync().Result.CopyTo(output);
        }
        Console.WriteLine("saved " + target);
    }

    public static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: mono VerifyList.exe LIST_FILE EMAIL");
            return 2;
        }
        try
        {
            var jobId = Upload(args[0]);
            Console.WriteLine("job " + jobId);
            WaitUntilCompleted(jobId);
            var results = PostForm("/get_results/", "job_id", jobId);
            Download(results.ValidLink, "valid.csv");
            Download(results.InvalidLink, "invalid.csv");
            Download(results.UnknownLink, "unknown.csv");
            var verdict = PostForm("/email_verification/", "email", args[1]);
            Console.WriteLine(verdict.Email + ": " + verdict.Result + " (" + verdict.Reason + ")");
            return 0;
        }
        catch (FailedException failure)
        {
            Console.Error.WriteLine("mailsift: " + failure.Message);
            return 1;
        }
    }
}
