"""Signing in: passwords, cookies, CSRF, throttling, sign-out and password changes."""

from __future__ import annotations

from mailsift.accounts.logins import set_login
from mailsift.store import Store
from tests.web.conftest import PASSWORD, Harness, csrf_of, dashboard_owner, signed_in


def test_pages_need_a_session(server: Harness) -> None:
    client = server.client(follow_redirects=False)
    for path in ("/", "/upload", "/jobs", "/check", "/credits", "/api-token"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/signin?next="), path


def test_sign_in_sets_a_strict_cookie_and_shows_the_balances(server: Harness) -> None:
    owner = dashboard_owner(server, monthly=1_234, api=56)
    client = server.client(follow_redirects=False)
    form = client.get("/signin")
    answer = client.post(
        "/signin",
        data={"email": owner.email.upper(), "password": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "mailsift_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; behind HTTPS it is set
    page = client.get("/jobs")
    assert page.status_code == 200
    assert 'data-balance="monthly">1,234<' in page.text
    assert 'data-balance="api">56<' in page.text


def test_secure_cookie_behind_https(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server(public_url="https://verify.example.com")
    owner = dashboard_owner(server)
    client = server.client(follow_redirects=False)
    form = client.get("/signin")
    answer = client.post(
        "/signin",
        data={"email": owner.email, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    assert "Secure" in answer.headers["set-cookie"]


def test_wrong_password_says_so_and_sets_no_session(server: Harness) -> None:
    owner = dashboard_owner(server)
    client = server.client(follow_redirects=False)
    form = client.get("/signin")
    answer = client.post(
        "/signin",
        data={"email": owner.email, "password": "not it at all", "csrf_token": csrf_of(form.text)},
    )
    assert answer.status_code == 401
    assert "Wrong email or password." in answer.text
    assert "mailsift_session" not in answer.headers.get("set-cookie", "")


def test_sign_in_without_its_csrf_token_is_refused(server: Harness) -> None:
    owner = dashboard_owner(server)
    client = server.client(follow_redirects=False)
    client.get("/signin")
    answer = client.post(
        "/signin", data={"email": owner.email, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert answer.status_code == 403
    assert "mailsift_session" not in answer.headers.get("set-cookie", "")


def test_failed_sign_ins_are_throttled_per_account(server: Harness) -> None:
    owner = dashboard_owner(server)
    client = server.client(follow_redirects=False)
    token = csrf_of(client.get("/signin").text)
    statuses = [
        client.post(
            "/signin", data={"email": owner.email, "password": "wrong!", "csrf_token": token}
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [401] * 5
    # Locked now: even the right password waits, and the page says how long.
    locked = client.post(
        "/signin", data={"email": owner.email, "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 429
    assert "Too many failed attempts: try again in" in locked.text


def test_failed_sign_ins_are_throttled_per_client(server: Harness) -> None:
    owners = [dashboard_owner(server, f"user{n}") for n in range(6)]
    client = server.client(follow_redirects=False)
    token = csrf_of(client.get("/signin").text)
    for owner in owners[:5]:  # one guess at each of five accounts, from one client
        answer = client.post(
            "/signin", data={"email": owner.email, "password": "guess", "csrf_token": token}
        )
        assert answer.status_code == 401
    answer = client.post(
        "/signin", data={"email": owners[5].email, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 429


def test_forms_need_the_session_csrf_token(server: Harness) -> None:
    owner = dashboard_owner(server)
    client = signed_in(server, owner)
    answer = client.post("/credits/convert", data={"amount": "5", "csrf_token": "nope"})
    assert answer.status_code == 403
    assert server.balances(owner.name) == (100, 1_000)  # nothing converted


def test_sign_out_ends_the_session_on_the_server(server: Harness) -> None:
    owner = dashboard_owner(server)
    client = signed_in(server, owner)
    cookie = client.cookies["mailsift_session"]
    page = client.get("/jobs")
    answer = client.post("/signout", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    replay = server.client(follow_redirects=False, cookies={"mailsift_session": cookie})
    assert replay.get("/jobs").status_code == 303  # the old cookie no longer signs in


def test_a_new_password_ends_every_session(server: Harness) -> None:
    owner = dashboard_owner(server)
    client = signed_in(server, owner)
    assert client.get("/jobs").status_code == 200

    async def change(store: Store) -> None:
        await set_login(store, owner.account_id, None, "another long password")

    server.run(change)
    assert client.get("/jobs").status_code == 303
    signed_in(server, owner, "another long password")
