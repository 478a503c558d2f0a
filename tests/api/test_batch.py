"""``/batch_process/`` over HTTP: the body shapes clients send, and every refusal."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook

from mailsift.store.models import JobStage
from tests.api.conftest import Harness, ServerFactory, api_test_settings

LIST = b"name,email\nAnn,ok1@example.com\nBob,bad2@example.com\nCy,ok1@example.com\n"


def upload(
    client: httpx.Client, token: str, *files: tuple[str, bytes], **fields: str
) -> httpx.Response:
    return client.post(
        "/batch_process/",
        data={"user_API_token": token, **fields},
        files=[("file", (name, content)) for name, content in files],
    )


def xlsx_bytes(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_one_file_gives_one_job_id_and_reserves_unique_valid_addresses(server: Harness) -> None:
    token = server.account(api=100)
    answer = upload(server.client(), token, ("list.csv", LIST))
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "success"
    assert isinstance(body["job_id"], list)
    assert len(body["job_id"]) == 1
    [job] = server.jobs()
    assert job.public_id == body["job_id"][0]
    assert job.credits_reserved == 2  # the repeated address is free
    assert server.balances("acme") == (98, 0)


def test_several_files_give_job_ids_in_upload_order(server: Harness) -> None:
    token = server.account()
    files = [
        ("a.csv", b"email\nok1@a.com\n"),
        ("b.txt", b"ok1@b.com\nok2@b.com\n"),
        ("c.xlsx", xlsx_bytes([["email"], ["ok1@c.com"], ["ok2@c.com"], ["ok3@c.com"]])),
    ]
    answer = upload(server.client(), token, *files)
    assert answer.status_code == 200, answer.text
    ids = answer.json()["job_id"]
    by_id = {job.public_id: job for job in server.jobs()}
    assert [by_id[i].filename for i in ids] == ["a.csv", "b.txt", "c.xlsx"]
    assert [by_id[i].total for i in ids] == [1, 2, 3]


def test_curl_style_multipart_with_fields_after_the_file(server: Harness) -> None:
    token = server.account()
    # curl -F file=@list.csv -F user_API_token=… : the token comes after the file.
    answer = server.client().post(
        "/batch_process/",
        files=[
            ("file", ("list.csv", LIST, "text/csv")),
            ("user_API_token", (None, token)),
        ],
    )
    assert answer.status_code == 200, answer.text


def test_list_sent_as_a_plain_multipart_field_named_file(server: Harness) -> None:
    token = server.account()
    # curl -F "file=<list.csv": the content without a filename.
    answer = server.client().post(
        "/batch_process/", files=[("file", (None, LIST)), ("user_API_token", (None, token))]
    )
    assert answer.status_code == 200, answer.text
    assert server.jobs()[0].total == 2


@pytest.mark.parametrize("shape", ["json", "form"])
def test_small_list_as_text_in_json_or_form_bodies(server: Harness, shape: str) -> None:
    token = server.account()
    params = {"user_API_token": token, "file": "ok1@example.com\nok2@example.com\n"}
    client = server.client()
    if shape == "json":
        answer = client.post("/batch_process/", json=params)
    else:
        answer = client.post("/batch_process/", data=params)
    assert answer.status_code == 200, answer.text
    assert server.jobs()[0].total == 2


def test_path_without_trailing_slash_works_too(server: Harness) -> None:
    token = server.account()
    answer = server.client().post(
        "/batch_process", data={"user_API_token": token}, files={"file": ("l.csv", LIST)}
    )
    assert answer.status_code == 200


def test_chunked_upload_with_expect_continue_like_curl(server: Harness) -> None:
    """A raw HTTP/1.1 request as curl sends a large file: chunked, Expect: 100-continue."""
    token = server.account()
    boundary = "------------------------d74496d66958873e"
    parts = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="user_API_token"\r\n\r\n'
            f"{token}\r\n"
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="list.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + LIST
        + f"\r\n--{boundary}--\r\n".encode()
    )
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            "POST /batch_process/ HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n"
            "User-Agent: curl/8.5.0\r\nAccept: */*\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        )
        sock.sendall(head.encode())
        for start in range(0, len(parts), 50):
            piece = parts[start : start + 50]
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        response = _read_response(sock)
    assert response.startswith(b"HTTP/1.1 200"), response
    assert json.loads(response.split(b"\r\n\r\n", 1)[1])["status"] == "success"


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
        head, _, rest = data.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 100"):
            data = rest
            continue
        length = [
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if b"content-length" in line.lower()
        ]
        if length and len(rest) >= length[0]:
            return data
    return data


# --- refusals ---------------------------------------------------------------------------------


def failure(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == "failed"
    assert set(body) == {"status", "message"}
    message: str = body["message"]
    return message


def test_missing_token_is_401(server: Harness) -> None:
    answer = server.client().post("/batch_process/", files={"file": ("l.csv", LIST)})
    assert "user_API_token" in failure(answer, 401)


def test_unknown_token_is_401(server: Harness) -> None:
    server.account()
    answer = upload(server.client(), "ms_not-a-token", ("l.csv", LIST))
    failure(answer, 401)
    assert server.jobs() == []


@pytest.mark.parametrize("spelling", ["user_api_token", "User_API_Token", "USER_API_TOKEN"])
def test_token_in_the_wrong_case_names_the_right_spelling(server: Harness, spelling: str) -> None:
    token = server.account()
    answer = server.client().post(
        "/batch_process/", data={spelling: token}, files={"file": ("l.csv", LIST)}
    )
    message = failure(answer, 400)
    assert "'user_API_token'" in message
    assert spelling in message


def test_file_field_in_the_wrong_case_names_the_right_spelling(server: Harness) -> None:
    token = server.account()
    answer = server.client().post(
        "/batch_process/", data={"user_API_token": token}, files={"File": ("l.csv", LIST)}
    )
    assert "'file'" in failure(answer, 400)


def test_no_file_is_400(server: Harness) -> None:
    token = server.account()
    answer = server.client().post("/batch_process/", json={"user_API_token": token})
    assert "file" in failure(answer, 400)


def test_unreadable_list_is_422_and_leaves_nothing(server: Harness) -> None:
    token = server.account(api=10)
    answer = upload(server.client(), token, ("page.html", b"<html><body>hi</body></html>"))
    assert "web page" in failure(answer, 422)
    assert server.jobs() == []
    assert server.balances("acme") == (10, 0)


def test_one_bad_file_refuses_the_whole_upload_and_refunds_the_others(server: Harness) -> None:
    token = server.account(api=10)
    answer = upload(
        server.client(), token, ("good.csv", b"email\nok1@a.com\nok2@a.com\n"), ("bad.csv", b"")
    )
    assert failure(answer, 422).startswith("bad.csv: ")
    [withdrawn] = server.jobs()
    assert withdrawn.stage == JobStage.CANCELLED
    assert server.balances("acme") == (10, 0)


def test_body_over_the_cap_is_413_from_content_length(make_server: ServerFactory) -> None:
    server = make_server(max_upload_bytes=4096)
    token = server.account()
    answer = upload(server.client(), token, ("big.csv", b"email\n" + b"ok@example.com\n" * 400))
    assert "larger than" in failure(answer, 413)
    assert server.jobs() == []


def test_streamed_body_over_the_cap_is_413_without_content_length(
    make_server: ServerFactory,
) -> None:
    server = make_server(max_upload_bytes=64 * 1024)
    token = server.account()
    boundary = "b0undary"

    def body() -> Iterator[bytes]:
        yield (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="user_API_token"\r\n\r\n'
            f"{token}\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
            "email\r\n"
        ).encode()
        for n in range(20_000):  # about 400 KB, far past the cap
            yield f"ok{n}@example.com\r\n".encode()
        yield f"--{boundary}--\r\n".encode()

    answer = server.client().post(
        "/batch_process/",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    failure(answer, 413)
    assert server.jobs() == []
    assert list((server.settings.data_dir / "uploads").iterdir()) == []


def test_json_body_over_the_form_cap_is_413(server: Harness) -> None:
    token = server.account()
    huge = "ok@example.com\n" * 100_000  # 1.5 MB of JSON, over the 1 MB cap
    answer = server.client().post("/batch_process/", json={"user_API_token": token, "file": huge})
    failure(answer, 413)


def test_malformed_json_is_400(server: Harness) -> None:
    answer = server.client().post(
        "/batch_process/", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert "JSON" in failure(answer, 400)


def test_truncated_multipart_is_400(server: Harness) -> None:
    token = server.account()
    body = (
        '--xyz\r\nContent-Disposition: form-data; name="user_API_token"\r\n\r\n'
        f'{token}\r\n--xyz\r\nContent-Disposition: form-data; name="file"; '
        'filename="l.csv"\r\n\r\nemail\r\nok@example.com\r\n'
    ).encode()
    answer = server.client().post(
        "/batch_process/",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert "closing boundary" in failure(answer, 400)
    assert server.jobs() == []


def test_too_many_files_is_400(make_server: ServerFactory) -> None:
    server = make_server(max_files_per_upload=2)
    token = server.account()
    answer = upload(server.client(), token, *[(f"{n}.csv", LIST) for n in range(3)])
    assert "At most 2 files" in failure(answer, 400)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "javascript:alert(1)", "http:///nohost", "not a url"]
)
def test_callback_url_must_be_http_or_https(server: Harness, url: str) -> None:
    token = server.account()
    answer = upload(server.client(), token, ("l.csv", LIST), callback_url=url)
    assert "callback_url" in failure(answer, 400)
    assert server.jobs() == []


def test_private_callback_host_is_refused_unless_allowed(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    guarded = make_server(
        settings=api_test_settings(tmp_path / "guarded", allow_private_targets=False)
    )
    token = guarded.account()
    for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "https://[::1]/hook"):
        answer = upload(guarded.client(), token, ("l.csv", LIST), callback_url=url)
        assert "private, loopback or reserved" in failure(answer, 400)
    assert guarded.jobs() == []
