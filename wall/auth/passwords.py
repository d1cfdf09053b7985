"""Password hashing (argon2id, argon2-cffi's defaults) and the site's password policy.

The policy checks what can be checked without the user's history (length, character classes, not the user's
name, and zxcvbn's strength estimate: ``Password123`` mixes three classes yet is among the first guesses of any
attacker's dictionary); ``reused`` checks a new password against earlier hashes. Messages are short English
sentences the API and the command line show as they are; they never repeat the password.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from wall.security_settings import SecuritySettings

_HASHER = PasswordHasher()
_DUMMY_HASH: str | None = None
ZXCVBN_MAX_LENGTH = 72
MAX_LENGTH = 256  # argon2 takes any length; a cap keeps a megabyte "password" from costing a megabyte of work


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def burn_time(password: str) -> None:
    """Spend what a real verification costs, so that an unknown user name answers as slowly as a known one."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _HASHER.hash("citywall-no-such-user")
    verify_password(_DUMMY_HASH, password)


def character_classes(password: str) -> int:
    """Lower-case ASCII letters, upper-case ASCII letters, digits, and everything else (punctuation, spaces,
    Chinese characters…)."""
    classes = [
        any(c in string.ascii_lowercase for c in password),
        any(c in string.ascii_uppercase for c in password),
        any(c in string.digits for c in password),
        any(not (c.isascii() and c.isalnum()) for c in password),
    ]
    return sum(classes)


def policy_problems(password: str, settings: SecuritySettings, username: str | None = None) -> list[str]:
    problems: list[str] = []
    if len(password) < settings.password_min_length:
        problems.append(f"the password must have at least {settings.password_min_length} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"the password must have at most {MAX_LENGTH} characters")
    if character_classes(password) < settings.password_classes:
        problems.append(
            f"the password must mix at least {settings.password_classes} of: lower case, upper case, digits, "
            "other characters"
        )
    if username and len(username) >= 4 and username.casefold() in password.casefold():
        problems.append("the password must not contain the user name")
    if not problems and settings.password_min_score > 0:
        problems += _strength_problems(password, settings.password_min_score, username)
    return problems


def _strength_problems(password: str, min_score: int, username: str | None) -> list[str]:
    """zxcvbn (Dropbox's estimator: dictionaries of common passwords, names and words, keyboard patterns, dates,
    l33t substitutions); its warning says why, never the password."""
    # zxcvbn refuses more than 72 characters (its matching grows fast with length); the first 72 are judged
    result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=[username] if username else [])
    if result["score"] >= min_score:
        return []
    warning = result["feedback"].get("warning") or "it is easy to guess"
    return [f"the password is too easy to guess ({warning.rstrip('.')}): use a longer or less common one"]


def reused(password: str, earlier_hashes: Iterable[str]) -> bool:
    return any(verify_password(h, password) for h in earlier_hashes)
