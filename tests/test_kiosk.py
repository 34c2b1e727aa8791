"""Kiosk tokens of the unattended wall (services/kiosk.py) on both stores: a token gives the read-only
wall principal of its screen, a new token for the screen ends the old one, revoking ends it, malformed
and unknown tokens give nothing, the list never shows a token or its hash, the use is noted at most once
a minute, everything is audited, and the CLI (python -m services.access kiosk-url | revoke-kiosk | kiosks)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services import accounts, audit, kiosk
from services.access import Principal
from services.errors import NotFound, ValidationError
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES, reset_store

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


def _url(store) -> str:
    return store.url if isinstance(store, SQLiteStore) else f"{store.url}?schema={store.schema}"


def test_issue_gives_the_wall_principal_of_the_screen_and_a_new_token_ends_the_old(store):
    first = kiosk.issue(store, "lobby-1", actor="admin", address="10.0.0.5", at=T0)
    assert len(first) >= 43 and kiosk.principal(store, first) == Principal("kiosk:lobby-1", "wall")
    other = kiosk.issue(store, "hall_2", actor="admin", at=T0)
    second = kiosk.issue(store, "lobby-1", actor="admin", at=T0 + timedelta(minutes=5))
    assert second != first
    assert kiosk.principal(store, first) is None                       # replaced
    assert kiosk.principal(store, second) == Principal("kiosk:lobby-1", "wall")
    assert kiosk.principal(store, other) == Principal("kiosk:hall_2", "wall")   # other screens untouched
    df = kiosk.screens(store)
    assert df[["screen", "active"]].values.tolist() == [["hall_2", True], ["lobby-1", False], ["lobby-1", True]]
    old = df[(df["screen"] == "lobby-1") & ~df["active"]].iloc[0]
    assert old["revoked_by"] == "admin" and old["revoked_at"] == T0 + timedelta(minutes=5)


def test_revoke_ends_the_token_and_a_screen_without_one_is_not_found(store):
    token = kiosk.issue(store, "lobby", actor="admin")
    kiosk.revoke(store, "lobby", actor="admin", address="10.0.0.5")
    assert kiosk.principal(store, token) is None
    with pytest.raises(NotFound, match="no active kiosk token"):
        kiosk.revoke(store, "lobby", actor="admin")
    with pytest.raises(NotFound):
        kiosk.revoke(store, "never", actor="admin")
    assert kiosk.screens(store)["active"].tolist() == [False]


def test_malformed_and_unknown_tokens_give_no_principal(store):
    kiosk.issue(store, "lobby", actor="admin")
    for bad in (None, "", "short", "x" * 43, "a" * 500, "bad token with spaces and more than forty chars!!",
                "../../etc/passwd" + "a" * 40, 12345):
        assert kiosk.principal(store, bad) is None  # type: ignore[arg-type]


def test_screen_names_are_checked(store):
    for bad in ("", "lobby 1", "大厅", "a" * 65, "a/b"):
        with pytest.raises(ValidationError, match="screen name"):
            kiosk.issue(store, bad, actor="admin")
    assert kiosk.screens(store).empty


def test_the_list_never_holds_a_token_or_its_hash(store):
    token = kiosk.issue(store, "lobby", actor="admin")
    df = kiosk.screens(store)
    assert "token_hash" not in df and "token" not in df
    text = df.to_csv()
    assert token not in text and kiosk.token_hash(token) not in text
    assert token not in store.audit_rows().to_csv()


def test_last_seen_is_written_at_most_once_a_minute(store):
    token = kiosk.issue(store, "lobby", actor="admin", at=T0)
    assert kiosk.principal(store, token, now=T0 + timedelta(seconds=1))
    assert kiosk.screens(store)["last_seen_at"].iloc[0] == T0 + timedelta(seconds=1)
    kiosk.principal(store, token, now=T0 + timedelta(seconds=30))
    assert kiosk.screens(store)["last_seen_at"].iloc[0] == T0 + timedelta(seconds=1)
    kiosk.principal(store, token, now=T0 + timedelta(seconds=61))
    assert kiosk.screens(store)["last_seen_at"].iloc[0] == T0 + timedelta(seconds=61)


def test_issue_and_revoke_are_audited_and_the_chain_holds(store):
    kiosk.issue(store, "lobby", actor="admin", address="10.0.0.5")
    kiosk.revoke(store, "lobby", actor="admin", address="10.0.0.5")
    log = store.audit_rows(object_kind="kiosk")
    assert log["action"].tolist() == ["kiosk_issued", "kiosk_revoked"]
    assert log["object_id"].tolist() == ["lobby", "lobby"] and log["actor"].tolist() == ["admin", "admin"]
    assert log["address"].tolist() == ["10.0.0.5"] * 2
    assert audit.verify(store) == (True, None)


def test_at_most_one_active_token_per_screen_in_the_database(store):
    store.insert_kiosk_token("lobby", "h1", created_by="admin")
    with pytest.raises(Exception), store._tx() as cx:  # noqa: B017 - either driver's integrity error
        cx.execute(f"INSERT INTO kiosk_token (screen, token_hash, created_at, created_by) "
                   f"VALUES ({store.P}, {store.P}, {store.P}, {store.P})",
                   ("lobby", "h2", store._param_ts(T0), "admin"))
    assert len(store.list_kiosk_tokens()) == 1


def test_url_puts_the_token_on_the_wall_page():
    assert kiosk.url("http://127.0.0.1:8501", "abc") == "http://127.0.0.1:8501/wall?mode=wall&kiosk=abc"
    assert kiosk.url("https://gm.example/cc/", "abc") == "https://gm.example/cc/wall?mode=wall&kiosk=abc"


def test_cli_kiosk_url_revoke_kiosk_kiosks(store, capsys):
    url = _url(store)
    assert accounts.main(["--store", url, "kiosk-url", "--screen", "lobby"]) == 0
    out = capsys.readouterr().out
    assert "no longer works" in out
    link = out.strip().splitlines()[-1]
    assert link.startswith(f"{kiosk.DEFAULT_BASE_URL}/wall?mode=wall&kiosk=")
    token = link.split("kiosk=")[1]
    assert kiosk.principal(store, token) == Principal("kiosk:lobby", "wall")
    assert accounts.main(["--store", url, "kiosk-url", "--screen", "lobby", "--base-url", "https://x.cn/"]) == 0
    newer = capsys.readouterr().out.strip().splitlines()[-1]
    assert newer.startswith("https://x.cn/wall?mode=wall&kiosk=") and kiosk.principal(store, token) is None
    assert accounts.main(["--store", url, "kiosks"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(x[0], x[1]) for x in lines] == [("lobby", "revoked"), ("lobby", "active")]
    assert accounts.main(["--store", url, "revoke-kiosk", "--screen", "lobby"]) == 0
    assert kiosk.principal(store, newer.split("kiosk=")[1]) is None
    assert accounts.main(["--store", url, "revoke-kiosk", "--screen", "lobby"]) == 1
    assert "no active kiosk token" in capsys.readouterr().err
    assert accounts.main(["--store", url, "kiosk-url", "--screen", "bad name"]) == 1
    assert all(a.startswith("cli") for a in store.audit_rows(object_kind="kiosk")["actor"])
