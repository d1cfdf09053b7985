"""Logins an attacker cannot turn against the owner (issue 16, finding 5), on the real app over a real socket.

Before: five failed logins for a name from any address locked that account for 15 minutes (the admin's too),
``PUT /api/me/password`` had no throttle, ``Password123`` passed the policy, and ``X-Forwarded-For`` from
127.0.0.1 was believed, so a local process could rotate its address. Now failures count per account and
address: only those from the account's usual addresses (where it logged in before) lock it fast, a much higher
total locks it too, and any other address only has to wait, longer after each failure. Time is moved through
the service's clock (``Services.clock``) instead of waited for.

The sites here trust 127.0.0.1 as a proxy (``server.trusted_proxies``) so that ``X-Forwarded-For`` can play the
owner's desk and the attacker's machines; the last test checks that nothing is believed without that setting.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import TEST_PASSWORD, Clock, LiveServer, SiteStarter
from tests.test_access import audit_rows, offline_cameras

OWNER_DESK = "10.1.2.3"
ATTACKER = "203.0.113.9"
BEHIND_PROXY = 'server:\n  trusted_proxies: ["127.0.0.1"]\n'


def site_with_clock(serve_site: SiteStarter, server_yaml: str = BEHIND_PROXY) -> tuple[LiveServer, Clock]:
    site = serve_site(offline_cameras("car"), server_yaml)
    clock = Clock()
    clock.install(site)
    site.add_user("lee", "operator")
    return site, clock


def login_from(site: LiveServer, address: str | None) -> Callable[[str, str], httpx.Response]:
    anon = site.client(None)
    headers = {"X-Forwarded-For": address} if address else {}

    def login(name: str, password: str) -> httpx.Response:
        return anon.post("/api/session", json={"username": name, "password": password}, headers=headers)

    return login


def test_a_stranger_who_knows_the_name_only_slows_down_and_never_locks_the_owner_out(
        serve_site: SiteStarter) -> None:
    site, clock = site_with_clock(serve_site)
    owner, attacker = login_from(site, OWNER_DESK), login_from(site, ATTACKER)
    assert owner("lee", TEST_PASSWORD).status_code == 200  # the owner's desk becomes a usual address

    # three failures from elsewhere are plain 401s; then that address waits 2 s, 4 s, 8 s … (at most 60 s)
    assert [attacker("lee", f"Guess-{i}-x9Q").status_code for i in range(3)] == [401, 401, 401]
    waits = []
    for _ in range(8):
        refused = attacker("lee", "Guess-x9Q")
        assert refused.status_code == 429, refused.text
        waits.append(int(refused.headers["retry-after"]))
        assert attacker("lee", TEST_PASSWORD).status_code == 429, "even the right password waits"
        clock.advance(waits[-1])
        assert attacker("lee", "Guess-again-x9Q").status_code == 401  # after the wait: one more try, and it fails
    assert waits == [2, 4, 8, 16, 32, 60, 60, 60], waits

    # meanwhile the owner logs in from the usual desk as always: 19 failures from elsewhere locked nothing
    assert owner("lee", TEST_PASSWORD).status_code == 200
    report = site.client().get("/api/users/lee/logins").json()
    assert report["locked_out_until"] is None and report["usual_addresses"] == [OWNER_DESK]
    [stranger] = report["failures"]
    assert (stranger["address"], stranger["usual"]) == (ATTACKER, False)
    assert stranger["failures"] == 11 and stranger["waits_until"] is not None
    delayed = [r for r in audit_rows(site, user="lee", action="login")
               if not r["success"] and r["detail"]["reason"] == "delayed"]
    assert len(delayed) == 16 and {r["address"] for r in delayed} == {ATTACKER}


def test_failures_from_a_usual_address_lock_and_the_admin_sees_why_and_unlocks(serve_site: SiteStarter) -> None:
    site, clock = site_with_clock(serve_site)
    owner = login_from(site, OWNER_DESK)
    assert owner("lee", TEST_PASSWORD).status_code == 200
    assert [owner("lee", f"Typo-{i}-x9Q").status_code for i in range(5)] == [401] * 5
    locked = owner("lee", TEST_PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) == 900
    listed = {u["name"]: u for u in site.client().get("/api/users").json()}
    assert listed["lee"]["locked_out_reason"] == "5 failed logins from its usual addresses within 15 min"
    report = site.client().get("/api/users/lee/logins").json()
    assert report["reason"] == listed["lee"]["locked_out_reason"] and report["locked_out_until"]
    assert report["failures"] == [{"address": OWNER_DESK, "failures": 5, "last_at": report["failures"][0]["last_at"],
                                   "usual": True, "waits_until": None}]
    assert site.client(None).get("/api/users/lee/logins").status_code == 401
    assert site.client("lee").get("/api/users/lee/logins").status_code == 403

    clock.advance(899)
    assert owner("lee", TEST_PASSWORD).status_code == 429
    assert site.client().patch("/api/users/lee", json={"locked": False}).status_code == 200
    assert owner("lee", TEST_PASSWORD).status_code == 200
    assert audit_rows(site, action="lockout", target="user:lee")[0]["detail"]["reason"] == report["reason"]


def test_a_spread_attack_locks_after_the_much_higher_total(serve_site: SiteStarter) -> None:
    site, _clock = site_with_clock(serve_site, BEHIND_PROXY + "security:\n  lockout_total_failures: 12\n")
    assert login_from(site, OWNER_DESK)("lee", TEST_PASSWORD).status_code == 200
    bots = [login_from(site, f"198.51.100.{i}") for i in range(12)]
    assert [bot("lee", "Guess-x9Q").status_code for bot in bots] == [401] * 12
    locked = login_from(site, OWNER_DESK)("lee", TEST_PASSWORD)
    assert locked.status_code == 429
    listed = {u["name"]: u for u in site.client().get("/api/users").json()}
    assert listed["lee"]["locked_out_reason"] == "12 failed logins from any addresses within 15 min"


def test_one_address_trying_many_names_is_refused(serve_site: SiteStarter) -> None:
    site, clock = site_with_clock(serve_site, BEHIND_PROXY + "security:\n  address_failures: 6\n")
    sprayer = login_from(site, ATTACKER)
    assert [sprayer(f"user{i}", "Spring2026!x").status_code for i in range(6)] == [401] * 6
    refused = sprayer("lee", TEST_PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) == 900
    assert login_from(site, OWNER_DESK)("lee", TEST_PASSWORD).status_code == 200, "only that address is refused"
    assert audit_rows(site, action="lockout", target=f"address:{ATTACKER}")
    clock.advance(901)
    assert sprayer("lee", TEST_PASSWORD).status_code == 200


def test_the_password_change_is_throttled_like_a_login_and_audited(serve_site: SiteStarter) -> None:
    site, _clock = site_with_clock(serve_site)
    desk = httpx.Client(base_url=site.url, timeout=20, headers={"X-Forwarded-For": OWNER_DESK})
    assert desk.post("/api/session", json={"username": "lee", "password": TEST_PASSWORD}).status_code == 200

    def change(current: str) -> httpx.Response:
        return desk.put("/api/me/password", json={"current_password": current, "new_password": "Brisk-harbour-71"},
                        headers={"Origin": site.origin})

    assert [change(f"Wrong-{i}-x9Q").status_code for i in range(5)] == [403] * 5
    blocked = change(TEST_PASSWORD)
    assert blocked.status_code == 429, blocked.text
    rows = audit_rows(site, user="lee", action="user.password")
    assert len(rows) == 6 and not any(r["success"] for r in rows)
    assert [r["detail"]["reason"] for r in rows].count("wrong current password") == 5
    assert audit_rows(site, action="lockout", target="user:lee")


def test_the_policy_knows_the_attackers_dictionary(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("car"))
    admin = site.client(headers={"Origin": site.origin})
    for weak in ("Password123", "Qwerty12345", "Iloveyou123", "Passw0rd!23", "Admin123456"):
        res = admin.post("/api/users", json={"name": "lee", "role": "operator", "password": weak})
        assert res.status_code == 400, (weak, res.text)  # 10+ characters of 3 classes, yet among the first guesses
        assert weak not in res.text
    ok = admin.post("/api/users", json={"name": "lee", "role": "operator", "password": "Brisk-harbour-71"})
    assert ok.status_code == 201, ok.text


def test_forwarded_addresses_are_believed_only_from_a_configured_proxy(serve_site: SiteStarter) -> None:
    site, _clock = site_with_clock(serve_site, "")  # no trusted_proxies: the default
    rotating = site.client(None)
    statuses = [rotating.post("/api/session", json={"username": "lee", "password": f"Guess-{i}-x9Q"},
                              headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429], "one address (the socket's), however the header rotates"
    rows = [r for r in audit_rows(site, user="lee", action="login") if not r["success"]]
    assert {r["address"] for r in rows} == {"127.0.0.1"}
