"""The engine's own options: what a ``Verifier`` needs to know, and nothing of the service."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How the engine talks to the world. The defaults are the production ones.

    The service builds these from its settings (``Settings.engine_options()``); a library
    user builds them directly.
    """

    # --- the probe's identity ---
    helo_name: str = field(default_factory=socket.getfqdn)
    mail_from: str = ""  # empty: "verify@<helo_name>"

    # --- DNS ---
    dns_nameservers: tuple[str, ...] = ()  # "ip" or "ip:port"; empty: the system's
    dns_timeout: float = 5.0
    dns_cache_size: int = 100_000
    domain_cache_ttl: float = 3600.0  # how long an accept-all finding per domain holds

    # --- SMTP ---
    smtp_port: int = 25
    allow_private_targets: bool = False
    proxies: tuple[str, ...] = ()  # socks5://user:pass@host:port, used in turn
    max_connections_per_host: int = 2
    max_rcpt_per_session: int = 25
    # Rejected RCPTs one session may collect before it ends: stock Postfix starts answering
    # slowly after 10 errors and hangs up after 20.
    max_rcpt_errors_per_session: int = 8
    max_concurrency: int = 200
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    greylist_retry_after: float = 300.0
    greylist_deadline: float = 1800.0
    host_pause: float = 60.0  # after a 421 or a rate limit from a server
    starttls: bool = True
    tls_verify: bool = False

    def __post_init__(self) -> None:
        for name in (
            "max_connections_per_host",
            "max_rcpt_per_session",
            "max_rcpt_errors_per_session",
            "max_concurrency",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @property
    def envelope_sender(self) -> str:
        return self.mail_from or f"verify@{self.helo_name}"
