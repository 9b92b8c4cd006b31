"""Users, roles, passwords (Argon2id) and bearer tokens (stored only as SHA-256 digests)."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError

from cityops.cases.models import Actor, Role
from cityops.errors import Conflict, InvalidInput, NotFound, Unauthorized
from cityops.store.base import Repo, User

_hasher = PasswordHasher()
MIN_PASSWORD = 8
TOKEN_LIFETIME = timedelta(days=30)
# A dummy hash keeps the time of a login for an unknown user like that of a wrong password.
# Made on the first login, not at import: a CLI command should not pay a hash to start.
_DUMMY: str | None = None


def _dummy_hash() -> str:
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = _hasher.hash("cityops-dummy-password")
    return _DUMMY


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"password must have at least {MIN_PASSWORD} characters", f"密码至少 {MIN_PASSWORD} 位"
        )
    return _hasher.hash(password)


def parse_role(role: str) -> Role:
    try:
        value = Role(role)
    except ValueError:
        names = ", ".join(r.value for r in Role if r is not Role.SYSTEM)
        raise InvalidInput(f"unknown role '{role}'; use one of: {names}", f"未知角色 {role}") from None
    if value is Role.SYSTEM:
        raise InvalidInput("the system role cannot be given to a user", "不能创建系统角色用户")
    return value


def normalize_name(name: str) -> str:
    """The one spelling a user name is stored and looked up under: NFKC then case-folded, so
    look-alikes (full-width ａｄｍｉｎ, ADMIN) are the same name and cannot be created twice."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def find_user(repo: Repo, name: str) -> User | None:
    """The user under the normalised name (or, for a database from before normalisation, as
    typed)."""
    return repo.get_user(normalize_name(name)) or repo.get_user(name)


def new_user(name: str, role: str, department: str | None, password: str, known_departments: set[str]) -> User:
    value = parse_role(role)
    name = normalize_name(name)
    if not name or len(name) > 64 or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise InvalidInput(
            "user name must be 1-64 letters, digits, '.', '-' or '_'", "用户名须为 1-64 位字母、数字或 . - _"
        )
    if value is Role.DEPARTMENT:
        if not department:
            raise InvalidInput("a department operator needs --department CODE", "处置单位用户必须指定单位")
        if department not in known_departments:
            raise InvalidInput(f"unknown department '{department}'", f"未知的处置单位 {department}")
    elif department:
        raise InvalidInput("only department operators belong to a department", "只有处置单位用户才属于单位")
    return User(name, value.value, department, hash_password(password))


def authenticate(repo: Repo, name: str, password: str) -> User:
    user = find_user(repo, name)
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError):
        user = None
    if user is None or not user.active:
        raise Unauthorized("wrong user name or password", "用户名或密码错误")
    return user


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(repo: Repo, name: str, now: datetime, lifetime: timedelta | None = TOKEN_LIFETIME) -> str:
    user = find_user(repo, name)
    if user is None:
        raise NotFound(f"no user '{name}'", f"用户 {name} 不存在")
    if not user.active:
        raise Conflict(f"user '{user.name}' is disabled", f"用户 {user.name} 已停用")
    token = "cot_" + secrets.token_urlsafe(32)
    repo.add_token(token_digest(token), user.name, now, now + lifetime if lifetime else None)
    return token


# Offboarding: each change takes effect at once, since every token of the user goes with it.
def _existing(repo: Repo, name: str) -> User:
    user = find_user(repo, name)
    if user is None:
        raise NotFound(f"no user '{name}'", f"用户 {name} 不存在")
    return user


def set_active(repo: Repo, name: str, active: bool) -> int:
    """Disable (or re-enable) a user; disabling revokes every token. Returns tokens revoked."""
    user = _existing(repo, name)
    repo.set_user_active(user.name, active)
    return 0 if active else repo.revoke_tokens(user_name=user.name)


def set_password(repo: Repo, name: str, password: str) -> int:
    """A new password; every token issued under the old one is revoked. Returns how many."""
    user = _existing(repo, name)
    repo.set_password(user.name, hash_password(password))
    return repo.revoke_tokens(user_name=user.name)


def remove_user(repo: Repo, name: str) -> int:
    """Delete the user and every token of theirs (their history entries keep their name)."""
    user = _existing(repo, name)
    gone = repo.revoke_tokens(user_name=user.name)
    repo.remove_user(user.name)
    return gone


def purge_expired_tokens(repo: Repo, platform: object, now: datetime) -> int:
    """Delete the tokens past their expiry (already refused), so the table does not grow
    without end. The server runs it with its minute's sweep."""
    return repo.purge_expired_tokens(now)


def actor_for_token(repo: Repo, token: str, now: datetime) -> Actor:
    user = repo.user_for_token(token_digest(token), now)
    if user is None:
        raise invalid_token()
    return to_actor(user)


def invalid_token() -> Unauthorized:
    return Unauthorized("invalid or expired token", "令牌无效或已过期")


def to_actor(user: User) -> Actor:
    return Actor(user.name, Role(user.role), user.department)
