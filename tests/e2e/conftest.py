"""Browser tests: Playwright for Python driving Debian's Chromium (``/usr/bin/chromium``),
never a browser of Playwright's own download.

Without Chromium these tests skip, saying so, unless ``MAILSIFT_REQUIRE_BROWSER=1`` (as in
``.ci/run``) makes that a failure. Screenshots of every page go to ``MAILSIFT_SCREENSHOTS``
when it is set, else under the test run's temporary folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.web.conftest import (  # noqa: F401 (the live server's fixtures, shared)
    PASSWORD,
    Harness,
    Owner,
    ServerFactory,
    api_world,
    dashboard_owner,
    make_server,
    server,
)

T = TypeVar("T")
CHROMIUM = Path(os.environ.get("MAILSIFT_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


# Module-scoped, not session-scoped: while Playwright runs, its event loop counts as running
# in this thread, and the asynchronous tests of the modules after these could not start theirs.
@pytest.fixture(scope="module")
def playwright_session() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM}: apt-get install chromium (browser tests)"
        if os.environ.get("MAILSIFT_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    launched = playwright_session.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    # bypass_csp: the pages allow only their own scripts; axe-core is injected by the test.
    opened = browser.new_context(viewport=DESKTOP, accept_downloads=True, bypass_csp=True)
    opened.set_default_timeout(20_000)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("MAILSIFT_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def off_loop(action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``action`` in another thread: Playwright's own event loop owns this one, and the
    harness's database helpers start loops of their own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(action, *args, **kwargs).result()


def sign_in(page: Page, base_url: str, owner: Owner, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/signin")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:120] for n in v["nodes"]]}
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def check_page(page: Page, name: str, folder: Path) -> None:
    """No serious accessibility problem; usable 375 px wide; a screenshot at both widths."""
    problems = serious_violations(page)
    assert not problems, f"{name}: " + json.dumps(problems, indent=1)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    page.set_viewport_size(PHONE)
    overflow = page.evaluate("() => document.documentElement.scrollWidth")
    assert overflow <= PHONE["width"], f"{name} is {overflow} px wide at 375 px"
    problems = serious_violations(page)
    assert not problems, f"{name} at 375 px: " + json.dumps(problems, indent=1)
    page.screenshot(path=str(folder / f"{name}-375.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
