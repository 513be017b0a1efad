"""Moderators' accounts for the moderation page: names, roles and argon2 password hashes.

Created with ``moderate users create NAME [--role moderator|admin]``. Only an argon2id hash of each
password is stored (argon2-cffi's ``PasswordHasher`` with its default, RFC 9106 low-memory parameters).
A moderator may use the review queue and the try-it page; an admin may also manage API keys and see
the model page. A session on the page holds the user's ``session_stamp``, which changes with a new password
and with ``end_sessions`` (signing out, or ``moderate users sign-out NAME``): either ends every session they have.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import DateTime, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.store import USER_NAME_CHARS, Base, utc_now
from service.text_rules import NUL

MODERATOR, ADMIN = "moderator", "admin"
ROLES = (MODERATOR, ADMIN)
ROLE_CHARS = 16
PASSWORD_HASH_CHARS = 255
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1_024
"""Longer passwords are refused before hashing (argon2 would hash them, slowly, for nothing)."""
SESSION_STAMP_CHARS = 16

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash verified when the name is unknown, so that a wrong name takes as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe())


def prepare_sign_in() -> None:
    """Make the hash an unknown name is checked against now, when the app starts: made at the first sign-in with an
    unknown name, it made that sign-in (one per worker) take a hash longer than a wrong password, telling the name is
    no user's."""
    _dummy_hash()


class UserError(ValueError):
    """A user name, role or password that cannot be used, or a user that does not exist; says what to fix."""


class User(Base):
    """A person who signs in to the moderation page."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(USER_NAME_CHARS), unique=True)
    password_hash: Mapped[str] = mapped_column(String(PASSWORD_HASH_CHARS))
    role: Mapped[str] = mapped_column(String(ROLE_CHARS))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Raised by one at each sign-out: part of ``session_stamp``, so sessions signed in before it end."""

    @property
    def is_admin(self) -> bool:
        """Admins also manage keys and see the model page."""
        return self.role == ADMIN

    @property
    def session_stamp(self) -> str:
        """A short digest of the session version and password hash, kept in the session cookie: a sign-out or a new
        password ends old sessions."""
        stamped = f"{self.session_version}:{self.password_hash}"
        return hashlib.sha256(stamped.encode("utf-8")).hexdigest()[:SESSION_STAMP_CHARS]


def check_name(name: str) -> str:
    """Return ``name`` stripped, or raise UserError when it is empty, too long or has spaces or control characters inside."""
    name = name.strip()
    if not name or len(name) > USER_NAME_CHARS or not name.isprintable() or any(character.isspace() for character in name):
        raise UserError(f"a user name must be 1 to {USER_NAME_CHARS} characters without spaces or control characters")
    return name


def could_be_a_name(name: str) -> bool:
    """False for a sign-in name no user can have and the database may refuse to look up (PostgreSQL refuses a NUL)."""
    return len(name) <= USER_NAME_CHARS and NUL not in name


def check_password(password: str) -> None:
    """Raise UserError unless the password has between MIN_PASSWORD_CHARS and MAX_PASSWORD_CHARS characters."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise UserError(f"a password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")


def find_user(session: Session, name: str) -> User | None:
    """The user called ``name``, or None."""
    return session.scalar(select(User).where(User.name == name))


def existing_user(session: Session, name: str) -> User:
    """The user called ``name``; UserError (naming the command that lists users) when there is none."""
    user = find_user(session, name)
    if user is None:
        raise UserError(f"no user called {name!r}; see `moderate users list`")
    return user


def create_user(session: Session, name: str, password: str, role: str = MODERATOR) -> User:
    """Store a new user with an argon2 hash of ``password``; UserError for a taken name, bad role or password."""
    name = check_name(name)
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    check_password(password)
    if find_user(session, name) is not None:
        raise UserError(f"a user called {name!r} exists; choose another name or `moderate users set-password {name}`")
    user = User(name=name, password_hash=_hasher.hash(password), role=role, created_at=utc_now())
    session.add(user)
    session.commit()
    return user


def set_password(session: Session, name: str, password: str) -> User:
    """Replace ``name``'s password (which signs out their sessions); UserError when unknown or too short."""
    user = existing_user(session, name)
    check_password(password)
    user.password_hash = _hasher.hash(password)
    session.commit()
    return user


def end_sessions(session: Session, user: User) -> None:
    """End every session ``user`` has, on every device, keeping their password."""
    # Raised in SQL, not from the value read, so that two sign-outs at the same moment still count twice.
    session.execute(update(User).where(User.id == user.id).values(session_version=User.session_version + 1))
    session.commit()


def delete_user(session: Session, name: str) -> None:
    """Delete ``name`` (their feedback keeps their name); UserError when unknown."""
    user = existing_user(session, name)
    session.delete(user)
    session.commit()


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.name)))


def find_signing_in_user(session: Session, name: str) -> User | None:
    """The user a sign-in names, or None; a name no user can have (``could_be_a_name``) is not looked up."""
    return find_user(session, name) if could_be_a_name(name) else None


def password_matches(session: Session, user: User | None, password: str) -> bool:
    """True when ``password`` is ``user``'s; as slow for no user (None) as for a wrong password.

    A hash made with older parameters is replaced by one with the current ones when the password matches.
    """
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        _hasher.verify(user.password_hash if user is not None else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    if user is None:
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.commit()
    return True


def authenticate_user(session: Session, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else None; as slow for an unknown name as for a wrong password."""
    user = find_signing_in_user(session, name)
    return user if password_matches(session, user, password) else None
