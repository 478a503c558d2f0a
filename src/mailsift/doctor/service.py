"""The service's own state: the database reachable and migrated, one signing key for all nodes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from mailsift.api.secret import SECRET_FILE, load_secret
from mailsift.doctor.findings import Finding, Status
from mailsift.settings import Settings
from mailsift.store import open_store
from mailsift.store.migrate import current_revision, head_revision
from mailsift.store.signing_keys import fingerprint, signing_keys_seen
from mailsift.store.url import is_sqlite

# A node that has not started within this long no longer counts as one of the cluster.
KEY_WINDOW = timedelta(days=7)


def check_database(url: str) -> Finding:
    check = "database"
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        revision = current_revision(url)
    except (SQLAlchemyError, OSError) as exc:
        return Finding(
            check,
            Status.FAIL,
            f"cannot reach {shown}: {_first_line(exc)}",
            "Check MAILSIFT_DATABASE_URL and that the database server is up.",
        )
    head = head_revision()
    if revision != head:
        return Finding(
            check,
            Status.FAIL,
            f"{shown} is at schema revision {revision or 'none'}, this mailsift needs {head}",
            "Run `mailsift db upgrade`.",
        )
    return Finding(check, Status.PASS, f"{shown} reachable, at schema revision {head}")


async def check_signing_key(settings: Settings, url: str, configured_key: str) -> Finding:
    check = "link-signing key"
    try:
        key = load_secret(settings.data_dir, configured_key)
    except (OSError, ValueError) as exc:
        return Finding(check, Status.FAIL, f"no usable signing key: {exc}")
    mine = fingerprint(key)
    source = "MAILSIFT_SECRET_KEY" if configured_key else str(settings.data_dir / SECRET_FILE)
    if is_sqlite(make_url(url)):
        return Finding(check, Status.PASS, f"one node (SQLite); key {mine} from {source}")
    try:
        async with open_store(url) as store:
            seen = await signing_keys_seen(store, KEY_WINDOW)
    except (SQLAlchemyError, OSError) as exc:
        return Finding(check, Status.WARN, f"cannot read the nodes' keys: {_first_line(exc)}")
    others = sorted({f"{k.fingerprint} on {k.node}" for k in seen if k.fingerprint != mine})
    if others:
        return Finding(
            check,
            Status.FAIL,
            f"this node's key is {mine} ({source}); API nodes of this database also signed "
            f"with {', '.join(others)}",
            "Result links signed on one node fail on the others: set the same "
            "MAILSIFT_SECRET_KEY on every node and restart them.",
        )
    if not configured_key:
        return Finding(
            check,
            Status.WARN,
            f"key {mine} comes from {source}, a file of this machine only",
            "Set MAILSIFT_SECRET_KEY to one value on every node of the cluster.",
        )
    return Finding(check, Status.PASS, f"every API node seen in the last 7 days signs with {mine}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
