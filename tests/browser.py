"""Helpers for real-browser tests: a local ``streamlit run`` server and Debian's headless Chromium.

Chromium is driven by Playwright's Python client with ``executable_path=/usr/bin/chromium`` (Playwright's
own browser download is never used). Every request the page makes is recorded, so a test can assert that
nothing left the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
LOCAL_PREFIXES = ("http://127.0.0.1", "http://localhost", "ws://127.0.0.1", "ws://localhost", "data:", "blob:",
                  "about:")


def chromium_path() -> str | None:
    """Debian's chromium, if installed."""
    return shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium") or None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(env: dict[str, str] | None = None, timeout_s: float = 90, *, wrapper: list[str] = (),
                     address: str | None = "127.0.0.1", dev_run: bool = False, extra_args: Sequence[str] = (),
                     script: Path | None = None, cwd: Path | None = None,
                     port: int | None = None) -> Iterator[str]:
    """Run the dashboard as ``./dev run`` does (``serve.py``, i.e. ``streamlit run app.py``) on a free local
    port; yields its base URL and stops it (its whole process group) afterwards.

    *wrapper* goes before the command (e.g. ``strace …``); ``address=None`` leaves the listening address
    to the configuration (.streamlit/config.toml); ``dev_run`` runs ``./dev run`` itself (``PORT=…``).
    *extra_args* go after the other ``streamlit run`` options (e.g. ``--secrets.files /tmp/x/secrets.toml``,
    so a test's secrets never go into the repository); *script* runs ``streamlit run SCRIPT`` instead of
    serve.py (a throwaway test script), in *cwd* (default: the repository); *port* is the port to use
    (default: a free one), for settings that must name the URL beforehand (``redirect_uri``).
    *extra_args*, *script* and *cwd* do not apply to ``dev_run``.
    """
    port = port or free_port()
    env = {**os.environ, **(env or {})}
    if dev_run:
        cmd = [str(REPO / "dev"), "run"]
        env["PORT"] = str(port)
    else:
        entry = [str(REPO / "serve.py")] if script is None else ["-m", "streamlit", "run", str(script)]
        cmd = [sys.executable, *entry, "--server.port", str(port),
               "--server.headless", "true", "--browser.gatherUsageStats", "false"]
        if address:
            cmd += ["--server.address", address]
        cmd += list(extra_args)
    cmd = [*wrapper, *cmd]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=cwd or REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"streamlit did not start (exit code {proc.poll()}):\n"
                                       + log.read().decode(errors="replace")[-3000:])
                time.sleep(0.5)
            yield url
        finally:
            # The group: a wrapper such as strace leaves the server running when only it is stopped.
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
