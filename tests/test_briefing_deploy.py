"""The briefing's schedule as shipped in deploy/ (issue 15 §2): the systemd timer fires at 07:00
Asia/Shanghai whatever the machine's time zone, both units pass ``systemd-analyze verify`` once the
placeholder path is the checkout's, the service's command makes yesterday's briefing, and the cron line
runs the same command at the same time."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import APP
from tests.test_briefing_content import make as make_hand_store

REPO = APP.parent
DEPLOY = REPO / "deploy"
PLACEHOLDER = "/opt/guangming"


def _systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("systemd-analyze is missing (Debian's systemd package)")
        pytest.skip("systemd-analyze is missing")
    return path


def _installed(tmp_path: Path) -> tuple[Path, Path]:
    """The two units as an admin would install them for this checkout (the placeholder replaced)."""
    user = os.environ.get("USER") or "root"
    service = (DEPLOY / "briefing.service").read_text(encoding="utf-8").replace(PLACEHOLDER, str(REPO))
    service = re.sub(r"(?m)^User=.*$", f"User={user}", service)
    timer = (DEPLOY / "briefing.timer").read_text(encoding="utf-8")
    (tmp_path / "briefing.service").write_text(service, encoding="utf-8")
    (tmp_path / "briefing.timer").write_text(timer, encoding="utf-8")
    return tmp_path / "briefing.service", tmp_path / "briefing.timer"


def test_the_timer_fires_at_seven_shanghai_time():
    timer = (DEPLOY / "briefing.timer").read_text(encoding="utf-8")
    [calendar] = re.findall(r"(?m)^OnCalendar=(.+)$", timer)
    out = subprocess.run([_systemd_analyze(), "calendar", "--iterations=2", calendar], capture_output=True,
                         text=True, check=True, env={**os.environ, "TZ": "UTC"}).stdout
    elapses = re.findall(r"(?:Next elapse|Iter\. #2):\s+\w+ (\S+ \S+) UTC", out)
    assert len(elapses) == 2 and all(e.endswith("23:00:00") for e in elapses), out   # 07:00 +08:00
    assert re.search(r"(?m)^Persistent=true$", timer) and re.search(r"(?m)^Unit=briefing.service$", timer)


def test_the_units_verify(tmp_path):
    service, timer = _installed(tmp_path)
    done = subprocess.run([_systemd_analyze(), "verify", str(service), str(timer)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_services_command_makes_yesterdays_briefing(tmp_path):
    from services.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "gm.sqlite3")
    make_hand_store(store)
    store.close()
    service, _ = _installed(tmp_path)
    text = service.read_text(encoding="utf-8")
    [command] = re.findall(r"(?m)^ExecStart=(.+)$", text)
    [workdir] = re.findall(r"(?m)^WorkingDirectory=(.+)$", text)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'gm.sqlite3'}", "GM_BRIEFING_DIR": str(tmp_path / "out"),
           "GM_BRIEFING_DROP": "", "TZ": "Asia/Shanghai"}
    argv = shlex.split(command)
    if not Path(argv[0]).exists():                     # a checkout run with another venv (CI's own)
        import sys

        argv[0] = sys.executable
    done = subprocess.run([*argv, "--date", "2026-01-09", "--now", "2026-01-10T07:00:00+08:00"], cwd=workdir,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(p.suffix for p in (tmp_path / "out").glob("briefing-*-2026-01-09.*")) == [".pdf", ".png"]


def test_the_cron_line_runs_the_same_command_at_seven_shanghai_time():
    lines = [ln for ln in (DEPLOY / "briefing.cron").read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert "CRON_TZ=Asia/Shanghai" in lines
    [job] = [ln for ln in lines if not ln.startswith("CRON_TZ=")]
    assert job.split()[:5] == ["0", "7", "*", "*", "*"]
    assert "-m services.briefing" in job and f"cd {PLACEHOLDER}" in job
