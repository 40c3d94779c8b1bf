"""People and scripts who may reach the data: users (argon2 password hashes),
login sessions, API tokens, and the lockout after repeated failed logins.

Secrets (session and API tokens) are random and stored only as their sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .models import ApiToken, User, WebSession, as_utc, utcnow

SESSION_HOURS = 12
LOCK_AFTER = 5  # failed logins in a row before the account locks
LOCK_SECONDS = 60  # the first lock; doubled for every further failure, at most an hour
MAX_NAME = 100

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password")  # verified against for unknown names: the same time either way


class Role(StrEnum):
    REVIEWER = "reviewer"
    ADMIN = "admin"


class UserError(ValueError):
    """A user or token that cannot be made or found."""


@dataclass(frozen=True)
class Identity:
    user_id: int
    name: str
    role: str
    csrf_token: str | None = None  # set for a browser session; None for a bearer token


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_user(session: Session, name: str, password: str, role: str = Role.REVIEWER) -> User:
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(c.isspace() or not c.isprintable() for c in name):
        raise UserError(f"a user name is 1 to {MAX_NAME} printable characters without spaces")
    if role not in tuple(Role):
        raise UserError(f"role {role!r}: choose {', '.join(Role)}")
    if len(password) < 8:
        raise UserError("a password has at least 8 characters")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise UserError(f"user {name!r} exists")
    user = User(name=name, password_hash=_hasher.hash(password), role=role, failed_logins=0, created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def remove_user(session: Session, name: str) -> None:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise UserError(f"no user {name!r}")
    session.delete(user)


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


class LoginError(Exception):
    """Wrong name or password, or the account is locked for a while."""


def login(session: Session, name: str, password: str) -> tuple[str, Identity]:
    """Check a password; on success a new session (its secret token, and the
    identity with its CSRF token). Failures count towards a lockout."""
    user = session.scalar(select(User).where(User.name == name))
    now = utcnow()
    if user is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY, password)
        raise LoginError("wrong name or password")
    locked = as_utc(user.locked_until)
    if locked is not None and locked > now:
        raise LoginError(f"too many failed logins: try again in {int((locked - now).total_seconds()) + 1} s")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= LOCK_AFTER:
            seconds = min(3600, LOCK_SECONDS * 2 ** (user.failed_logins - LOCK_AFTER))
            user.locked_until = now + timedelta(seconds=seconds)
        session.commit()
        raise LoginError("wrong name or password") from None
    user.failed_logins, user.locked_until = 0, None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=_digest(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
    )
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.commit()
    return token, Identity(user.id, user.name, user.role, csrf)


def session_identity(session: Session, token: str | None) -> Identity | None:
    if not token:
        return None
    row = session.get(WebSession, _digest(token))
    expires = as_utc(row.expires_at) if row is not None else None
    if row is None or expires is None or expires <= utcnow():
        return None
    user = session.get(User, row.user_id)
    return Identity(user.id, user.name, user.role, row.csrf_token) if user is not None else None


def logout(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))
        session.commit()


def add_token(session: Session, user_name: str, name: str = "script") -> str:
    """A new API token for a user (shown once; stored as its hash)."""
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise UserError(f"no user {user_name!r}")
    token = "htr_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_digest(token), created_at=utcnow()))
    session.flush()
    return token


def token_identity(session: Session, token: str | None) -> Identity | None:
    if not token:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    row.last_used_at = utcnow()
    session.commit()
    return Identity(user.id, user.name, user.role)
