"""JSON bodies as schemathesis found them: each read parameter has the type the description
gives it; an unknown parameter is ignored whatever it holds."""

from __future__ import annotations

from tests.api.conftest import Harness


def test_json_parameters_follow_their_described_types(server: Harness) -> None:
    token = server.account()
    client = server.client()

    def call(path: str, body: dict[str, object]) -> tuple[int, str]:
        answer = client.post(path, json={"user_API_token": token, **body})
        return answer.status_code, str(answer.json().get("message", answer.json()))

    status, _ = call("/email_verification/", {"email": 0, "shape": {"any": ["thing"]}})
    assert status == 200  # a number is taken as its text; the unknown object is ignored
    assert call("/email_verification/", {"email": "a@b.test", "timeout": "5"}) == (
        400,
        "The parameter timeout must be a JSON number.",
    )
    assert call("/email_verification/", {"email": "a@b.test", "timeout": [None]}) == (
        400,
        "The parameter timeout must be a string or a number.",
    )
    assert call("/job_progress/", {"job_id": ["only-one"]}) == (400, "Give one job_id per request.")
    assert call("/job_progress/", {"job_id": {"a": 1}}) == (
        400,
        "The parameter job_id must be a string or a number.",
    )
    assert call("/job_progress/", {"job_id": None})[0] == 400  # null: as if absent
    assert call("/convert_credits/", {"credits": "3"}) == (
        400,
        "The parameter credits must be a JSON number.",
    )
