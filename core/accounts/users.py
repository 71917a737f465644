"""User accounts: creation, password hashing (bcrypt), lookup."""

from __future__ import annotations

import re
import uuid

import bcrypt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.accounts import audit
from core.accounts.viewer import Actor
from core.catalog import lookalikes
from core.errors import IntegrityError, NotFoundError, PermissionDeniedError, ValidationError
from core.store.tables import User, utcnow
from core.validation import check_choice, clean_name
from core.vocabulary import ROLES

PASSWORD_MIN_CHARS = 10
PASSWORD_MAX_BYTES = 72  # bcrypt ignores everything past 72 bytes: refuse instead of truncating
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PASSWORD_RULES = (
    f"at least {PASSWORD_MIN_CHARS} characters, at most {PASSWORD_MAX_BYTES} "
    "bytes, not only letters or only digits"
)


def check_password(password: str) -> str:
    """Enforce the password rules; the password is never echoed."""
    if not isinstance(password, str) or len(password) < PASSWORD_MIN_CHARS:
        raise ValidationError(
            f"The password must have at least {PASSWORD_MIN_CHARS} characters.", field="password"
        )
    try:
        encoded = password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not text any keyboard can type again
        raise ValidationError(
            "The password contains a character that is not valid text; type it again.",
            field="password",
        ) from None
    if len(encoded) > PASSWORD_MAX_BYTES:
        raise ValidationError(
            f"The password is longer than {PASSWORD_MAX_BYTES} bytes, which "
            "bcrypt cannot use; choose a shorter one.",
            field="password",
        )
    if password.isalpha() or password.isdigit():
        raise ValidationError(
            "The password must not be only letters or only digits.", field="password"
        )
    return password


def hash_password(password: str) -> str:
    """A bcrypt hash of a password that passed check_password."""
    return bcrypt.hashpw(check_password(password).encode("utf-8"), bcrypt.gensalt()).decode()


def verify_password(password: str, password_hash: str) -> bool:
    """True if password matches the stored bcrypt hash."""
    try:
        encoded = password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no stored password can contain one
        return False
    if len(encoded) > PASSWORD_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
    except ValueError:
        return False


def check_username(username: str) -> str:
    """A username: 2–64 of letters, digits, '.', '_', '@', '-', starting alphanumeric."""
    if not isinstance(username, str) or not USERNAME_RE.match(username.strip()):
        raise ValidationError(
            "A username has 2 to 64 characters: letters, digits, '.', '_', "
            "'@' or '-', starting with a letter or digit.",
            field="username",
        )
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
    return session.scalar(
        select(User)
        .where(User.role == "admin", User.active.is_(True))
        .order_by(User.created_at, User.id)
        .limit(1)
    )


def count_users(session: Session) -> int:
    """How many accounts exist."""
    return session.scalar(select(func.count()).select_from(User)) or 0


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str = "member",
    display_name: str | None = None,
    email: str | None = None,
    actor: Actor | None = None,
) -> User:
    """Create an account (the caller commits)."""
    username = check_username(username)
    check_choice(role, ROLES, field="role")
    display = clean_name(display_name or username, field="display name")
    if email:
        email = email.strip()
        if not EMAIL_RE.match(email) or len(email) > 254:
            raise ValidationError("The email address is not valid.", field="email")
    taken = get_by_username(session, username)
    if taken is not None:
        raise IntegrityError(f"The username '{taken.username}' is taken.")
    # Usernames name people in audit trails and sharing lists: one that reads like another
    # ("b0b", "adrnin") would let someone pass for that person.
    existing = session.scalars(select(User.username).order_by(User.created_at, User.id))
    alike = lookalikes.lookalike(username, dict.fromkeys(existing))
    if alike is not None:
        raise IntegrityError(
            f"The username '{username}' looks the same as the existing user "
            f"'{alike}'; choose a clearly different one."
        )
    user = User(
        id=uuid.uuid4(),
        username=username,
        username_key=username.casefold(),
        display_name=display,
        email=email or None,
        password_hash=hash_password(password),
        role=role,
        active=True,
        session_epoch=0,
    )
    session.add(user)
    audit.record(
        session,
        actor=actor,
        action="user.create",
        record=user,
        entity_type="user",
        after={"username": username, "role": role},
    )
    return user


def end_sessions(session: Session, *, user: User, actor: Actor | None, reason: str) -> None:
    """End every session of user: live ones and sign-in cookies issued before now."""
    user.session_epoch = (user.session_epoch or 0) + 1
    user.sessions_valid_after = utcnow()
    audit.record(
        session,
        actor=actor,
        action="user.sessions_ended",
        record=user,
        entity_type="user",
        after={"reason": reason},
    )


def list_users(session: Session) -> list[User]:
    """Every account, admins first, then by username."""
    return list(session.scalars(select(User).order_by(User.role, User.username_key)))


def _active_admins(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == "admin", User.active.is_(True))
        )
        or 0
    )


def _guard_last_admin(session: Session, user: User, *, role: str, active: bool) -> None:
    if user.is_admin and (role != "admin" or not active) and _active_admins(session) <= 1:
        raise IntegrityError(
            f"{user.username} is the last active admin; make another user an admin first."
        )


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDeniedError("Only admins can manage accounts.")


def set_role(session: Session, *, actor: Actor, user: User, role: str) -> User:
    """Change a user's role (admins only); the last active admin keeps the role."""
    _require_admin(actor)
    check_choice(role, ROLES, field="role")
    if role == user.role:
        return user
    _guard_last_admin(session, user, role=role, active=user.active)
    audit.record(
        session,
        actor=actor,
        action="user.role",
        record=user,
        entity_type="user",
        before={"role": user.role},
        after={"role": role},
    )
    user.role = role
    return user


def set_active(session: Session, *, actor: Actor, user: User, active: bool) -> User:
    """Activate or deactivate an account (admins only); deactivation ends its sessions."""
    _require_admin(actor)
    if bool(active) == user.active:
        return user
    _guard_last_admin(session, user, role=user.role, active=bool(active))
    audit.record(
        session,
        actor=actor,
        action="user.activate" if active else "user.deactivate",
        record=user,
        entity_type="user",
        before={"active": user.active},
        after={"active": bool(active)},
    )
    user.active = bool(active)
    if not active:
        end_sessions(session, user=user, actor=actor, reason="deactivated")
    return user


def reset_password(session: Session, *, actor: Actor, user: User, new_password: str) -> None:
    """Set another user's password (admins only); ends that user's sessions."""
    _require_admin(actor)
    user.password_hash = hash_password(new_password)
    audit.record(
        session, actor=actor, action="user.password_reset", record=user, entity_type="user"
    )
    end_sessions(session, user=user, actor=actor, reason="password reset")


def change_password(
    session: Session, *, user: User, current_password: str, new_password: str
) -> None:
    """Change one's own password; ends every session of the user (this one re-signs in)."""
    if not verify_password(current_password or "", user.password_hash):
        raise ValidationError("The current password is not right.", field="current_password")
    if current_password == new_password:
        raise ValidationError(
            "The new password must differ from the current one.", field="new_password"
        )
    user.password_hash = hash_password(new_password)
    audit.record(
        session, actor=user, action="user.password_change", record=user, entity_type="user"
    )
    end_sessions(session, user=user, actor=user, reason="password changed")
