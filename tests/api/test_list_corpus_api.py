"""``/batch_process/`` on the corpus of real export shapes, and its ``sheet`` and
``email_column`` parameters (mailsift extensions)."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import httpx

from tests.api.conftest import Harness, ServerFactory
from tests.listcorpus import CASES, HIDDEN_SHEET, WORKBOOK, case_path, check_results, write_workbook
from tests.mailworld.world import MailWorld

LINKS = {"valid": "valid_result_link", "invalid": "invalid_result_link", "unknown": "unknown_link"}
_POLLS, _POLL_SECONDS = 1200, 0.1  # two minutes at most


def wait_all_completed(server: Harness, token: str, job_ids: list[str]) -> None:
    client = server.client()
    pending = set(job_ids)
    for _ in range(_POLLS):
        for job_id in sorted(pending):
            answer = client.post(
                "/job_progress/", data={"user_API_token": token, "job_id": job_id}
            ).json()
            if answer["stage"] == "Completed":
                pending.discard(job_id)
        if not pending:
            return
        time.sleep(_POLL_SECONDS)
    raise AssertionError(f"jobs never completed: {sorted(pending)}")


def result_files(server: Harness, token: str, job_id: str) -> dict[str, list[list[str]]]:
    links = (
        server.client()
        .post("/get_results/", data={"user_API_token": token, "job_id": job_id})
        .json()
    )
    files = {}
    for which, link in LINKS.items():
        download = httpx.get(links[link], trust_env=False)
        assert download.status_code == 200
        files[which] = list(csv.reader(io.StringIO(download.text)))
    return files


def test_one_upload_of_the_whole_corpus(
    make_server: ServerFactory, api_world: MailWorld, tmp_path: Path
) -> None:
    server = make_server(
        settings=api_world.settings(data_dir=tmp_path / "data"),
        real_engine=True,
        workers=2,
        max_jobs_in_flight=len(CASES),
    )
    token = server.account(api=1_000)
    paths = [case_path(case, tmp_path) for case in CASES]
    answer = server.client().post(
        "/batch_process/",
        data={"user_API_token": token},
        files=[("file", (path.name, path.read_bytes())) for path in paths],
    )
    assert answer.status_code == 200, answer.text
    job_ids = answer.json()["job_id"]
    assert len(job_ids) == len(CASES)
    wait_all_completed(server, token, job_ids)

    jobs = {job.public_id: job for job in server.jobs()}
    for case, path, job_id in zip(CASES, paths, job_ids, strict=True):
        check_results(case, path, result_files(server, token, job_id), api_world.expected)
        job = jobs[job_id]
        assert (job.filename, job.blank, job.duplicates) == (
            case.file,
            case.blank,
            case.duplicates,
        )
        assert job.total == len(case.expected) + len(case.bad_syntax)


def _upload(server: Harness, token: str, path: Path, **params: str) -> httpx.Response:
    return server.client().post(
        "/batch_process/",
        data={"user_API_token": token, **params},
        files={"file": (path.name, path.read_bytes())},
    )


def test_sheet_and_email_column_choose_where_the_addresses_are(
    server: Harness, tmp_path: Path
) -> None:
    token = server.account(api=100)
    workbook = write_workbook(tmp_path / WORKBOOK)
    answer = _upload(server, token, workbook, sheet=HIDDEN_SHEET, email_column="Email")
    assert answer.status_code == 200, answer.text
    [job] = server.jobs()
    assert job.layout is not None
    assert (job.layout["sheet"], job.layout["email_column"], job.total) == (HIDDEN_SHEET, 0, 4)
    assert server.balances("acme") == (96, 0)

    phone = _upload(server, token, workbook, sheet="2", email_column="3")
    assert phone.status_code == 200, phone.text
    chosen = server.jobs()[-1]
    assert chosen.layout is not None
    assert (chosen.layout["sheet"], chosen.layout["email_column"]) == ("Contacts", 2)
    assert chosen.syntax_invalid == chosen.total  # phone numbers: invalid, and never charged
    assert server.balances("acme") == (96, 0)


def test_a_sheet_or_column_that_is_not_there_is_a_400_naming_those_that_are(
    server: Harness, tmp_path: Path
) -> None:
    token = server.account(api=100)
    workbook = write_workbook(tmp_path / WORKBOOK)
    sheet = _upload(server, token, workbook, sheet="Leads")
    assert sheet.status_code == 400
    assert sheet.json()["message"] == (
        "The workbook has no sheet 'Leads': its sheets are 'Read me', 'Contacts', "
        "'Old list' (hidden) (or by number, 1 to 3)."
    )
    column = _upload(server, token, workbook, sheet="Contacts", email_column="E-mail 2")
    assert column.status_code == 400
    assert column.json()["message"] == (
        "The sheet 'Contacts' has no column 'E-mail 2': its columns are 'Name', 'Email', "
        "'Phone', 'Joined' (or by number, columns 1 to 4)."
    )
    listing = tmp_path / "list.csv"
    listing.write_text("Name,Mail\nAnn,ann@ok.test\n")
    csv_column = _upload(server, token, listing, email_column="9")
    assert csv_column.status_code == 400
    assert (
        "its columns are 'Name', 'Mail' (or by number, columns 1 to 2)"
        in (csv_column.json()["message"])
    )
    assert server.jobs() == []
    assert server.balances("acme") == (100, 0)
