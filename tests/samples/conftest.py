"""A live mailsift over a mail world of its own, and the samples built once per session.

One server with the real engine answers every sample; a second one, whose engine never
finishes, holds jobs that the test marks ``Failed`` so each sample's failure path runs too.
A sample whose toolchain is missing is skipped, or fails when ``MAILSIFT_REQUIRE_SAMPLES=1``.
"""

from __future__ import annotations

import csv
import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailsift.api import ApiSettings, create_app
from mailsift.settings import Settings
from mailsift.store import database_url, upgrade
from tests.api import conftest as api_fixtures
from tests.api.conftest import FakeEngine, Harness, LiveServer, failing_active_jobs
from tests.mailworld.world import MailWorld
from tests.samples.toolchains import SAMPLES

FAILED_JOB_MESSAGE = "The list could not be verified: the sample test failed this job on purpose."
# Verdicts that come back at once: the slow ones (timeouts, greylisting) only lengthen each job.
_SLOW_REASONS = {"timeout", "unavailable_smtp"}
_SLOW_DOMAINS = ("greylist.test",)


@dataclass
class LiveApi:
    """A started server, its account's token, and the origin of the browser sample's page."""

    harness: Harness
    token: str
    page_url: str = ""


def _serve(
    app_settings: Settings, config: ApiSettings, engine: FakeEngine | None
) -> tuple[LiveServer, Harness]:
    url = database_url(app_settings.database_url, app_settings.data_dir)
    upgrade(url)
    app = create_app(app_settings, config, verifier=engine, workers=2)
    server = LiveServer(app).start()
    return server, Harness(server.url, app_settings, config, engine, url)


# A mail world of the samples' own (these servers run engines of their own, as the API tests').
api_world = api_fixtures.api_world


@pytest.fixture(scope="session")
def expected(api_world: MailWorld) -> dict[str, tuple[str, str]]:
    """The addresses every sample uploads and the verdict each must get."""
    return {
        address: verdict
        for address, verdict in api_world.expected.items()
        if verdict[1] not in _SLOW_REASONS and not address.endswith(_SLOW_DOMAINS)
    }


@pytest.fixture(scope="session")
def sample_list(tmp_path_factory: pytest.TempPathFactory, expected: dict[str, object]) -> Path:
    path = tmp_path_factory.mktemp("list") / "customers.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["name", "email"])
        for n, address in enumerate(expected):
            writer.writerow([f"Customer {n}", address])
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def page_server() -> Iterator[str]:
    """The browser sample's page, served from an origin other than the API's."""
    handler = functools.partial(_QuietHandler, directory=str(SAMPLES / "javascript"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="sample-page", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def live_api(
    api_world: MailWorld, page_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    """The real engine over the world; CORS opened to the page's origin only."""
    data = tmp_path_factory.mktemp("server")
    # Timeouts well above the world's 1 s: on a loaded machine a slow reply must not turn a
    # verdict into "timeout" (the list holds no address whose verdict is a timeout).
    settings = api_world.settings(
        data_dir=data, greylist_deadline=2.5, connect_timeout=5, command_timeout=5, dns_timeout=5
    )
    # Every sample is also run with a bad token, all from this address: the throttle on failed
    # tokens (tested on its own in tests/api) would answer 429 before the samples are through.
    config = ApiSettings(cors_origins=[page_server], auth_failures_per_minute=0)
    server, harness = _serve(settings, config, None)
    try:
        yield LiveApi(harness, harness.account("samples", api=100_000), page_server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def failing_api(tmp_path_factory: pytest.TempPathFactory, page_server: str) -> Iterator[LiveApi]:
    """A server whose jobs never finish by themselves: a thread marks each one Failed."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("failing"), allow_private_targets=True)
    server, harness = _serve(
        settings, ApiSettings(cors_origins=[page_server]), FakeEngine(delay=600)
    )
    done = threading.Event()

    errors: list[BaseException] = []

    def marker() -> None:
        while not done.wait(0.2):
            try:
                harness.run(failing_active_jobs(FAILED_JOB_MESSAGE))
            except Exception as exc:  # a busy database: try again at the next tick
                errors.append(exc)

    thread = threading.Thread(target=marker, name="fail-jobs", daemon=True)
    thread.start()
    try:
        # Failed jobs give their credit back only when the sweeper settles them: enough for
        # every sample's job at once.
        yield LiveApi(harness, harness.account("doomed", api=100_000), page_server)
    finally:
        done.set()
        thread.join()
        server.stop()
    assert len(errors) < 10, f"marking jobs failed kept failing: {errors[-1]!r}"


@pytest.fixture(scope="session")
def closed_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """A server that lets no other origin read its answers (the default)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("closed"), allow_private_targets=True)
    server, harness = _serve(settings, ApiSettings(), FakeEngine())
    try:
        yield LiveApi(harness, harness.account("elsewhere"), page_url="")
    finally:
        server.stop()
