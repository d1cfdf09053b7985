"""The settings of accounts, logins and live views (``security:`` and ``server.live`` in server.yaml).

Kept apart from ``wall.config`` (which re-exports them) because they are what the hardening of issue 16 tunes:
who may try how often, when an account locks, which sessions idle out, how many live sockets one user, one
session and the whole server may hold, and which proxies may say where a request came from.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, model_validator

from settings.model import Strict


def check_networks(value: list[str]) -> list[str]:
    """Each item an IP address or a CIDR network (``10.0.0.0/8``)."""
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"'{item}' is not an IP address or network like 10.0.0.0/8") from None
    return value


class SecuritySettings(Strict):
    """Accounts, sessions and the audit log. The defaults follow the usual reading of 等保 2.0 level 3: 5 failed
    logins in 15 minutes lock the account for 15 minutes, idle sessions end after 30 minutes, passwords of 10
    characters from 3 classes, audit kept at least 180 days. Only failures from an account's usual addresses
    (where it logged in before) lock it that fast; failures from elsewhere slow that address down instead, so a
    stranger who knows a user name cannot lock its owner out."""

    session_idle_seconds: int = Field(default=1800, ge=1, le=86400,
                                      description="A session not used for this long ends (idle timeout). Use is "
                                      "what the user does; a page's own polling and live video do not count "
                                      "(except for display_roles).")
    session_absolute_seconds: int = Field(default=43200, ge=1, le=2592000,
                                          description="A session ends this long after login whatever its use.")
    display_roles: list[str] = Field(
        default_factory=lambda: ["viewer"],
        description="Roles whose pages are displays nobody touches (hall kiosks: a viewer account per display): "
        "their pages' own traffic keeps the session from idling out; session_absolute_seconds still ends it.",
    )
    lockout_failures: int = Field(default=5, ge=1, le=100,
                                  description="Failed logins of one account from its usual addresses (where it "
                                  "logged in successfully before) within the window that lock it.")
    lockout_total_failures: int = Field(
        default=100, ge=1, le=100000,
        description="Failed logins of one account from any addresses within the window that lock it (a spread "
        "attack); below this, failures from unusual addresses only slow those addresses down.",
    )
    lockout_window_seconds: int = Field(default=900, ge=1, le=86400, description="The window failures count in.")
    lockout_seconds: int = Field(default=900, ge=1, le=86400,
                                 description="How long a locked account (or a throttled address) is refused.")
    address_failures: int = Field(
        default=20, ge=1, le=10000,
        description="Failed logins from one client address within the window (any accounts) that make the "
        "service refuse logins from that address for lockout_seconds.",
    )
    delay_after_failures: int = Field(
        default=3, ge=1, le=100,
        description="Failed logins of one account from one unusual address after which that address must wait "
        "before its next try: delay_seconds, doubling with each further failure up to delay_max_seconds.",
    )
    delay_seconds: float = Field(default=2.0, gt=0, le=3600, description="The first wait (see delay_after_failures).")
    delay_max_seconds: float = Field(default=60.0, gt=0, le=86400, description="The longest wait.")
    usual_address_days: int = Field(default=90, ge=1, le=3650,
                                    description="An address stays one of an account's usual addresses this long "
                                    "after its last successful login from it.")
    password_min_length: int = Field(default=10, ge=8, le=128, description="Shortest password accepted.")
    password_classes: int = Field(
        default=3, ge=1, le=4,
        description="Character classes a password must mix: lower case, upper case, digits, other.",
    )
    password_min_score: int = Field(
        default=2, ge=0, le=4,
        description="Least zxcvbn strength score (0-4; 2: safe from throttled online guessing) next to the length "
        "and class rules: dictionary words, common passwords, keyboard walks and the user's name score low.",
    )
    password_history: int = Field(default=5, ge=0, le=24,
                                  description="A new password may not equal any of the user's last N passwords.")
    audit_retention_days: int = Field(
        default=180, ge=180, le=36500,
        description="Audit rows older than this may be purged (citywall audit purge); never less than 180.",
    )

    @model_validator(mode="after")
    def _delays(self) -> SecuritySettings:
        if self.delay_max_seconds < self.delay_seconds:
            raise ValueError("delay_max_seconds must be at least delay_seconds")
        return self


class LiveLimits(Strict):
    """How many live-video WebSockets (``/ws/live``, one per tile) may be open at once. A socket over a limit is
    closed at once with code 4429 and a reason naming the limit; the tile shows it and tries again later. The
    defaults fit a seat with a 3×6 wall plus a maximised tile, twice over (18 + 6 spare per session; two seats
    per user). ``renditions`` caps the H.264 transcodes of H.265 cameras this box makes for browsers without an
    HEVC decoder (a tile past it is closed with 4430 and shows stills)."""

    per_session: int = Field(default=24, ge=1, le=10000, description="Live sockets of one login session.")
    per_user: int = Field(default=48, ge=1, le=10000, description="Live sockets of one user, all sessions.")
    total: int = Field(default=400, ge=1, le=100000, description="Live sockets of the whole server.")
    renditions: int = Field(
        default=4, ge=0, le=1000,
        description="H.264 renditions this box makes at once of cameras in another codec (H.265), for browsers "
                    "that cannot decode it; one per camera and tile size, shared by all its viewers. A tile past "
                    "the cap shows stills and says why. 0: never transcode.")
    rendition_kbps: int = Field(
        default=4000, ge=300, le=50000,
        description="Bitrate ceiling of one H.264 rendition at 1920×1080, in kbit/s; a smaller tile gets its "
                    "share by pixels (a 960×540 tile a quarter), never below 150. Every viewer of a rendition "
                    "receives this much at most.")


TRUSTED_PROXIES_HELP = (
    "Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers say "
    "where a request came from; from any other peer those headers are ignored (default: none, so a local "
    "process cannot pretend to come from another address)."
)
