"""User accounts: creation, password hashing (bcrypt), lookup."""

from __future__ import annotations

import re
import uuid

import bcrypt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit
from core.errors import IntegrityError, NotFoundError, ValidationError
from core.models import ROLES, User
from core.validation import check_choice, clean_name

PASSWORD_MIN_CHARS = 10
PASSWORD_MAX_BYTES = 72  # bcrypt ignores everything past 72 bytes: refuse instead of truncating
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PASSWORD_RULES = (f"at least {PASSWORD_MIN_CHARS} characters, at most {PASSWORD_MAX_BYTES} "
                  "bytes, not only letters or only digits")


def check_password(password: str) -> str:
    """Enforce the password rules; the password is never echoed."""
    if not isinstance(password, str) or len(password) < PASSWORD_MIN_CHARS:
        raise ValidationError(f"The password must have at least {PASSWORD_MIN_CHARS} characters.",
                              field="password")
    if len(password.encode("utf-8")) > PASSWORD_MAX_BYTES:
        raise ValidationError(f"The password is longer than {PASSWORD_MAX_BYTES} bytes, which "
                              "bcrypt cannot use; choose a shorter one.", field="password")
    if password.isalpha() or password.isdigit():
        raise ValidationError("The password must not be only letters or only digits.",
                              field="password")
    return password


def hash_password(password: str) -> str:
    """A bcrypt hash of a password that passed check_password."""
    return bcrypt.hashpw(check_password(password).encode("utf-8"), bcrypt.gensalt()).decode()


def verify_password(password: str, password_hash: str) -> bool:
    """True if password matches the stored bcrypt hash."""
    encoded = password.encode("utf-8")
    if len(encoded) > PASSWORD_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
    except ValueError:
        return False


def check_username(username: str) -> str:
    """A username: 2–64 of letters, digits, '.', '_', '@', '-', starting alphanumeric."""
    if not isinstance(username, str) or not USERNAME_RE.match(username.strip()):
        raise ValidationError("A username has 2 to 64 characters: letters, digits, '.', '_', "
                              "'@' or '-', starting with a letter or digit.", field="username")
    return username.strip()


def get_by_username(session: Session, username: str) -> User | None:
    """The user with this username (case-insensitive), or None."""
    return session.scalar(select(User).where(User.username_key == username.strip().casefold()))


def require_user(session: Session, username: str) -> User:
    """The user with this username, or NotFoundError."""
    user = get_by_username(session, username)
    if user is None:
        raise NotFoundError(f"There is no user named '{username.strip()[:64]}'.")
    return user


def first_admin(session: Session) -> User | None:
    """The earliest-created active admin, or None."""
    return session.scalar(select(User).where(User.role == "admin", User.active.is_(True))
                          .order_by(User.created_at, User.id).limit(1))


def count_users(session: Session) -> int:
    """How many accounts exist."""
    return session.scalar(select(func.count()).select_from(User)) or 0


def create_user(session: Session, *, username: str, password: str, role: str = "member",
                display_name: str | None = None, email: str | None = None,
                actor: User | None = None) -> User:
    """Create an account (the caller commits)."""
    username = check_username(username)
    check_choice(role, ROLES, field="role")
    display = clean_name(display_name or username, field="display name")
    if email:
        email = email.strip()
        if not EMAIL_RE.match(email) or len(email) > 254:
            raise ValidationError("The email address is not valid.", field="email")
    if get_by_username(session, username) is not None:
        raise IntegrityError(f"The username '{username}' is taken.")
    user = User(id=uuid.uuid4(), username=username, username_key=username.casefold(),
                display_name=display, email=email or None, password_hash=hash_password(password),
                role=role, active=True, session_epoch=0)
    session.add(user)
    audit.record(session, actor=actor, action="user.create", record=user, entity_type="user",
                 after={"username": username, "role": role})
    return user
