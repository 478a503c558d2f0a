"""The engine's sessions and pauses as ``/metrics`` counts them, over scripted servers."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from mailsift.metrics import render
from mailsift.observed import observed_verifier
from mailsift.verify import EngineOptions, Verification, Verifier
from mailsift.verify.testing import (
    RATE_LIMITED,
    ScriptedConnector,
    ScriptedServer,
    StaticResolver,
    mx_route,
    reply,
    run_virtually,
)

GOOD, REFUSING, DOWN, LIMITED = "192.0.2.10", "192.0.2.20", "192.0.2.30", "192.0.2.40"


def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(render().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def sessions(outcome: str) -> float:
    return samples().get(("mailsift_smtp_sessions_total", (("outcome", outcome),)), 0.0)


def run(addresses: list[str]) -> dict[str, Verification]:
    servers = {
        GOOD: ScriptedServer(mailboxes=["alice@good.test"]),
        REFUSING: ScriptedServer(greeting=reply(554, "5.7.1 go away")),
        LIMITED: ScriptedServer(
            mailboxes=["bob@limited.test"], scripts={"bob@limited.test": [RATE_LIMITED]}
        ),
    }
    engine = observed_verifier(
        Verifier(
            EngineOptions(
                helo_name="probe.mailsift.test",
                mail_from="verify@mailsift.test",
                allow_private_targets=True,
                greylist_deadline=600.0,
            ),
            resolver=StaticResolver(
                {
                    "good.test": mx_route("good.test", ("mx.good.test", GOOD)),
                    "refusing.test": mx_route("refusing.test", ("mx.refusing.test", REFUSING)),
                    "down.test": mx_route("down.test", ("mx.down.test", DOWN)),
                    "limited.test": mx_route("limited.test", ("mx.limited.test", LIMITED)),
                }
            ),
            connector=ScriptedConnector(servers),
        )
    )

    async def verify() -> dict[str, Verification]:
        return {v.email: v async for v in engine.verify_many(addresses)}

    return run_virtually(verify())


def test_each_session_is_counted_once_by_how_it_ended() -> None:
    before = {o: sessions(o) for o in ("completed", "refused", "no_connect")}
    results = run(["alice@good.test", "x@refusing.test", "y@down.test"])
    assert str(results["alice@good.test"].reason) == "accepted_email"
    assert str(results["x@refusing.test"].reason) == "invalid_smtp"
    assert str(results["y@down.test"].reason) == "no_connect"
    # good.test: one session for the address and its accept-all probe.
    assert sessions("completed") - before["completed"] >= 1
    assert sessions("refused") - before["refused"] >= 1
    assert sessions("no_connect") - before["no_connect"] >= 1


def test_a_rate_limited_server_counts_as_a_pause() -> None:
    before = samples().get(("mailsift_host_pauses_total", ()), 0.0)
    results = run(["bob@limited.test"])
    assert str(results["bob@limited.test"].reason) == "unavailable_smtp"
    assert samples()[("mailsift_host_pauses_total", ())] > before
    assert ("mailsift_hosts_paused", ()) in samples()
