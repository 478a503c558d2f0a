"""``mailsift remote …``: the same work against a mailsift server elsewhere, over its API.

Only the HTTP client is imported: no database, no engine, no web framework, so the command
starts fast on a machine that only talks to a server.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from mailsift.cli.common import fail, stderr
from mailsift.client import Client, ClientError, JobProgress


class OutputFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


# The result columns (after the uploaded file's own) start at the last one named this.
FIRST_RESULT_COLUMN = "result"
_FLAGS = ("free", "disposable", "role", "accept_all")

UrlOption = Annotated[
    str,
    typer.Option(
        "--url", envvar="MAILSIFT_URL", help="The server, e.g. https://verify.example.com"
    ),
]
TokenOption = Annotated[
    str,
    typer.Option("--token", envvar="MAILSIFT_TOKEN", help="An API token (or MAILSIFT_TOKEN)."),
]


def register(app: typer.Typer) -> None:
    remote = typer.Typer(
        help="Verify through a mailsift server's API instead of locally.", no_args_is_help=True
    )
    remote.command("verify")(verify)
    remote.command("check")(check)
    app.add_typer(remote, name="remote")


def verify(
    file: Annotated[
        Path,
        typer.Argument(
            help="The list: CSV, TSV, TXT or XLSX.", exists=True, dir_okay=False, readable=True
        ),
    ],
    url: UrlOption,
    token: TokenOption,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", "-o", help="Where to write the files (default: next to FILE)."
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="csv (as the server writes them) or jsonl.")
    ] = OutputFormat.CSV,
) -> None:
    """Upload FILE, follow the job, and write FILE-valid, FILE-invalid and FILE-unknown."""
    target = out_dir if out_dir is not None else file.parent
    target.mkdir(parents=True, exist_ok=True)
    job_id = ""
    try:
        with Client(url, token) as client:
            [job_id] = client.batch_process(file)
            stderr.print(f"Job {escape(job_id)} accepted by {escape(url)}.")
            with _progress() as progress:
                task = progress.add_task(escape(file.name), total=100, stage="In Queue")

                def show(state: JobProgress) -> None:
                    progress.update(task, completed=state.fraction * 100, stage=state.stage)

                results = client.wait(job_id, on_progress=show)
            paths = client.download(results, target, stem=f"{file.stem}-")
    except ClientError as exc:
        fail(exc.message, code=1)
    except OSError as exc:
        fail(f"{exc.filename or target}: {exc.strerror or exc}", code=1)
    except KeyboardInterrupt:
        if job_id:  # the server goes on: say where the results will be
            stderr.print(f"Interrupted. Job {escape(job_id)} goes on on the server.")
        raise typer.Exit(130) from None
    console = Console(highlight=False)
    for path in paths.values():
        written = to_jsonl(path) if output_format is OutputFormat.JSONL else path
        rows = _count_rows(written, output_format)
        console.print(f"Wrote {escape(str(written))} ({rows:,} row{'' if rows == 1 else 's'})")


def check(
    addresses: Annotated[list[str], typer.Argument(help="The addresses to verify now.")],
    url: UrlOption,
    token: TokenOption,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON Lines: every field of each answer.")
    ] = False,
) -> None:
    """Verify addresses one by one with the server's real-time call (one credit each)."""
    console = Console(highlight=False, soft_wrap=True)
    try:
        with Client(url, token) as client:
            for address in addresses:
                verdict = client.verify_email(address)
                if as_json:
                    print(json.dumps(dataclasses.asdict(verdict), ensure_ascii=False), flush=True)
                else:
                    hint = f" did you mean {verdict.did_you_mean}?" if verdict.did_you_mean else ""
                    console.print(
                        escape(f"{verdict.email}: {verdict.result} ({verdict.reason}){hint}")
                    )
    except ClientError as exc:
        fail(exc.message, code=1)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=stderr,
    )


def to_jsonl(path: Path) -> Path:
    """Rewrite a result CSV as JSON Lines beside it (one object a row, keyed by the header).

    The result columns get their types: flags as booleans, ``smtp_code`` as a number or null.
    The uploaded file's own columns stay text, as they came.
    """
    target = path.with_suffix(".jsonl")
    with (
        path.open(encoding="utf-8", newline="") as source,
        target.open("w", encoding="utf-8") as out,
    ):
        rows = csv.reader(source)
        header = next(rows, [])
        first_result = len(header)  # none, unless the header has them
        if FIRST_RESULT_COLUMN in header:
            first_result -= 1 + header[::-1].index(FIRST_RESULT_COLUMN)
        for row in rows:
            record: dict[str, Any] = {}
            for n, (name, value) in enumerate(zip(header, row, strict=False)):
                record[name] = _typed(name, value) if n >= first_result else value
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    path.unlink()
    return target


def _typed(name: str, value: str) -> Any:
    if name in _FLAGS:
        return value == "true"
    if name == "smtp_code":
        return int(value) if value.isdigit() else None
    return value


def _count_rows(path: Path, output_format: OutputFormat) -> int:
    with path.open(encoding="utf-8", newline="") as file:
        if output_format is OutputFormat.JSONL:
            return sum(1 for _ in file)
        return max(0, sum(1 for _ in csv.reader(file)) - 1)
