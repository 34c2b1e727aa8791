"""The server stays on this machine: it listens on 127.0.0.1 unless configured otherwise, and it opens no
connection to anything but loopback, neither when it starts nor while pages are used.

Every connect()/sendto()/sendmsg() of the server and its children is recorded with strace (Debian's
``strace``, installed by ./dev test) while Chromium loads the pages and a WebSocket from a foreign origin
knocks (Streamlit judges those with address lookups). Under CI=true a missing strace or Chromium fails.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from services.i18n import t
from tests.browser import (
    CHROMIUM_ARGS,
    REPO,
    TEST_PASSWORD,
    add_account,
    chromium_path,
    kiosk_url,
    sign_in,
    streamlit_server,
)


def _need(what: str, found: object, install: str):
    if not found:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true and {what} is missing ({install}; ./dev test installs it)")
        pytest.skip(f"{what} is missing ({install})")
    return found


@pytest.fixture(scope="module")
def browser():
    path = _need("Debian's chromium", chromium_path(), "apt-get install -y chromium fonts-noto-cjk")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def store_env(layers, tmp_path) -> dict[str, str]:
    """A store of the test's own, with the accounts it signs in with (so the app makes no first admin,
    whose password would go into the checkout's var/)."""
    url = f"sqlite:///{tmp_path / 'gm.sqlite3'}"
    add_account(url, "dept", "department_officer", area_code="petitions")  # its first screen, at /: orders
    add_account(url, "planner", "planner")
    return {"DATABASE_URL": url}


# strace renders socket addresses as {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("1.2.3.4")}
# and {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=…, inet_pton(AF_INET6, "::1", &sin6_addr), …}.
_ADDRESS = re.compile(r'sa_family=AF_INET6?, sin6?_port=htons\((\d+)\).*?(?:inet_addr\("([^"]+)"\)'
                      r'|inet_pton\(AF_INET6, "([^"]+)")')


def _is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip in ("::1", "::") or ip.startswith("::ffff:127.") or ip == "0.0.0.0"


def outbound_attempts(trace: str) -> list[str]:
    """The traced calls that address anything but loopback, and every DNS query (port 53) wherever it goes."""
    found = []
    for line in trace.splitlines():
        for port, ip4, ip6 in _ADDRESS.findall(line):
            if not _is_loopback(ip4 or ip6) or port == "53":
                found.append(line.strip())
    return found


def test_outbound_attempts_are_recognised():
    """The parser itself: what Streamlit's address lookups look like under strace counts, loopback does not."""
    trace = '''\
101 connect(7, {sa_family=AF_INET, sin_port=htons(1), sin_addr=inet_addr("8.8.8.8")}, 16) = 0
101 connect(7, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0
101 connect(9, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, \
"2600:1f18::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH
101 connect(8, {sa_family=AF_INET, sin_port=htons(5432), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
101 connect(8, {sa_family=AF_INET6, sin6_port=htons(8501), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, \
"::1", &sin6_addr), sin6_scope_id=0}, 28) = 0
101 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT
'''
    assert len(outbound_attempts(trace)) == 3


def knock_from_foreign_origin(base: str) -> bytes:
    """Open the app's WebSocket as a page on another origin would (its Origin is not this server)."""
    host = urlsplit(base).netloc
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: streamlit\r\n"
               f"Origin: http://appeals.intranet.example:8080\r\n\r\n")
    host_name, port = host.split(":")
    with socket.create_connection((host_name, int(port)), timeout=15) as s:
        s.sendall(request.encode())
        return s.recv(200)


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on *port* (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if len(raw) == 4:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


@pytest.mark.browser
def test_server_opens_no_outbound_connection(browser, store_env, tmp_path):
    strace = _need("strace", shutil.which("strace"), "apt-get install -y strace")
    log = tmp_path / "connect.trace"
    wrapper = [strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(log)]
    with streamlit_server(store_env, wrapper=wrapper, address=None) as base:
        for path, title_key, account in (("/", "orders.title", "dept"), ("/wall?mode=wall", "wall.title", None),
                                         ("/planning?lang=en", "planning.title", "planner")):
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            lang = "en" if "lang=en" in path else "zh"
            if account is None:  # the unattended wall: a kiosk URL
                page.goto(kiosk_url(store_env["DATABASE_URL"], base, "offline-wall"))
            else:
                page.goto(base + path)
                sign_in(page, base + path, account, TEST_PASSWORD, lang)
            page.wait_for_function("t => document.body.innerText.includes(t)", arg=t(title_key, lang),
                                   timeout=120_000)
            page.wait_for_timeout(2000)
            page.close()
        answer = knock_from_foreign_origin(base)
        assert answer.startswith(b"HTTP/1.1"), answer  # the server answered (whatever it decided)
        trace = log.read_text()
    assert "sendto(" in trace  # strace did record the server (its answers to the browser at least)
    attempts = outbound_attempts(trace)
    assert not attempts, "\n".join(attempts[:20])


def test_server_listens_on_loopback_only_by_default(store_env):
    """Started exactly as the README says (``./dev run``), with no address given: 127.0.0.1 only."""
    _need("the set-up of ./dev (.venv)", (REPO / ".venv" / "bin" / "python").exists(), "run ./dev run once")
    with streamlit_server(store_env, dev_run=True, timeout_s=180) as base:
        port = int(urlsplit(base).port)
        assert listening_addresses(port) == {"127.0.0.1"}
