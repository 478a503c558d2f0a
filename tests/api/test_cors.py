"""Cross-origin access (``MAILSIFT_CORS_ORIGINS``): off by default, on for listed origins only."""

from __future__ import annotations

from tests.api.conftest import ServerFactory

TOOL = "http://tools.example.test"


def test_no_origin_is_allowed_by_default(make_server: ServerFactory) -> None:
    server = make_server(workers=0)
    answer = server.client().post(
        "/job_progress/", data={"user_API_token": "x", "job_id": "y"}, headers={"Origin": TOOL}
    )
    assert answer.status_code == 401
    assert "access-control-allow-origin" not in answer.headers


def test_a_listed_origin_may_call_and_download_but_no_other(make_server: ServerFactory) -> None:
    server = make_server(workers=0, cors_origins=f"{TOOL}/, https://other.example.test")
    assert server.config.cors_origins == [TOOL, "https://other.example.test"]
    client = server.client()
    refused = client.post("/job_progress/", data={"user_API_token": "x"}, headers={"Origin": TOOL})
    assert refused.status_code == 401  # the failed answer is readable by the page, message and all
    assert refused.headers["access-control-allow-origin"] == TOOL
    assert "access-control-allow-credentials" not in refused.headers

    preflight = client.options(
        "/email_verification/",
        headers={
            "Origin": TOOL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == TOOL
    assert "POST" in preflight.headers["access-control-allow-methods"]

    download = client.get("/download/nope/valid.csv", headers={"Origin": TOOL})
    assert download.headers["access-control-allow-origin"] == TOOL

    stranger = client.post(
        "/job_progress/", data={"user_API_token": "x"}, headers={"Origin": "https://evil.test"}
    )
    assert "access-control-allow-origin" not in stranger.headers
