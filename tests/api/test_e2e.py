"""A whole list through the API and the real engine, against the loopback mail world."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx

from tests.api.conftest import ServerFactory
from tests.api.test_jobs_api import wait_completed
from tests.mailworld.world import MailWorld

FILE_OF = {"valid": "valid_result_link", "invalid": "invalid_result_link"}


def test_list_upload_to_downloads(
    make_server: ServerFactory, api_world: MailWorld, tmp_path: Path
) -> None:
    server = make_server(
        settings=api_world.settings(data_dir=tmp_path / "data", greylist_deadline=2.5),
        real_engine=True,
        workers=2,
    )
    token = server.account(api=1_000)
    expected = dict(api_world.expected)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "Email Address", "note"])
    for n, address in enumerate(expected):
        writer.writerow([f"#{n}", address, f"=note {n}"])  # a formula-looking cell, too
    writer.writerow(["dup", next(iter(expected)), "again"])
    writer.writerow(["bad", "not-an-address", "x"])

    client = server.client()
    answer = client.post(
        "/batch_process/",
        data={"user_API_token": token},
        files={"file": ("world.csv", out.getvalue().encode("utf-8"), "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    [job_id] = answer.json()["job_id"]
    wait_completed(server, token, job_id)

    results = client.post("/get_results/", data={"user_API_token": token, "job_id": job_id})
    links = results.json()
    rows: dict[str, list[list[str]]] = {}
    for name in ("valid_result_link", "invalid_result_link", "unknown_link"):
        download = httpx.get(links[name])
        assert download.status_code == 200
        table = list(csv.reader(io.StringIO(download.text)))
        assert table[0][:5] == ["id", "Email Address", "note", "result", "reason"]
        rows[name] = table[1:]

    seen = {}
    for name, table in rows.items():
        for row in table:
            assert row[2].startswith("'=note") or row[2] == "x"  # formula neutralised
            seen[row[1]] = (name, row[3], row[4])
    for address, (result, reason) in expected.items():
        file = FILE_OF.get(result, "unknown_link")
        assert seen[address] == (file, result, reason), address
    assert seen["not-an-address"] == ("invalid_result_link", "invalid", "invalid_email")
    assert len(seen) == len(expected) + 1  # the duplicate row is not repeated
    billable = len(expected)
    assert server.balances("acme") == (1_000 - billable, 0)
