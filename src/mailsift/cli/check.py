"""``mailsift check``: verify addresses now and print what the mail servers said."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import defaultdict, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mailsift.cli.common import fail, load_settings, stderr
from mailsift.settings import Settings
from mailsift.verify.engine import Verifier
from mailsift.verify.model import Result, Verification

_COLOURS = {
    Result.VALID: "green",
    Result.INVALID: "red",
    Result.RISKY: "yellow",
    Result.UNKNOWN: "magenta",
}


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(
    addresses: Annotated[list[str] | None, typer.Argument(help="Addresses to verify.")] = None,
    file: Annotated[
        str | None,
        typer.Option("--file", "-f", help="Read addresses from a file, one a line ('-': stdin)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, one object an address.")] = (
        False
    ),
) -> None:
    """Verify addresses now (syntax, DNS, SMTP) and print one result each, in input order."""
    wanted = list(addresses or [])
    if file is not None:
        wanted.extend(_read_addresses(file))
    if not wanted:
        fail("no addresses given: pass them as arguments or with --file PATH")
    settings = load_settings()
    show_progress = file is not None and sys.stderr.isatty() and len(wanted) > 1
    try:
        asyncio.run(_run(settings, wanted, as_json=as_json, show_progress=show_progress))
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    except (OSError, ValueError) as exc:
        fail(str(exc))


def _read_addresses(file: str) -> Iterator[str]:
    try:
        if file == "-":
            text = sys.stdin.buffer.read().decode("utf-8-sig", errors="replace")
        else:
            text = Path(file).read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    if "\0" in text:
        fail(f"{file} is not a text file (it contains NUL bytes)")
    for line in text.splitlines():
        if line.strip():
            yield line


async def _run(
    settings: Settings, wanted: list[str], *, as_json: bool, show_progress: bool
) -> None:
    verifier = Verifier(settings.engine_options())
    slots: dict[str, deque[int]] = defaultdict(deque)
    for index, address in enumerate(wanted):
        slots[address.strip()].append(index)
    done: dict[int, Verification] = {}
    printed = 0
    console = Console(highlight=False)
    table = None if as_json else _table()
    progress = _progress() if show_progress else None
    task = progress.add_task("verifying", total=len(wanted)) if progress else None
    if progress:
        progress.start()
    try:
        async for verification in verifier.verify_many(wanted):
            done[slots[verification.email].popleft()] = verification
            if progress and task is not None:
                progress.advance(task)
            while printed in done:  # print in input order, as soon as the prefix is known
                result = done.pop(printed)
                if table is None:
                    sys.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False) + "\n")
                    sys.stdout.flush()
                else:
                    _add_row(table, result)
                printed += 1
    finally:
        if progress:
            progress.stop()
    if table is not None:
        console.print(table)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )


def _table() -> Table:
    table = Table(show_lines=False)
    for column in ("email", "result", "reason", "flags", "mx host", "smtp"):
        table.add_column(column, overflow="fold")
    return table


def _add_row(table: Table, v: Verification) -> None:
    flags = [name for name in ("free", "disposable", "role", "accept_all") if getattr(v, name)]
    if v.did_you_mean:
        flags.append(f"did you mean {v.did_you_mean}?")
    smtp = f"{v.smtp_code} {v.smtp_message}" if v.smtp_code else v.smtp_message
    colour = _COLOURS[v.result]
    table.add_row(
        escape(v.email),
        f"[{colour}]{v.result}[/]",
        str(v.reason),
        escape(", ".join(flags)),
        escape(v.mx_host),
        escape(smtp[:120]),
    )
