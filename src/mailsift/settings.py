"""All of mailsift's settings, read from ``MAILSIFT_*`` environment variables."""

from __future__ import annotations

import dataclasses
import socket
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from mailsift.verify.options import EngineOptions

CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob mailsift has; the defaults are the production ones."""

    model_config = SettingsConfigDict(env_prefix="MAILSIFT_", extra="ignore")

    # --- the probe's identity -------------------------------------------------
    helo_name: str = Field(default_factory=socket.getfqdn)
    mail_from: str = ""  # empty: "verify@<helo_name>"

    # --- DNS -------------------------------------------------------------------
    dns_nameservers: CommaList = Field(default_factory=list)  # "ip" or "ip:port"; empty: system
    dns_timeout: float = 5.0
    dns_cache_size: int = 100_000
    domain_cache_ttl: float = 3600.0  # accept-all findings per domain

    # --- SMTP ------------------------------------------------------------------
    smtp_port: int = 25  # only tests change this
    allow_private_targets: bool = False
    proxies: CommaList = Field(default_factory=list)  # socks5://user:pass@host:port
    max_connections_per_host: int = 2
    max_rcpt_per_session: int = 25
    max_concurrency: int = 200
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    greylist_retry_after: float = 300.0
    greylist_deadline: float = 1800.0
    host_pause: float = 60.0  # after 421 / 452 "too many" from a host
    starttls: bool = True
    tls_verify: bool = False

    # --- SMTP error budget -------------------------------------------------------
    # Rejected RCPTs one session may collect before it ends (stock Postfix slows down
    # after 10 errors and disconnects after 20).
    max_rcpt_errors_per_session: int = Field(default=8, ge=1)

    # --- service ---------------------------------------------------------------
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: SQLite under data_dir
    host: str = "127.0.0.1"
    port: int = 8000

    _split = field_validator("dns_nameservers", "proxies", mode="before")(_split_commas)

    @property
    def envelope_sender(self) -> str:
        return self.mail_from or f"verify@{self.helo_name}"

    def engine_options(self) -> EngineOptions:
        """The engine's share of the settings (the engine never reads ``Settings`` itself).

        Every ``EngineOptions`` field is a setting of the same name.
        """
        from mailsift.verify.options import EngineOptions  # the engine only when it is used

        values: dict[str, Any] = {
            field.name: getattr(self, field.name) for field in dataclasses.fields(EngineOptions)
        }
        values["dns_nameservers"] = tuple(self.dns_nameservers)
        values["proxies"] = tuple(self.proxies)
        return EngineOptions(**values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
