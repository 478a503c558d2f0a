"""``/docs`` and the OpenAPI schema describe every call, parameter and answer field."""

from __future__ import annotations

from tests.api.conftest import Harness

CALLS = {
    "/batch_process/": {"user_API_token", "callback_url"},
    "/job_progress/": {"user_API_token", "job_id"},
    "/get_results/": {"user_API_token", "job_id"},
    "/email_verification/": {"user_API_token", "email", "timeout"},
    "/convert_credits/": {"user_API_token", "credits"},
}
MEDIA = {"application/x-www-form-urlencoded", "multipart/form-data", "application/json"}


def test_docs_page_is_served(server: Harness) -> None:
    answer = server.client().get("/docs")
    assert answer.status_code == 200
    assert "swagger" in answer.text.lower()


def test_schema_describes_every_call(server: Harness) -> None:
    schema = server.client().get("/openapi.json").json()
    assert set(schema["paths"]) >= set(CALLS)
    for path, fields in CALLS.items():
        post = schema["paths"][path]["post"]
        content = post["requestBody"]["content"]
        assert set(content) == MEDIA
        for media in MEDIA:
            properties = content[media]["schema"]["properties"]
            assert fields <= set(properties)
            assert all(properties[name].get("description") for name in fields)
        assert "200" in post["responses"]
        assert "401" in post["responses"]
    upload = schema["paths"]["/batch_process/"]["post"]["requestBody"]["content"]
    assert "file" in upload["multipart/form-data"]["schema"]["properties"]
    answer_fields = schema["components"]["schemas"]["VerificationAnswer"]["properties"]
    assert {"status", "free_email", "typo_suggest", "role_address", "message"} <= set(answer_fields)
    assert all(
        field.get("description") or field.get("enum") or field.get("const") is not None
        for name, field in answer_fields.items()
        if name not in ("result",)
    )
