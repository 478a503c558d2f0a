"""A real Debian Postfix, with postgrey for greylisting, on a loopback address of the test's own.

``RealPostfix`` writes a private configuration (``main.cf``, ``master.cf``, lookup tables) and a
private queue and data directory under one temporary directory, starts ``postfix -c DIR
start-fg`` and ``postgrey`` as children of the test, and stops both at the end. The server
receives mail for virtual mailbox domains only: the addresses in its mailbox table exist, a
catch-all domain takes any local part, and domains listed as greylisted go through postgrey
(``check_policy_service``). Postfix's error limits stay at their stock values, written out so
that the tests say what they rely on. Its log goes to a file the tests read.

Postfix's master daemon only runs as the super-user: ``missing()`` says why these servers
cannot run here (packages not installed, or not root), or None when they can.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

POSTFIX = Path("/usr/sbin/postfix")
POSTGREY = Path("/usr/sbin/postgrey")
STOCK_ERROR_LIMITS = {
    "smtpd_soft_error_limit": "10",
    "smtpd_error_sleep_time": "1s",
    "smtpd_hard_error_limit": "20",
}
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 60.0
_DISCONNECT = re.compile(r"disconnect from \S+ .*\bcommands=(\d+)(?:/(\d+))?")


def missing() -> str | None:
    """Why a real Postfix cannot run here, or None when it can."""
    absent = [str(path) for path in (POSTFIX, POSTGREY) if not path.exists()]
    if absent:
        return f"{' and '.join(absent)} not installed (apt-get install postfix postgrey)"
    if os.geteuid() != 0:
        return "Postfix's master daemon runs only as root"
    for user in ("postfix", "postgrey"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"the {user!r} system user is missing (reinstall the {user} package)"
    return None


def free_port(ip: str) -> int:
    """A TCP port nothing listens on at ``ip`` just now."""
    with socket.socket() as probe:
        probe.bind((ip, 0))
        return int(probe.getsockname()[1])


@dataclass
class MailDomains:
    """What the Postfix host receives mail for.

    ``mailboxes``: domain -> its existing local parts; ``catch_all``: domains taking any local
    part; ``greylisted``: domains whose recipients postgrey greylists (they need mailboxes too).
    """

    mailboxes: Mapping[str, Iterable[str]] = field(default_factory=dict)
    catch_all: Iterable[str] = ()
    greylisted: Iterable[str] = ()

    def all(self) -> list[str]:
        return sorted({*self.mailboxes, *self.catch_all})


@dataclass(frozen=True)
class SessionErrors:
    """One finished Postfix session, from its ``disconnect`` log line."""

    commands: int
    errors: int


class RealPostfix:
    """Postfix on ``ip``:``port`` and postgrey on 127.0.0.1, as one started-and-stopped whole."""

    def __init__(
        self,
        ip: str,
        domains: MailDomains,
        *,
        hostname: str = "mx.postfix.test",
        greylist_delay: int = 2,
    ) -> None:
        self.ip = ip
        self.port = free_port(ip)
        self.greylist_port = free_port("127.0.0.1")
        self.hostname = hostname
        self.domains = domains
        self.greylist_delay = greylist_delay
        self.root = Path(tempfile.mkdtemp(prefix="mailsift-postfix-"))
        self.root.chmod(0o755)  # the postfix and postgrey users walk into it
        self.config = self.root / "config"
        self.log = self.root / "postfix.log"
        self.greylist_log = self.root / "postgrey.log"
        self._postfix: subprocess.Popen[bytes] | None = None
        self._postgrey: subprocess.Popen[bytes] | None = None

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> RealPostfix:
        try:
            self._write_config()
            self._start_postgrey()
            self._start_postfix()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._postfix is not None:
            subprocess.run(
                [str(POSTFIX), "-c", str(self.config), "stop"],
                capture_output=True,
                timeout=_STOP_TIMEOUT,
                check=False,
            )
            _end(self._postfix)
            self._postfix = None
        if self._postgrey is not None:
            _end(self._postgrey)
            self._postgrey = None

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RealPostfix:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what tests read --------------------------------------------------------------

    def log_lines(self) -> list[str]:
        with contextlib.suppress(FileNotFoundError):
            return self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return []

    def greylist_lines(self) -> list[str]:
        with contextlib.suppress(FileNotFoundError):
            return self.greylist_log.read_text(encoding="utf-8", errors="replace").splitlines()
        return []

    def sessions(self) -> list[SessionErrors]:
        """Every finished SMTP session: its commands and how many of them failed."""
        found = []
        for line in self.log_lines():
            match = _DISCONNECT.search(line)
            if match:
                good, total = int(match.group(1)), int(match.group(2) or match.group(1))
                found.append(SessionErrors(total, total - good))
        return found

    # --- setting up -------------------------------------------------------------------

    def _write_config(self) -> None:
        queue, data, greylist_db = (self.root / n for n in ("queue", "data", "postgrey"))
        for directory in (self.config, queue, data, greylist_db):
            directory.mkdir(mode=0o755)
        _give(data, "postfix")
        _give(greylist_db, "postgrey")
        mailboxes = [
            f"{local}@{domain} {domain}/{local}/"
            for domain, locals_ in self.domains.mailboxes.items()
            for local in locals_
        ]
        mailboxes += [f"@{domain} {domain}/catch-all/" for domain in self.domains.catch_all]
        (self.config / "vmailbox").write_text("\n".join(mailboxes) + "\n", encoding="utf-8")
        greylisted = [f"{domain} greylisted" for domain in self.domains.greylisted]
        (self.config / "greylisted").write_text("\n".join(greylisted) + "\n", encoding="utf-8")
        (self.config / "main.cf").write_text(self._main_cf(queue, data), encoding="utf-8")
        (self.config / "master.cf").write_text(self._master_cf(), encoding="utf-8")

    def _main_cf(self, queue: Path, data: Path) -> str:
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(queue),
            "data_directory": str(data),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": str(self.log),
            "maillog_file_prefixes": str(self.root),
            "myhostname": self.hostname,
            "mydestination": "",
            "mynetworks": "127.0.0.1/32",
            "inet_protocols": "ipv4",
            "alias_maps": "",
            "alias_database": "",
            "smtpd_banner": "$myhostname ESMTP Postfix (Debian/GNU)",
            "smtpd_peername_lookup": "no",
            "virtual_mailbox_domains": " ".join(self.domains.all()),
            "virtual_mailbox_maps": f"texthash:{self.config / 'vmailbox'}",
            "virtual_transport": "discard",
            "smtpd_relay_restrictions": "reject_unauth_destination",
            "smtpd_recipient_restrictions": (
                f"reject_unlisted_recipient, check_recipient_access "
                f"texthash:{self.config / 'greylisted'}"
            ),
            "smtpd_restriction_classes": "greylisted",
            "greylisted": f"check_policy_service inet:127.0.0.1:{self.greylist_port}",
            **STOCK_ERROR_LIMITS,
        }
        return "".join(f"{key} = {value}\n" for key, value in settings.items())

    def _master_cf(self) -> str:
        services = [
            f"{self.ip}:{self.port} inet n - n - - smtpd",
            "postlog unix-dgram n - n - 1 postlogd",
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000 0 flush",
            "proxymap unix - - n - - proxymap",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "error unix - - n - - error",
            "discard unix - - n - - discard",
        ]
        return "\n".join(services) + "\n"

    def _start_postgrey(self) -> None:
        with self.greylist_log.open("wb") as out:
            self._postgrey = subprocess.Popen(
                [
                    str(POSTGREY),
                    f"--inet=127.0.0.1:{self.greylist_port}",
                    f"--delay={self.greylist_delay}",
                    f"--dbdir={self.root / 'postgrey'}",
                    f"--pidfile={self.root / 'postgrey' / 'postgrey.pid'}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        _wait_for_port(
            "127.0.0.1", self.greylist_port, self._postgrey, self.greylist_lines, greeting=False
        )

    def _start_postfix(self) -> None:
        with (self.root / "postfix.out").open("wb") as out:
            self._postfix = subprocess.Popen(
                [str(POSTFIX), "-c", str(self.config), "start-fg"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        _wait_for_port(self.ip, self.port, self._postfix, self.log_lines, greeting=True)


def _give(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(_STOP_TIMEOUT)


def _wait_for_port(
    ip: str,
    port: int,
    process: subprocess.Popen[bytes],
    log: Callable[[], list[str]],
    *,
    greeting: bool,
) -> None:
    """Wait until ``ip:port`` accepts connections (and greets, for SMTP)."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection((ip, port), timeout=2) as conn:
            if not greeting or conn.recv(512).startswith(b"220"):
                if greeting:
                    conn.sendall(b"QUIT\r\n")
                return
        time.sleep(0.1)
    tail = "\n".join(log()[-20:])
    raise RuntimeError(f"{process.args!r} did not start on {ip}:{port}:\n{tail}")
