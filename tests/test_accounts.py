"""Local accounts (services/accounts.py) on both stores: adding with role and area checked, argon2
hashes, sign-in that tells nothing about who exists, throttling and its end, disabled accounts, the
first admin, the audit trail of every account event, and the CLI (python -m services.access)."""

from __future__ import annotations

import io
import stat
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services import accounts, audit
from services.access import Forbidden
from services.accounts import SignInFailed
from services.errors import NotFound, ValidationError, describe
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES, reset_store

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
PW = "correct horse battery"
SUBDISTRICT, COMMUNITY, DEPARTMENT = "440311001", "440311001001", "police"


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


def _url(store) -> str:
    return store.url if isinstance(store, SQLiteStore) else f"{store.url}?schema={store.schema}"


def test_add_user_checks_name_role_and_area_and_keeps_only_an_argon2_hash(store):
    acc, generated = accounts.add_user(store, "zhang.wei", "community_dispatcher", area_code=COMMUNITY,
                                       display_name="张伟", password=PW, actor="admin")
    assert generated is None and (acc.role, acc.area_code, acc.display_name) == ("community_dispatcher", COMMUNITY,
                                                                                "张伟")
    row = store.get_account("zhang.wei")
    assert row["password_hash"].startswith("$argon2id$") and PW not in row["password_hash"]
    assert not row["disabled"] and row["failed_attempts"] == 0
    _, generated = accounts.add_user(store, "li", "leader", actor="admin")
    assert generated and len(generated) >= 20 and accounts.authenticate(store, "li", generated).role == "leader"
    accounts.add_user(store, "sd", "subdistrict_officer", area_code=SUBDISTRICT, password=PW)
    accounts.add_user(store, "pol", "department_officer", area_code=DEPARTMENT, password=PW)
    with pytest.raises(ValidationError, match="exists already"):
        accounts.add_user(store, "li", "leader", password=PW)
    with pytest.raises(ValidationError, match="needs an area"):
        accounts.add_user(store, "c2", "community_dispatcher", password=PW)
    with pytest.raises(ValidationError, match="no community with code '440311001'"):
        accounts.add_user(store, "c2", "community_dispatcher", area_code=SUBDISTRICT, password=PW)
    with pytest.raises(ValidationError, match="takes no area"):
        accounts.add_user(store, "d2", "duty_officer", area_code=SUBDISTRICT, password=PW)
    with pytest.raises(Forbidden, match="unknown role"):
        accounts.add_user(store, "x", "superuser", password=PW)
    with pytest.raises(ValidationError, match="account name"):
        accounts.add_user(store, "张 伟", "leader", password=PW)
    with pytest.raises(ValidationError, match="at least 12"):
        accounts.add_user(store, "short", "leader", password="abc")
    assert store.list_accounts()["name"].tolist() == ["li", "pol", "sd", "zhang.wei"]
    assert "password_hash" not in store.list_accounts()


def test_sign_in_ok_wrong_and_unknown_say_the_same_and_are_audited(store):
    accounts.add_user(store, "zhang", "duty_officer", password=PW, actor="admin")
    acc = accounts.authenticate(store, "zhang", PW, "10.1.2.3", now=T0)
    assert acc.name == "zhang" and acc.role == "duty_officer"
    with pytest.raises(SignInFailed) as wrong:
        accounts.authenticate(store, "zhang", "wrong password!", "10.1.2.3", now=T0)
    with pytest.raises(SignInFailed) as unknown:
        accounts.authenticate(store, "nobody", PW, "10.1.2.3", now=T0)
    assert describe(wrong.value, "zh") == describe(unknown.value, "zh") == "用户名或密码错误"
    assert str(wrong.value) == str(unknown.value) == "wrong name or password"
    log = store.audit_rows()
    assert log["action"].tolist() == ["account_created", "sign_in", "sign_in_failed", "sign_in_failed"]
    assert log["actor"].tolist() == ["admin", "zhang", "anonymous", "anonymous"]
    assert log["address"].tolist()[1:] == ["10.1.2.3"] * 3 and log["object_id"].tolist()[-1] == "nobody"
    assert not any(PW in str(v) for v in log["detail"])
    assert audit.verify(store) == (True, None)


def test_repeated_failures_lock_until_a_time_then_sign_in_works_again(store):
    accounts.add_user(store, "zhang", "duty_officer", password=PW)
    rules = accounts.account_rules()
    n, minutes = int(rules["lock_after_failures"]), int(rules["lock_minutes"])
    for i in range(n):
        with pytest.raises(SignInFailed, match="wrong name or password"):
            accounts.authenticate(store, "zhang", "not the password", now=T0 + timedelta(seconds=i))
    until = T0 + timedelta(seconds=n - 1, minutes=minutes)
    with pytest.raises(SignInFailed) as locked:                    # even the right password, while locked
        accounts.authenticate(store, "zhang", PW, now=T0 + timedelta(minutes=1))
    assert str(locked.value) == f"too many failed sign-ins; try again at {until:%H:%M}"
    assert describe(locked.value, "zh") == f"登录失败次数过多，请于 {until:%H:%M} 后再试"
    acc = accounts.authenticate(store, "zhang", PW, now=until + timedelta(seconds=1))
    assert acc.name == "zhang"
    row = store.get_account("zhang")
    assert row["failed_attempts"] == 0 and row["locked_until"] is None
    assert "sign_in_refused" in store.audit_rows()["action"].tolist()


def test_a_disabled_account_is_refused_with_the_same_words(store):
    accounts.add_user(store, "zhang", "duty_officer", password=PW)
    assert accounts.disable(store, "zhang", actor="admin").disabled
    with pytest.raises(SignInFailed, match="wrong name or password"):
        accounts.authenticate(store, "zhang", PW)
    assert store.audit_rows()["detail"].iloc[-1] == '{"reason":"disabled"}'
    with pytest.raises(NotFound):
        accounts.disable(store, "ghost", actor="admin")


def test_set_password_change_and_rehash(store, monkeypatch):
    accounts.add_user(store, "zhang", "duty_officer", password=PW)
    generated = accounts.set_password(store, "zhang", actor="admin")
    assert generated and accounts.authenticate(store, "zhang", generated).name == "zhang"
    with pytest.raises(SignInFailed):
        accounts.authenticate(store, "zhang", PW)
    assert accounts.set_password(store, "zhang", PW, actor="admin") is None
    acc = accounts.change_account(store, "zhang", role="subdistrict_officer", area_code=SUBDISTRICT, actor="admin")
    assert (acc.role, acc.area_code) == ("subdistrict_officer", SUBDISTRICT)
    with pytest.raises(ValidationError, match="needs an area"):
        accounts.change_account(store, "zhang", role="community_dispatcher", actor="admin")
    changed = store.audit_rows(object_id="zhang")
    assert [a for a in changed["action"] if a != "sign_in" and a != "sign_in_failed"] == \
        ["account_created", "password_set", "password_set", "account_changed"]
    # A hash made with weaker parameters is replaced at the next good sign-in.
    from argon2 import PasswordHasher

    store.update_account("zhang", password_hash=PasswordHasher(time_cost=1, memory_cost=8192).hash(PW))
    old = store.get_account("zhang")["password_hash"]
    accounts.authenticate(store, "zhang", PW)
    new = store.get_account("zhang")["password_hash"]
    assert new != old and "m=65536" in new


def test_ensure_admin_once_with_a_random_password_in_an_owner_only_file(store, tmp_path, capsys):
    var = tmp_path / "var"
    password = accounts.ensure_admin(store, var)
    path = var / "first-admin-password.txt"
    assert password and path.read_text().split() == ["admin", password]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert password in capsys.readouterr().out
    assert accounts.authenticate(store, "admin", password).role == "admin"
    assert accounts.ensure_admin(store, var) is None and store.account_count() == 1   # not twice
    assert capsys.readouterr().out == ""
    other = accounts.new_password()
    assert other != password                                                          # random, not fixed


def test_cli_add_user_set_password_disable_list(store, capsys, monkeypatch):
    url = _url(store)
    assert accounts.main(["--store", url, "add-user", "wang", "--role", "community_dispatcher",
                          "--area", COMMUNITY]) == 0
    out = capsys.readouterr().out
    generated = out.split("password (shown once): ")[1].strip()
    assert accounts.authenticate(store, "wang", generated).area_code == COMMUNITY
    monkeypatch.setattr("sys.stdin", io.StringIO(PW + "\n"))
    assert accounts.main(["--store", url, "set-password", "wang", "--password-stdin"]) == 0
    assert "shown once" not in capsys.readouterr().out
    assert accounts.authenticate(store, "wang", PW).name == "wang"
    monkeypatch.setattr("sys.stdin", io.StringIO(PW + "\n"))
    assert accounts.main(["--store", url, "add-user", "zhao", "--role", "leader", "--password-stdin"]) == 0
    assert accounts.main(["--store", url, "add-user", "bad", "--role", "community_dispatcher"]) == 1
    assert "needs an area" in capsys.readouterr().err
    assert accounts.main(["--store", url, "disable", "zhao"]) == 0
    capsys.readouterr()
    assert accounts.main(["--store", url, "list"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(x[0], x[1], x[-1]) for x in lines] == [("wang", "community_dispatcher", "active"),
                                                    ("zhao", "leader", "disabled")]
    assert any(a.startswith("cli") for a in store.audit_rows()["actor"])


def test_python_m_services_access_runs_the_cli(tmp_path):
    import subprocess
    import sys

    from services.config import REPO_ROOT

    url = f"sqlite:///{tmp_path}/gm.sqlite3"
    done = subprocess.run([sys.executable, "-m", "services.access", "--store", url, "list"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_sign_in_is_throttled_per_address_whatever_the_names_tried(store):
    accounts.add_user(store, "he", "leader", password=PW)
    limit = int(accounts.account_rules()["address_failures"])
    window = timedelta(minutes=float(accounts.account_rules()["address_window_minutes"]))
    address = f"10.77.{id(store) % 250}.9"                     # an address of this test only
    for i in range(limit):                                       # one guess per name: no account locks
        with pytest.raises(SignInFailed, match="wrong name or password"):
            accounts.authenticate(store, f"name{i}", "guess-guess-guess", address, now=T0 + timedelta(seconds=i))
    with pytest.raises(SignInFailed) as refused:               # now even the right password is refused
        accounts.authenticate(store, "he", PW, address, now=T0 + timedelta(minutes=1))
    assert describe(refused.value, "zh") == f"此地址登录失败次数过多，请于 {T0 + window:%H:%M} 后再试"
    assert accounts.authenticate(store, "he", PW, "10.77.0.1", now=T0 + timedelta(minutes=1)).name == "he"
    assert store.get_account("he")["failed_attempts"] == 0     # the refusal touched no account
    last = store.audit_rows().iloc[-2]
    assert (last.action, '"reason":"address_throttled"' in last.detail) == ("sign_in_refused", True)
    assert accounts.authenticate(store, "he", PW, address, now=T0 + window + timedelta(seconds=1)).name == "he"


def test_the_first_admin_password_file_sits_beside_a_sqlite_store():
    from services.store import REPO_ROOT

    assert accounts.var_dir_for("sqlite:///var/gm.sqlite3") == REPO_ROOT / "var"
    assert str(accounts.var_dir_for("sqlite:////srv/gm/db.sqlite3")) == "/srv/gm"
    assert accounts.var_dir_for("postgresql://u@h/db") == REPO_ROOT / "var"
