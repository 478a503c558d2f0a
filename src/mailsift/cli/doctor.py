"""``mailsift doctor``: one line per check, pass / warn / fail, and what to do."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from mailsift.cli.common import load_settings

_MARKS = {
    "pass": "[bold green]PASS[/]",
    "warn": "[bold yellow]WARN[/]",
    "fail": "[bold red]FAIL[/]",
}


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    probe_host: Annotated[
        str | None,
        typer.Option(
            help="Mail server for the port 25 check (default: MAILSIFT_DOCTOR_PROBE_HOST)."
        ),
    ] = None,
    egress_ip: Annotated[
        str | None,
        typer.Option(help="The public address mail servers see (default: learnt by the probe)."),
    ] = None,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds for each network step.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per check.")] = False,
) -> None:
    """Check this machine can verify: port 25, DNS, blocklists, database, signing key.

    One pass / warn / fail line per check, with what to do; exits 1 when a check fails.
    """
    # Imported here: the checks pull in the database layer, which other commands don't need.
    from rich.console import Console

    from mailsift.api.config import ApiSettings
    from mailsift.cli.common import load
    from mailsift.doctor import DoctorOptions, Status, run_checks

    settings = load_settings()
    api = load(ApiSettings)
    options = DoctorOptions(
        probe_host=probe_host or settings.doctor_probe_host,
        blocklists=settings.doctor_blocklists,
        egress_ip=egress_ip if egress_ip is not None else settings.egress_ip,
        secret_key=api.secret_key,
        timeout=timeout,
    )
    findings = asyncio.run(run_checks(settings, options))
    if as_json:
        for finding in findings:
            typer.echo(json.dumps(finding.as_dict(), ensure_ascii=False))
    else:
        console = Console(highlight=False, soft_wrap=True)
        for finding in findings:
            console.print(f"{_MARKS[finding.status]}  [bold]{finding.check}[/]: {finding.detail}")
            if finding.advice:
                console.print(f"      → {finding.advice}")
    if any(finding.status is Status.FAIL for finding in findings):
        raise typer.Exit(1)
