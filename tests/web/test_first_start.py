"""``mailsift serve``'s first start says where to sign in, with a link that works once."""

from __future__ import annotations

import re

import httpx

from tests.api.test_serve import Serve
from tests.web.conftest import csrf_of


def test_the_first_start_prints_a_sign_in_link_that_sets_the_password(serve: Serve) -> None:
    serve.start()
    output = serve.output()
    assert f"Dashboard: {serve.url}/" in output
    found = re.search(rf"{re.escape(serve.url)}/signin/link/(\S+)", output)
    assert found, output
    link = found.group(0)
    with httpx.Client(timeout=30, follow_redirects=False) as browser:
        form = browser.get(link)
        assert form.status_code == 200
        answer = browser.post(
            link,
            data={
                "csrf_token": csrf_of(form.text),
                "email": "me@example.com",
                "password": "my first password",
                "confirm": "my first password",
            },
        )
        assert answer.status_code == 303
        assert browser.get(f"{serve.url}/upload").status_code == 200  # signed in
        assert browser.get(link).status_code == 410  # used up
    with httpx.Client(timeout=30, follow_redirects=False) as again:
        form = again.get(f"{serve.url}/signin")
        signed = again.post(
            f"{serve.url}/signin",
            data={
                "email": "me@example.com",
                "password": "my first password",
                "csrf_token": csrf_of(form.text),
            },
        )
        assert signed.status_code == 303
