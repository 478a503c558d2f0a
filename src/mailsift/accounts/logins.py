"""Dashboard sign-in: an email and an Argon2-hashed password per account, one-time links.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second
recommendation). Hashing takes tens of milliseconds of CPU on purpose, so it runs in a
thread. An unknown email costs the same hash as a wrong password, so timing does not tell
which addresses have accounts. Changing a password ends every session of the account.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from mailsift.accounts.errors import AccountError
from mailsift.store.engine import Store
from mailsift.store.models import Account, Login, SigninLink, WebSession, utcnow

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
SIGNIN_LINK_TTL = timedelta(days=2)

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class LoginError(AccountError):
    """A sign-in that cannot be set up as asked; ``message`` says why."""


def normalize_email(email: str) -> str:
    """The address trimmed, its domain lower-cased (the whole address, for matching)."""
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise LoginError(f"That is not an email address: {exc}") from exc
    return checked.normalized.lower()


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise LoginError(f"A password has at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise LoginError(f"A password has at most {MAX_PASSWORD} characters.")


def hash_secret(token: str) -> str:
    """SHA-256 of a random token (a session's or a link's): enough, as it is not a password."""
    return hashlib.sha256(token.encode()).hexdigest()


async def set_login(
    store: Store, account_id: int, email: str | None, password: str | None
) -> Login:
    """Give the account a sign-in, or change its email and/or password.

    A new password ends every session the account has.
    """
    address = normalize_email(email) if email is not None else None
    if password is not None:
        check_password_rules(password)
    hashed = await asyncio.to_thread(_hasher.hash, password) if password is not None else None
    try:
        async with store.write() as session:
            await session.get_one(Account, account_id)
            login = await session.get(Login, account_id)
            if login is None:
                if address is None:
                    raise LoginError("This account has no sign-in yet: give its email address.")
                login = Login(account_id=account_id, email=address)
                session.add(login)
            elif address is not None:
                login.email = address
            if hashed is not None:
                login.password_hash = hashed
                login.password_changed_at = utcnow()
                await session.execute(delete(WebSession).where(WebSession.account_id == account_id))
            await session.flush()
    except IntegrityError as exc:
        raise LoginError(f"Another account signs in as {address}.") from exc
    return login


async def login_of(store: Store, account_id: int) -> Login | None:
    async with store.read() as session:
        return await session.get(Login, account_id)


async def account_by_email(store: Store, email: str) -> int | None:
    try:
        address = normalize_email(email)
    except LoginError:
        return None
    async with store.read() as session:
        query = select(Login.account_id).where(Login.email == address)
        return (await session.execute(query)).scalar_one_or_none()


async def check_password(store: Store, email: str, password: str) -> int | None:
    """The account id when ``password`` is right for ``email``; ``None`` otherwise."""
    try:
        address = normalize_email(email)
    except LoginError:
        address = ""
    async with store.read() as session:
        query = select(Login.account_id, Login.password_hash).where(Login.email == address)
        row = (await session.execute(query)).first()
    stored = row[1] if row is not None and row[1] else _DUMMY_HASH
    matches = await asyncio.to_thread(_verify, stored, password[:MAX_PASSWORD])
    if row is None or not row[1] or not matches:
        return None
    return int(row[0])


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def new_signin_link(store: Store, account_id: int, ttl: timedelta = SIGNIN_LINK_TTL) -> str:
    """A one-time token for ``/signin/link/<token>``, valid for ``ttl``."""
    token = secrets.token_urlsafe(32)
    async with store.write() as session:
        await session.get_one(Account, account_id)
        session.add(
            SigninLink(
                token_hash=hash_secret(token), account_id=account_id, expires_at=utcnow() + ttl
            )
        )
    return token


async def signin_link_account(store: Store, token: str) -> int | None:
    """The account a link is for, while it is unused and unexpired (it is not used up)."""
    async with store.read() as session:
        link = await session.get(SigninLink, hash_secret(token))
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    return link.account_id


async def use_signin_link(store: Store, token: str) -> int | None:
    """Use the link up; the account id, or ``None`` when it was used, expired or unknown."""
    now = utcnow()
    async with store.write() as session:
        link = await session.get(SigninLink, hash_secret(token), with_for_update=True)
        if link is None or link.used_at is not None or link.expires_at <= now:
            return None
        link.used_at = now
        return link.account_id
