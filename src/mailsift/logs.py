"""Log lines as text or JSON, with the job and chunk they belong to, and never a secret.

``MAILSIFT_LOG_FORMAT=json`` writes one JSON object per line (for Loki, Elasticsearch,
CloudWatch...). ``bound(job_id=..., chunk=...)`` attaches ids to every line logged inside it,
in any task of the current context. A filter on the handler scrubs API tokens, webhook secrets
and passwords from every message, whatever logged it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal

LogFormat = Literal["text", "json"]

_NOTHING_BOUND: Mapping[str, object] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "mailsift_log_context", default=_NOTHING_BOUND
)

# API tokens (ms_…), webhook secrets (whsec_…), and the values of secret-looking parameters.
_SECRETS = re.compile(
    r"\bms_[A-Za-z0-9_-]{8,}"
    r"|\bwhsec_[A-Za-z0-9+/=_-]{8,}"
    r"|(?i:(?<=user_API_token=)|(?<=password=)|(?<=token=)|(?<=secret=))[^\s&\"']+"
    r"|(?i:(?<=\"user_API_token\": \")|(?<=\"password\": \"))[^\"]+"
)
REDACTED = "[redacted]"
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    return _SECRETS.sub(REDACTED, text)


@contextmanager
def bound(**fields: object) -> Iterator[None]:
    """Attach ``fields`` (job_id, chunk, ...) to every log line written inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class _Scrub(logging.Filter):
    """Formats the message once, with secrets scrubbed, and adds the bound ids."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            # Format the traceback now, scrubbed: exception messages may carry request data.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for key, value in _context.get().items():
            setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: LogFormat = "text", level: str = "INFO") -> None:
    """Send every logger's lines to standard error, in ``log_format``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Scrub())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # procrastinate logs every task start and end at INFO: far too much for a list.
    logging.getLogger("procrastinate").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would write its lines a second time, unformatted.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
