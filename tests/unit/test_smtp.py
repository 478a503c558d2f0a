"""The sans-IO SMTP client: reply parsing, command building and the conversation state."""

from __future__ import annotations

import pytest

from mailsift.verify import smtp
from mailsift.verify.smtp import (
    Reply,
    ReplyParser,
    SmtpClient,
    SmtpStateError,
    SmtpSyntaxError,
    Step,
    parse_extensions,
)


def parse_all(data: bytes, **limits: int) -> list[Reply]:
    return ReplyParser(**limits).feed(data)


# --- Reply -------------------------------------------------------------------------------------


def test_reply_classes() -> None:
    assert Reply(250, ("ok",), None).is_positive
    assert Reply(451, ("later",), None).is_transient
    assert Reply(550, ("no",), None).is_permanent
    assert not Reply(354, ("go on",), None).is_positive
    assert not Reply(250, ("ok",), None).is_permanent


def test_reply_text_joins_lines() -> None:
    assert Reply(250, ("a", "b", "c"), None).text == "a b c"


@pytest.mark.parametrize(
    ("code", "line", "enhanced"),
    [
        (550, "5.1.1 No such user", (5, 1, 1)),
        (250, "2.1.5 Ok", (2, 1, 5)),
        (452, "4.2.2 Mailbox full", (4, 2, 2)),
        (550, "5.7.1 Service unavailable; client host blocked", (5, 7, 1)),
        (550, "5.123.456 odd but legal", (5, 123, 456)),
        (550, "4.1.1 class does not match", None),
        (250, "5.1.1 class does not match", None),
        (550, "No such user", None),
        (550, "5.1.1.1 not a status code", None),
        (550, "5.1 not a status code", None),
        (550, "", None),
    ],
)
def test_enhanced_code(code: int, line: str, enhanced: tuple[int, int, int] | None) -> None:
    [reply] = parse_all(f"{code} {line}\r\n".encode())
    assert reply.enhanced == enhanced
    assert Reply.build(code, (line,)).enhanced == enhanced


def test_enhanced_code_comes_from_the_first_line_only() -> None:
    [reply] = parse_all(b"550-Sorry\r\n550 5.1.1 No such user\r\n")
    assert reply.enhanced is None


# --- the parser ----------------------------------------------------------------------------


def test_single_line() -> None:
    assert parse_all(b"220 mx.example.com ESMTP ready\r\n") == [
        Reply(220, ("mx.example.com ESMTP ready",), None)
    ]


def test_multi_line() -> None:
    data = b"250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 SMTPUTF8\r\n"
    [reply] = parse_all(data)
    assert reply.code == 250
    assert reply.lines == ("mx.example.com", "PIPELINING", "SIZE 1000", "SMTPUTF8")


def test_bare_lf_is_tolerated() -> None:
    [first, second] = parse_all(b"250-a\n250 b\n550 5.1.1 gone\n")
    assert first.lines == ("a", "b")
    assert second == Reply(550, ("5.1.1 gone",), (5, 1, 1))


def test_code_without_text() -> None:
    assert parse_all(b"250\r\n") == [Reply(250, ("",), None)]
    [reply] = parse_all(b"250-\r\n250 done\r\n")
    assert reply.lines == ("", "done")


def test_several_replies_in_one_feed_come_out_in_order() -> None:
    replies = parse_all(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n")
    assert [r.code for r in replies] == [250, 250, 550]


def test_split_byte_by_byte() -> None:
    data = b"250-mx.example.com\r\n250-8BITMIME\r\n250 2.0.0 OK\r\n550 5.1.1 no\r\n"
    parser = ReplyParser()
    replies: list[Reply] = []
    for i in range(len(data)):
        replies += parser.feed(data[i : i + 1])
    assert replies == parse_all(data)
    assert not parser.has_pending


def test_incomplete_reply_is_held() -> None:
    parser = ReplyParser()
    assert parser.feed(b"250-first\r\n250 sec") == []
    assert parser.has_pending
    assert parser.feed(b"ond\r\n") == [Reply(250, ("first", "second"), None)]


def test_non_utf8_is_replaced() -> None:
    [reply] = parse_all(b"550 caf\xe9 \xff closed\r\n")
    assert reply.text == "caf\ufffd \ufffd closed"


@pytest.mark.parametrize(
    "junk",
    [
        b"HTTP/1.1 400 Bad Request\r\n",
        b"\x00\x01\x02\xff\xfe binary\r\n",
        b"25 short\r\n",
        b"250x no separator\r\n",
        b"2500 four digits\r\n",
        b"650 bad class\r\n",
        b"\r\n",
        b" 250 leading space\r\n",
    ],
)
def test_junk_is_refused(junk: bytes) -> None:
    with pytest.raises(SmtpSyntaxError):
        parse_all(junk)


def test_code_change_mid_reply_is_refused() -> None:
    with pytest.raises(SmtpSyntaxError, match="changed"):
        parse_all(b"250-a\r\n550 b\r\n")


def test_long_line_is_refused_before_its_end_arrives() -> None:
    parser = ReplyParser(max_line_length=100)
    parser.feed(b"250 " + b"x" * 90)
    with pytest.raises(SmtpSyntaxError, match="longer than 100 bytes"):
        parser.feed(b"x" * 20)


def test_long_complete_line_is_refused() -> None:
    with pytest.raises(SmtpSyntaxError):
        parse_all(b"250 " + b"x" * 2100 + b"\r\n")


def test_line_at_the_limit_is_accepted() -> None:
    line = b"250 " + b"x" * 2044
    assert len(line) == smtp.DEFAULT_MAX_LINE_LENGTH
    parser = ReplyParser()
    assert parser.feed(line + b"\r") == []  # the CR waits for its LF
    assert parser.feed(b"\n")[0].code == 250


def test_too_many_lines_are_refused() -> None:
    parser = ReplyParser(max_lines=5)
    assert parser.feed(b"250-x\r\n" * 5) == []
    with pytest.raises(SmtpSyntaxError, match="longer than 5 lines"):
        parser.feed(b"250 x\r\n")


def test_default_line_count_limit() -> None:
    assert len(parse_all(b"250-x\r\n" * 99 + b"250 x\r\n")[0].lines) == 100
    with pytest.raises(SmtpSyntaxError):
        parse_all(b"250-x\r\n" * 100 + b"250 x\r\n")


def test_parser_stays_failed() -> None:
    parser = ReplyParser()
    with pytest.raises(SmtpSyntaxError):
        parser.feed(b"junk\r\n")
    with pytest.raises(SmtpSyntaxError):
        parser.feed(b"250 fine now\r\n")


# --- extensions ----------------------------------------------------------------------------


def test_parse_extensions() -> None:
    [reply] = parse_all(
        b"250-mx.example.com greets you\r\n250-pipelining\r\n250-SIZE  35882577 \r\n"
        b"250-AUTH PLAIN LOGIN\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n"
    )
    assert parse_extensions(reply) == {
        "PIPELINING": "",
        "SIZE": "35882577",
        "AUTH": "PLAIN LOGIN",
        "STARTTLS": "",
        "SMTPUTF8": "",
    }


def test_single_line_ehlo_has_no_extensions() -> None:
    assert parse_extensions(Reply(250, ("mx.example.com",), None)) == {}


# --- commands ------------------------------------------------------------------------------


def test_command_bytes() -> None:
    assert smtp.ehlo_command("probe.example.org") == b"EHLO probe.example.org\r\n"
    assert smtp.helo_command("probe.example.org") == b"HELO probe.example.org\r\n"
    assert smtp.starttls_command() == b"STARTTLS\r\n"
    assert smtp.mail_command("v@example.org") == b"MAIL FROM:<v@example.org>\r\n"
    assert smtp.mail_command("") == b"MAIL FROM:<>\r\n"
    assert smtp.rcpt_command("a@example.com") == b"RCPT TO:<a@example.com>\r\n"
    assert smtp.rset_command() == b"RSET\r\n"
    assert smtp.noop_command() == b"NOOP\r\n"
    assert smtp.quit_command() == b"QUIT\r\n"


def test_smtputf8_parameter_and_utf8_address() -> None:
    assert smtp.mail_command("v@example.org", smtputf8=True) == (
        b"MAIL FROM:<v@example.org> SMTPUTF8\r\n"
    )
    assert (
        smtp.rcpt_command("jos\u00e9@example.com") == "RCPT TO:<jos\u00e9@example.com>\r\n".encode()
    )


def test_there_is_no_way_to_send_a_message() -> None:
    names = {name for name in dir(smtp) if "data" in name.lower() or "bdat" in name.lower()}
    assert names == {"dataclass"}
    assert not any("data" in name.lower() for name in dir(SmtpClient))
    assert not any("DATA" in step.name for step in Step)


@pytest.mark.parametrize("bad", ["a@b.c\r\nDATA", "a@b.c\nRSET", "a@b.c\rX", "a\0@b.c"])
def test_injection_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        smtp.rcpt_command(bad)
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        smtp.mail_command(bad)
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        smtp.ehlo_command(bad)
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        smtp.helo_command(bad)


@pytest.mark.parametrize("bad", ["a@b.c> SIZE=1", "<a@b.c", ""])
def test_unusable_recipients_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"angle|empty"):
        smtp.rcpt_command(bad)


@pytest.mark.parametrize("bad", ["", "two words", "h\u00f4te.example"])
def test_unusable_client_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"name|ascii"):
        smtp.ehlo_command(bad)


def test_overlong_command_is_refused() -> None:
    with pytest.raises(ValueError, match="512"):
        smtp.rcpt_command("a" * 500 + "@example.com")


def test_check_envelope() -> None:
    smtp.check_envelope("v@example.org", ["a@example.com"], smtputf8=False)
    smtp.check_envelope("v@example.org", ["jos\u00e9@example.com"], smtputf8=True)
    with pytest.raises(ValueError, match="SMTPUTF8"):
        smtp.check_envelope("v@example.org", ["jos\u00e9@example.com"], smtputf8=False)
    with pytest.raises(ValueError, match="CR, LF"):
        smtp.check_envelope("v@example.org", ["ok@example.com", "x@y\r\n"], smtputf8=False)


# --- the conversation ------------------------------------------------------------------------


def greeted_client() -> SmtpClient:
    client = SmtpClient()
    [answer] = client.receive(b"220 mx.example.com ESMTP\r\n")
    assert answer.step is Step.GREETING
    return client


def test_client_awaits_the_greeting_first() -> None:
    client = SmtpClient()
    assert client.pending == (Step.GREETING,)
    assert client.receive(b"220 hi") == []
    [answer] = client.receive(b"\r\n")
    assert (answer.step, answer.reply.code) == (Step.GREETING, 220)
    assert not client.pending


def test_pipelined_replies_are_matched_in_order() -> None:
    client = greeted_client()
    batch = client.mail_from("v@example.org")
    batch += client.rcpt_to("a@example.com") + client.rcpt_to("b@example.com")
    assert batch == (
        b"MAIL FROM:<v@example.org>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
    )
    assert client.pending == (Step.MAIL, Step.RCPT, Step.RCPT)
    answers = client.receive(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no")
    assert [(a.step, a.reply.code) for a in answers] == [(Step.MAIL, 250), (Step.RCPT, 250)]
    [last] = client.receive(b"\r\n")
    assert (last.step, last.reply.enhanced) == (Step.RCPT, (5, 1, 1))
    assert not client.pending


def test_rcpt_needs_mail_first() -> None:
    client = greeted_client()
    with pytest.raises(SmtpStateError):
        client.rcpt_to("a@example.com")
    client.mail_from("v@example.org")
    client.rset()
    with pytest.raises(SmtpStateError):
        client.rcpt_to("a@example.com")


def test_non_ascii_recipient_needs_an_smtputf8_transaction() -> None:
    client = greeted_client()
    client.mail_from("v@example.org")
    with pytest.raises(ValueError, match="SMTPUTF8"):
        client.rcpt_to("jos\u00e9@example.com")
    client.rset()
    client.mail_from("v@example.org", smtputf8=True)
    assert client.rcpt_to("jos\u00e9@example.com").endswith("jos\u00e9@example.com>\r\n".encode())


def test_unsolicited_reply_is_a_protocol_error() -> None:
    client = greeted_client()
    with pytest.raises(SmtpSyntaxError, match="unsolicited"):
        client.receive(b"250 surprise\r\n")


def test_421_ends_the_conversation() -> None:
    client = greeted_client()
    client.mail_from("v@example.org")
    client.rcpt_to("a@example.com")
    client.rcpt_to("b@example.com")
    answers = client.receive(b"250 ok\r\n421 4.7.0 closing\r\n")
    assert [(a.step, a.reply.code) for a in answers] == [(Step.MAIL, 250), (Step.RCPT, 421)]
    assert client.closed
    assert not client.pending
    assert client.closing_reply is not None
    assert client.closing_reply.code == 421
    assert client.receive(b"whatever\r\n") == []
    with pytest.raises(SmtpStateError):
        client.rset()


def test_unsolicited_421_closes_without_error() -> None:
    client = greeted_client()
    assert client.receive(b"421 idle too long\r\n") == []
    assert client.closed


def test_quit_reply_ends_the_conversation() -> None:
    client = greeted_client()
    client.quit()
    [answer] = client.receive(b"221 bye\r\n")
    assert answer.step is Step.QUIT
    assert client.closed


def test_nothing_may_be_pipelined_with_starttls() -> None:
    client = greeted_client()
    client.starttls()
    with pytest.raises(SmtpStateError):
        client.ehlo("probe.example.org")
    client = greeted_client()
    client.noop()
    with pytest.raises(SmtpStateError):
        client.starttls()


def test_bytes_after_the_starttls_reply_are_refused() -> None:
    client = greeted_client()
    client.starttls()
    with pytest.raises(SmtpSyntaxError, match="STARTTLS"):
        client.receive(b"220 go ahead\r\n250-inject")
    client = greeted_client()
    client.starttls()
    with pytest.raises(SmtpSyntaxError, match="unsolicited"):
        client.receive(b"220 go ahead\r\n250 injected\r\n")


def test_clean_starttls_reply() -> None:
    client = greeted_client()
    client.starttls()
    [answer] = client.receive(b"220 2.0.0 go ahead\r\n")
    assert answer.step is Step.STARTTLS
    assert client.ehlo("probe.example.org") == b"EHLO probe.example.org\r\n"
