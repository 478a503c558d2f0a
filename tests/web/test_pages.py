"""The dashboard's pages over HTTP, without a browser: every form posts normally."""

from __future__ import annotations

import csv
import io
import re
import time

import httpx

from mailsift.accounts.service import grant_credits
from mailsift.store import Store
from tests.api.conftest import FakeEngine, ServerFactory
from tests.web.conftest import Harness, Owner, csrf_of, dashboard_owner, signed_in

LIST = (
    "id,name,Email Address,notes\n"
    "1,Ann,ok.ann@example.com,first\n"
    "2,Bob,bad.bob@example.com,second\n"
    "3,Cat,catch.cat@example.com,=SUM(A1)\n"
    "4,Dan,ok.ann@example.com,duplicate\n"
    "5,Eve,not-an-address,malformed\n"
    "6,Fay,mystery@example.com,unknown\n"
)


def upload(
    client: httpx.Client, files: list[tuple[str, bytes]], pasted: str = ""
) -> httpx.Response:
    token = csrf_of(client.get("/upload").text)
    return client.post(
        "/upload",
        data={"csrf_token": token, "pasted": pasted},
        files=[("file", (name, content, "text/csv")) for name, content in files],
    )


def start(client: httpx.Client, preview_url: str, html: str) -> httpx.Response:
    """Press Start: post the preview's start form, hidden fields and all."""
    fields: dict[str, list[str]] = {"csrf_token": [csrf_of(html)]}
    hidden = re.findall(
        r'<input type="hidden" name="(file|column_\d+|sheet_\d+)" value="([^"]*)"', html
    )
    for name, value in hidden:
        fields.setdefault(name, []).append(value)
    return client.post(preview_url + "/start", data=fields)


def wait_stage(client: httpx.Client, public_id: str, stage: str = "Completed") -> dict[str, object]:
    for _ in range(500):
        [item] = client.get(f"/jobs/progress?ids={public_id}").json()
        if item["stage"] == stage:
            return dict(item)
        time.sleep(0.02)
    raise AssertionError(f"job {public_id} never reached {stage}: {item}")


def test_upload_preview_start_spends_monthly_credit(server: Harness) -> None:
    owner = dashboard_owner(server, monthly=100, api=7)
    client = signed_in(server, owner)
    answer = upload(client, [("people.csv", LIST.encode())])
    assert answer.status_code == 303
    preview_url = answer.headers["location"]
    preview = client.get(preview_url)
    assert preview.status_code == 200
    html = preview.text
    assert "Email Address (email)" in html  # the intake's column, found by its header
    assert 'data-summary="rows">6<' in html
    assert 'data-summary="duplicates">1<' in html
    assert 'data-summary="malformed">1<' in html
    assert 'data-summary="credits">4<' in html
    assert server.balances(owner.name) == (7, 100)  # nothing charged by a preview
    started = start(client, preview_url, html)
    assert started.status_code == 303
    public_id = started.headers["location"].rsplit("/", 1)[1]
    wait_stage(client, public_id)
    api, monthly = server.balances(owner.name)
    assert (api, monthly) == (7, 96)  # monthly credit spent, API credit untouched
    [job] = [job for job in server.jobs() if job.public_id == public_id]
    assert job.source == "dashboard"
    page = client.get(f"/jobs/{public_id}")
    for which in ("valid", "invalid", "unknown", "all"):
        assert f'data-download="{which}"' in page.text
    assert "rejected_email" in page.text
    assert "Remove it from your list" in page.text
    assert '<svg class="chart"' in page.text


def test_downloads_match_the_api_row_for_row(server: Harness) -> None:
    owner = dashboard_owner(server, monthly=100, api=100)
    client = signed_in(server, owner)
    answer = upload(client, [("people.csv", LIST.encode())])
    preview_url = answer.headers["location"]
    public_id = start(client, preview_url, client.get(preview_url).text).headers["location"]
    public_id = public_id.rsplit("/", 1)[1]
    wait_stage(client, public_id)
    api = server.client()
    links = api.post(
        "/get_results/", data={"user_API_token": owner.token, "job_id": public_id}
    ).json()
    every: list[list[str]] = []
    for which, field in (("valid", "valid_result_link"), ("invalid", "invalid_result_link"),
                         ("unknown", "unknown_link")):  # fmt: skip
        ours = client.get(f"/jobs/{public_id}/download/{which}.csv")
        assert ours.status_code == 200
        assert ours.content == httpx.get(links[field]).content
        every += list(csv.reader(io.StringIO(ours.text)))[1:]
    everything = list(
        csv.reader(io.StringIO(client.get(f"/jobs/{public_id}/download/all.csv").text))
    )
    assert sorted(everything[1:]) == sorted(every)
    assert len(everything) - 1 == 5  # the five unique addresses, the malformed one included


def test_the_email_column_can_be_changed(server: Harness) -> None:
    owner = dashboard_owner(server)
    client = signed_in(server, owner)
    text = "work,home\nnobody,ok.one@example.com\nnone,ok.two@example.com\n"
    preview_url = upload(client, [("two.csv", text.encode())]).headers["location"]
    chosen = client.get(preview_url + "?column_0=2")
    assert "home (email)" in chosen.text
    assert 'data-summary="credits">2<' in chosen.text
    other = client.get(preview_url + "?column_0=1")
    assert "work (email)" in other.text
    assert 'data-summary="malformed">2<' in other.text


def test_pasted_addresses_and_several_files(server: Harness) -> None:
    owner = dashboard_owner(server)
    client = signed_in(server, owner)
    answer = upload(
        client,
        [("a.csv", b"email\nok.a@example.com\n"), ("b.txt", b"ok.b@example.com\n")],
        pasted="ok.c@example.com\nok.d@example.com",
    )
    html = client.get(answer.headers["location"]).text
    assert html.count('class="list-preview"') == 3
    assert "pasted-addresses.txt" in html
    assert "4 credits needed" in html
    started = start(client, answer.headers["location"], html)
    assert started.headers["location"] == "/jobs"
    jobs = client.get("/jobs").text
    for name in ("a.csv", "b.txt", "pasted-addresses.txt"):
        assert name in jobs


def test_a_refused_file_says_why(server: Harness) -> None:
    owner = dashboard_owner(server)
    client = signed_in(server, owner)
    answer = upload(client, [("page.csv", b"<html><body>not a list</body></html>\n")])
    html = client.get(answer.headers["location"]).text
    assert "Refused:" in html
    assert "No list here can be verified" in html


def test_short_of_monthly_credit_nothing_starts(server: Harness) -> None:
    owner = dashboard_owner(server, monthly=2, api=1_000)
    client = signed_in(server, owner)
    answer = upload(client, [("people.csv", LIST.encode())])
    html = client.get(answer.headers["location"]).text
    assert "Not enough monthly credit" in html
    refused = start(client, answer.headers["location"], html)
    assert refused.status_code == 422
    assert "Not enough monthly credit: 4 needed, 2 available." in refused.text
    assert server.jobs() == []
    assert server.balances(owner.name) == (1_000, 2)


def test_cancel_keeps_finished_addresses_and_refunds_the_rest(make_server: ServerFactory) -> None:
    server = make_server(engine=FakeEngine(delay=0.05), workers=1)
    owner = dashboard_owner(server, monthly=1_000)
    client = signed_in(server, owner)
    rows = "".join(f"ok.{n}@example.com\n" for n in range(200))
    answer = upload(client, [("big.txt", rows.encode())])
    started = start(client, answer.headers["location"], client.get(answer.headers["location"]).text)
    public_id = started.headers["location"].rsplit("/", 1)[1]
    for _ in range(500):  # until some results are stored
        [item] = client.get(f"/jobs/progress?ids={public_id}").json()
        if int(item["done"]) >= 20:
            break
        time.sleep(0.02)
    page = client.get(f"/jobs/{public_id}")
    cancelled = client.post(f"/jobs/{public_id}/cancel", data={"csrf_token": csrf_of(page.text)})
    assert cancelled.status_code == 303
    assert "cancelled=" in cancelled.headers["location"]
    time.sleep(0.3)  # a chunk in flight may finish a few more
    [job] = server.jobs()
    assert job.stage == "Cancelled"
    _, monthly = server.balances(owner.name)
    assert 20 <= job.done < 200
    # Charged only for what was verified by the cancel (a chunk in flight may add a few, free).
    assert 1_000 - job.done <= monthly <= 1_000 - 20
    assert server.ledger(owner.name)[-1].kind == "settle"
    assert 'data-download="all"' in client.get(f"/jobs/{public_id}").text


def test_jobs_search_and_pages(server: Harness) -> None:
    owner = dashboard_owner(server)
    client = signed_in(server, owner)
    for n in range(3):
        answer = upload(client, [(f"list-{n}.txt", f"ok.{n}@example.com\n".encode())])
        start(client, answer.headers["location"], client.get(answer.headers["location"]).text)
    everything = client.get("/jobs").text
    assert everything.index("list-2.txt") < everything.index("list-0.txt")  # newest first
    found = client.get("/jobs?q=ST-1").text
    assert "list-1.txt" in found
    assert "list-0.txt" not in found
    assert "No job matches" in client.get("/jobs?q=nothing").text


def test_someone_elses_job_is_not_found(server: Harness) -> None:
    first = dashboard_owner(server, "first")
    second = dashboard_owner(server, "second")
    client = signed_in(server, first)
    answer = upload(client, [("mine.txt", b"ok.x@example.com\n")])
    public_id = start(
        client, answer.headers["location"], client.get(answer.headers["location"]).text
    )
    public_id = public_id.headers["location"].rsplit("/", 1)[1]
    other = signed_in(server, second)
    assert other.get(f"/jobs/{public_id}").status_code == 404
    assert other.get(f"/jobs/{public_id}/download/all.csv").status_code == 404
    assert other.get(f"/jobs/progress?ids={public_id}").json() == []
    assert other.get(answer.headers["location"]).status_code == 404  # nor its staged upload


def test_check_one_address_spends_monthly_credit(server: Harness) -> None:
    owner = dashboard_owner(server, monthly=10, api=10)
    client = signed_in(server, owner)
    token = csrf_of(client.get("/check").text)
    page = client.post("/check", data={"email": "bad.one@example.com", "csrf_token": token})
    assert page.status_code == 200
    assert "Invalid" in page.text
    assert "rejected_email" in page.text
    assert "mx.example.net" in page.text
    assert "550 fake answer" in page.text
    assert server.balances(owner.name) == (10, 9)
    client.post("/check", data={"email": "no at sign", "csrf_token": token})
    assert server.balances(owner.name) == (10, 9)  # malformed: free


def test_convert_preview_convert_and_ledger(server: Harness) -> None:
    owner = dashboard_owner(server, monthly=500, api=20)
    client = signed_in(server, owner)
    preview = client.get("/credits?amount=120").text
    assert "monthly credit 380, API credit 140" in preview
    assert "not enough" in client.get("/credits/preview?amount=501").text
    done = client.post("/credits/convert", data={"amount": "120", "csrf_token": csrf_of(preview)})
    assert done.status_code == 303
    assert server.balances(owner.name) == (140, 380)
    page = client.get(done.headers["location"]).text
    assert '<dd id="monthly">380</dd>' in page
    assert '<dd id="api">140</dd>' in page
    assert "Converted monthly to API credit" in page
    rows = list(csv.reader(io.StringIO(client.get("/credits/ledger.csv").text)))
    assert rows[0][:6] == [
        "date",
        "kind",
        "monthly change",
        "monthly after",
        "API change",
        "API after",
    ]
    assert rows[1][1:6] == ["convert", "-120", "380", "120", "140"]
    assert rows[2][1:6] == ["grant", "500", "500", "20", "20"]


def test_rotating_the_token_shows_it_once_and_the_old_one_stops(server: Harness) -> None:
    owner = dashboard_owner(server)
    client = signed_in(server, owner)
    page = client.get("/api-token").text
    assert "/docs" in page
    assert f"{server.url}/email_verification/" in page
    rotated = client.post("/api-token/rotate", data={"csrf_token": csrf_of(page)})
    shown = client.get(rotated.headers["location"]).text
    token = re.search(r'id="token" type="text" readonly value="([^"]+)"', shown)
    assert token
    assert f"user_API_token={token.group(1)}" in shown
    assert token.group(1) not in client.get("/api-token").text  # shown once only
    api = server.client()
    old = api.post("/job_progress/", data={"user_API_token": owner.token, "job_id": "x"})
    assert old.status_code == 401
    new = api.post("/job_progress/", data={"user_API_token": token.group(1), "job_id": "x"})
    assert new.status_code == 404


def test_live_progress_streams_as_server_sent_events(make_server: ServerFactory) -> None:
    server = make_server(engine=FakeEngine(delay=0.01), workers=1)
    owner: Owner = dashboard_owner(server)
    client = signed_in(server, owner)
    rows = "".join(f"ok.{n}@example.com\n" for n in range(60))
    answer = upload(client, [("live.txt", rows.encode())])
    started = start(client, answer.headers["location"], client.get(answer.headers["location"]).text)
    public_id = started.headers["location"].rsplit("/", 1)[1]
    seen: list[str] = []
    with client.stream("GET", f"/jobs/events?ids={public_id}") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        for line in events.iter_lines():
            if line.startswith("data: ["):
                seen.append(line)
            if line == "event: finished":
                break
    assert '"stage": "Completed"' in seen[-1]
    assert '"percentage": "100.00"' in seen[-1]


def test_ledger_balances_after_add_up_across_pages(server: Harness) -> None:
    owner = dashboard_owner(server, monthly=0, api=0)

    async def grants(store: Store) -> None:
        for n in range(1, 61):
            await grant_credits(store, owner.name, monthly=n, api=2 * n, note=f"grant {n}")

    server.run(grants)
    client = signed_in(server, owner)
    rows = list(csv.reader(io.StringIO(client.get("/credits/ledger.csv").text)))[1:]
    assert len(rows) == 60  # no starting grant: the account began empty
    monthly_after = [int(row[3]) for row in rows]
    api_after = [int(row[5]) for row in rows]
    assert monthly_after[0] == sum(range(1, 61))
    assert api_after[0] == 2 * sum(range(1, 61))
    for newer, older, row in zip(monthly_after, monthly_after[1:], rows, strict=False):
        assert newer - int(row[2]) == older
    second = client.get("/credits?page=2").text
    assert "Page 2 of 2" in second
    assert f"<td>{sum(range(1, 11)):,}</td>" in second  # monthly after the tenth grant
