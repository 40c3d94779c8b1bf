"""People and scripts who may reach the data: users (argon2 password hashes, a
password policy), their roles and what each may do, login sessions and API tokens.

Secrets (session and API tokens) are random and stored only as their sha256.
Failed logins are throttled by the web app (``worker.web.throttle``), never by
locking the account.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .engine import largest_id
from .models import ApiToken, User, WebSession, as_utc, utcnow

SESSION_HOURS = 12
MAX_NAME = 100
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
TOKEN_DAYS = 90  # a new API token's lifetime unless told otherwise
TOKEN_SEEN_SECONDS = 60  # a token's last use is written at most this often

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password")  # verified against for unknown names: the same time either way


class Role(StrEnum):
    """What a person may do.

    A reviewer reads everything (documents, pages, images, search, exports, line
    history), reviews and saves lines, and manages their own API tokens. An admin
    may do that and manage people (add, remove, change roles), everyone's tokens,
    and delete documents.
    """

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

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords (zxcvbn's list, shipped in its wheel)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(name: str, password: str) -> str | None:
    """Why a password may not be used, or None: too short or too long, too few
    different characters, holding the user's name (of 4 characters or more), or a
    common password (also with spaces, digits and symbols around it taken off)."""
    if len(password) < MIN_PASSWORD:
        return f"a password has at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"a password has at most {MAX_PASSWORD} characters"
    low = password.lower()
    if len(set(low)) < 5:
        return "a password needs at least 5 different characters"
    if name and (low == name.lower() or (len(name) >= 4 and name.lower() in low)):
        return "a password may not contain the user name"
    common = _common_passwords()
    squeezed = "".join(low.split())
    core = squeezed.strip("0123456789!@#$%^&*()_+-=.,;:?'\"/\\|`~[]{}<>")
    if low in common or squeezed in common or core in common or (core and len(set(core)) == 1):
        return "this password is one of the most common ones: choose another"
    return None


def add_user(session: Session, name: str, password: str, role: str = Role.REVIEWER) -> User:
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(c.isspace() or not c.isprintable() for c in name):
        raise UserError(f"a user name is 1 to {MAX_NAME} printable characters without spaces")
    if role not in tuple(Role):
        raise UserError(f"role {role!r}: choose {', '.join(Role)}")
    problem = password_problem(name, password)
    if problem:
        raise UserError(problem)
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise UserError(f"user {name!r} exists")
    user = User(name=name, password_hash=_hasher.hash(password), role=role, created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise UserError(f"no user {name!r}")
    return user


def remove_user(session: Session, name: str) -> None:
    """The user and, with them, their sessions and tokens."""
    user = find_user(session, name)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    session.delete(user)


def set_role(session: Session, name: str, role: str) -> User:
    if role not in tuple(Role):
        raise UserError(f"role {role!r}: choose {', '.join(Role)}")
    user = find_user(session, name)
    user.role = role
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


class LoginError(Exception):
    """Wrong name or password (the same message whether or not the name exists)."""


def login(session: Session, name: str, password: str) -> tuple[str, Identity]:
    """Check a password; on success a new session (its secret token, and the
    identity with its CSRF token). The argon2 check takes tens of milliseconds
    of CPU: the web app calls this in a worker thread."""
    user = session.scalar(select(User).where(User.name == name)) if len(name) <= MAX_NAME else None
    if user is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY, password)
        raise LoginError("wrong name or password")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise LoginError("wrong name or password") from None
    now = utcnow()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
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


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed: never its secret."""

    id: int
    user: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "user": self.user,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "expired": self.expired,
        }


def add_token(session: Session, user_name: str, name: str = "script", days: int | None = TOKEN_DAYS) -> str:
    """A new API token for a user, valid for ``days`` (None: no expiry). The
    secret is returned once; only its sha256 is stored."""
    user = find_user(session, user_name)
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise UserError(f"a token name is 1 to {MAX_NAME} printable characters")
    if days is not None and not 1 <= days <= 3650:
        raise UserError("a token lives 1 to 3650 days")
    now = utcnow()
    token = "htr_" + secrets.token_urlsafe(32)
    expires = now + timedelta(days=days) if days is not None else None
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_digest(token), created_at=now, expires_at=expires))
    session.flush()
    return token


def list_tokens(session: Session, user_name: str | None = None) -> list[TokenInfo]:
    """Tokens (of one user, or everyone's), oldest first."""
    q = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if user_name is not None:
        q = q.where(User.name == user_name)
    return [
        TokenInfo(t.id, owner, t.name, as_utc(t.created_at), as_utc(t.last_used_at), as_utc(t.expires_at))  # type: ignore[arg-type]
        for t, owner in session.execute(q).all()
    ]


def revoke_token(session: Session, token_id: int, owner: str | None = None) -> None:
    """Delete a token (only one of ``owner``'s when given); it stops working at once."""
    row = None
    if 1 <= token_id <= largest_id(session.get_bind().dialect.name):
        q = select(ApiToken).join(User, User.id == ApiToken.user_id).where(ApiToken.id == token_id)
        row = session.scalar(q.where(User.name == owner) if owner is not None else q)
    if row is None:
        raise UserError(f"no token {token_id}")
    session.delete(row)


def token_identity(session: Session, token: str | None) -> Identity | None:
    if not token:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None:
        return None
    now = utcnow()
    expires = as_utc(row.expires_at)
    if expires is not None and expires <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    seen = as_utc(row.last_used_at)
    if seen is None or (now - seen).total_seconds() >= TOKEN_SEEN_SECONDS:
        row.last_used_at = now
        session.commit()
    return Identity(user.id, user.name, user.role)
