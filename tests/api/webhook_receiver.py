"""A callback receiver on loopback: answers each POST as told, records what came."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering


@dataclass
class Receiver:
    """Answers POSTs with ``replies`` in turn (the last one from then on), recording each."""

    replies: list[Reply]
    received: list[Received] = field(default_factory=list)
    url: str = ""
    port: int = 0

    @property
    def statuses(self) -> list[int]:
        return [reply.status for reply in self.replies]

    @statuses.setter
    def statuses(self, statuses: list[int]) -> None:
        self.replies = [Reply(status) for status in statuses]

    def wait_for(self, count: int, within: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + within
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.received) >= count, f"{len(self.received)} of {count} callbacks came"
        return self.received


@contextmanager
def running_receiver(port: int = 0) -> Iterator[Receiver]:
    state = Receiver(replies=[Reply(200)])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                reply = state.replies[min(len(state.received), len(state.replies) - 1)]
                state.received.append(
                    Received(self.path, dict(self.headers.items()), body, time.time())
                )
            if reply.delay:
                time.sleep(reply.delay)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    http.daemon_threads = True
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    state.port = http.server_address[1]
    state.url = f"http://127.0.0.1:{state.port}/hooks/mailsift?src=test"
    try:
        yield state
    finally:
        http.shutdown()
        http.server_close()
        thread.join(5)
