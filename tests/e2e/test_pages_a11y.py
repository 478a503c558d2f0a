"""Every page: no serious or critical axe-core finding, usable 375 px wide, a screenshot."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from mailsift.accounts.logins import new_signin_link
from mailsift.store import Store
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


DROP_SCRIPT = """() => {
  const data = new DataTransfer();
  const list = new File(["email\\nok.dropped@example.com\\n"], "dropped.csv", {type: "text/csv"});
  data.items.add(list);
  const zone = document.getElementById("dropzone");
  const options = {dataTransfer: data, bubbles: true, cancelable: true};
  zone.dispatchEvent(new DragEvent("dragover", options));
  zone.dispatchEvent(new DragEvent("drop", options));
}"""


def test_a_dropped_file_is_uploaded(make_server: ServerFactory, page: Page) -> None:
    server = make_server(engine=FakeEngine(), workers=1)
    owner = off_loop(dashboard_owner, server)
    sign_in(page, server.url, owner)
    expect(page.locator("#dropzone")).to_be_attached()  # the upload page, once signed in
    page.evaluate(DROP_SCRIPT)
    expect(page.locator("#dropped")).to_have_text("Chosen: dropped.csv")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="dropped.csv")).to_be_visible()
    expect(page.locator('[data-summary="credits"]')).to_have_text("1")


def test_progress_falls_back_to_polling_without_event_streams(
    make_server: ServerFactory, page: Page
) -> None:
    server = make_server(engine=FakeEngine(delay=0.05), workers=1)
    owner = off_loop(dashboard_owner, server)
    asked: list[str] = []
    page.route("**/jobs/events*", lambda route: route.abort())  # a proxy that drops streams
    page.on("request", lambda request: asked.append(request.url))
    sign_in(page, server.url, owner)
    page.locator("#file").set_input_files(
        files=[
            {
                "name": "slow.txt",
                "mimeType": "text/plain",
                "buffer": "".join(f"ok.{n}@example.com\n" for n in range(300)).encode(),
            }
        ]
    )
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("button", name=re.compile("Start verifying")).click()
    public_id = page.url.rsplit("/", 1)[1]
    page.goto(f"{server.url}/jobs")
    row = page.locator(f'[data-job="{public_id}"]')
    expect(row.locator('[data-field="stage"]')).to_have_text("Completed", timeout=60_000)
    assert any("/jobs/progress?ids=" in url for url in asked)


def test_the_one_time_link_pages(make_server: ServerFactory, page: Page, screenshots: Path) -> None:
    server = make_server(engine=FakeEngine(), workers=0)
    owner = off_loop(dashboard_owner, server)

    async def link(store: Store) -> str:
        return await new_signin_link(store, owner.account_id)

    url = f"{server.url}/signin/link/{off_loop(server.run, link)}"
    page.goto(url)
    check_page(page, "set-password", screenshots)
    page.get_by_label("New password").fill("a new long password")
    page.get_by_label("The same password again").fill("another one entirely")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The two passwords differ.")
    page.get_by_label("New password").fill("a new long password")
    page.get_by_label("The same password again").fill("a new long password")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page).to_have_url(f"{server.url}/upload")
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text("This sign-in link no longer works")
    check_page(page, "link-used", screenshots)
