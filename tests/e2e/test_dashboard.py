"""A list owner's whole day in a real browser, against the real server and the mail world."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import off_loop, sign_in
from tests.mailworld.world import MailWorld
from tests.web.conftest import Harness, ServerFactory, dashboard_owner


def world_csv(world: MailWorld) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "First name", "Email Address", "note"])
    for n, address in enumerate(world.expected):
        writer.writerow([f"#{n}", f"Person {n}", address, f"=note {n}"])
    writer.writerow(["dup", "Again", next(iter(world.expected)), "again"])
    writer.writerow(["bad", "Typo", "not-an-address", "x"])
    return out.getvalue().encode()


def downloaded(page: Page, which: str) -> bytes:
    with page.expect_download() as info:
        page.locator(f'[data-download="{which}"]').click()
    return Path(info.value.path()).read_bytes()


def test_sign_in_upload_watch_download_convert_rotate(
    make_server: ServerFactory, api_world: MailWorld, tmp_path: Path, page: Page
) -> None:
    server: Harness = make_server(
        settings=api_world.settings(data_dir=tmp_path / "data", greylist_deadline=2.5),
        real_engine=True,
        workers=2,
    )
    owner = off_loop(dashboard_owner, server, monthly=5_000, api=100)

    # A wrong password says so, and stays on the sign-in page.
    sign_in(page, server.url, owner, "not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    sign_in(page, server.url, owner)
    expect(page).to_have_url(f"{server.url}/upload")

    # A file that is not a list is refused, and the page says why.
    page.locator("#file").set_input_files(
        files=[
            {"name": "page.csv", "mimeType": "text/csv", "buffer": b"<html><body>x</body></html>"}
        ]
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".refused")).to_contain_text("Refused:")

    # Upload a CSV with extra columns; the preview finds the email column and the cost.
    page.goto(f"{server.url}/upload")
    page.locator("#file").set_input_files(
        files=[{"name": "world.csv", "mimeType": "text/csv", "buffer": world_csv(api_world)}]
    )
    page.get_by_role("button", name="Preview").click()
    billable = len(api_world.expected)
    expect(page.locator("th.email-col")).to_have_text("Email Address (email)")
    expect(page.locator('[data-summary="duplicates"]')).to_have_text("1")
    expect(page.locator('[data-summary="malformed"]')).to_have_text("1")
    expect(page.locator('[data-summary="credits"]')).to_have_text(f"{billable:,}")
    page.get_by_role("button", name=re.compile("Start verifying")).click()
    public_id = page.url.rsplit("/", 1)[1]

    # Watch it on the Jobs page: the percentage moves live to Completed, without a reload.
    page.goto(f"{server.url}/jobs")
    page.evaluate("() => { window.stayedOnPage = true; }")
    row = page.locator(f'[data-job="{public_id}"]')
    expect(row.locator('[data-field="stage"]')).to_have_text("Completed", timeout=90_000)
    expect(row.locator('[data-field="percentage"]')).to_have_text("100.00")
    assert page.evaluate("() => window.stayedOnPage === true")
    assert off_loop(server.balances, owner.name) == (100, 5_000 - billable)  # monthly credit spent

    # The three files, and the fourth, equal the API's row for row.
    page.goto(f"{server.url}/jobs/{public_id}")
    links = (
        server.client()
        .post("/get_results/", data={"user_API_token": owner.token, "job_id": public_id})
        .json()
    )
    fields = {
        "valid": "valid_result_link",
        "invalid": "invalid_result_link",
        "unknown": "unknown_link",
    }
    every: list[list[str]] = []
    for which, field in fields.items():
        ours = list(csv.reader(io.StringIO(downloaded(page, which).decode())))
        theirs = list(csv.reader(io.StringIO(httpx.get(links[field]).text)))
        assert ours == theirs, which
        every += ours[1:]
    everything = list(csv.reader(io.StringIO(downloaded(page, "all").decode())))
    assert sorted(everything[1:]) == sorted(every)
    assert len(everything) - 1 == billable + 1

    # Convert credits: the preview, then both balances and the ledger change.
    page.goto(f"{server.url}/credits")
    page.get_by_label("Credits to convert").fill("250")
    expect(page.locator("#convert-preview")).to_contain_text(
        f"monthly credit {5_000 - billable - 250:,}, API credit 350"
    )
    page.get_by_role("button", name="Convert", exact=True).click()
    expect(page.locator("#converted")).to_contain_text("Converted 250")
    expect(page.locator('[data-balance="api"]')).to_have_text("350")
    expect(page.locator('[data-balance="monthly"]')).to_have_text(f"{5_000 - billable - 250:,}")
    first_row = page.locator("#ledger-table tbody tr").first
    expect(first_row).to_contain_text("Converted monthly to API credit")
    expect(first_row).to_contain_text("-250")

    # Rotate the token: the new one is shown once, the old one is refused by the API.
    page.goto(f"{server.url}/api-token")
    page.get_by_role("button", name=re.compile("Make a new token")).click()
    new_token = page.get_by_role("textbox", name="API token", exact=True).input_value()
    assert new_token.startswith("ms_")
    expect(page.get_by_label(re.compile("A ready command"))).to_contain_text(new_token)
    api = server.client()
    old = api.post("/job_progress/", data={"user_API_token": owner.token, "job_id": public_id})
    assert old.status_code == 401
    new = api.post("/job_progress/", data={"user_API_token": new_token, "job_id": public_id})
    assert new.json()["stage"] == "Completed"
    page.reload()
    expect(page.get_by_role("textbox", name="API token", exact=True)).to_have_count(
        0
    )  # shown once only
    assert api_world.totals()["data_attempts"] == 0
