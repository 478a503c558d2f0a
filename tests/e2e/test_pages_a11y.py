"""Every page: no serious or critical axe-core finding, usable 375 px wide, a screenshot."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.api.conftest import FakeEngine
from tests.e2e.conftest import check_page, off_loop, sign_in
from tests.web.conftest import ServerFactory, dashboard_owner

LIST = (
    "id,name,Email Address,company,notes\n"
    + "".join(
        f"{n},Person {n},{prefix}.{n}@example.com,Company {n},a longer note for row {n}\n"
        for n, prefix in enumerate(["ok", "bad", "catch", "mystery", "ok", "ok", "bad", "ok"] * 3)
    )
    + "99,Broken,not-an-address,None,x\n"
)


def test_every_page(make_server: ServerFactory, page: Page, screenshots: Path) -> None:
    server = make_server(engine=FakeEngine(), workers=1)
    owner = off_loop(dashboard_owner, server, monthly=10_000, api=500)
    page.goto(f"{server.url}/signin")
    check_page(page, "signin", screenshots)
    sign_in(page, server.url, owner)
    check_page(page, "upload", screenshots)
    page.locator("#file").set_input_files(
        files=[{"name": "customers.csv", "mimeType": "text/csv", "buffer": LIST.encode()}]
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("th.email-col")).to_be_visible()
    check_page(page, "preview", screenshots)
    page.get_by_role("button", name=re.compile("Start verifying")).click()
    expect(page.locator('[data-field="stage"]')).to_have_text("Completed")
    expect(page.locator('[data-download="valid"]')).to_be_visible()
    check_page(page, "job", screenshots)
    page.goto(f"{server.url}/jobs")
    check_page(page, "jobs", screenshots)
    page.goto(f"{server.url}/check")
    page.get_by_label("Email address").fill("catch.me@example.com")
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator(".verdict")).to_have_text("Risky")
    check_page(page, "check", screenshots)
    page.goto(f"{server.url}/credits?amount=100")
    check_page(page, "credits", screenshots)
    page.goto(f"{server.url}/api-token")
    page.get_by_role("button", name=re.compile("Make a new token")).click()
    check_page(page, "api", screenshots)
    for name in ("signin", "upload", "preview", "job", "jobs", "check", "credits", "api"):
        assert (screenshots / f"{name}.png").stat().st_size > 0
        assert (screenshots / f"{name}-375.png").stat().st_size > 0
