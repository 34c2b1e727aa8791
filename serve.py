"""Start the dashboard server: ``python serve.py [streamlit run options]`` (what ``./dev run`` does).

It is ``streamlit run app.py`` with two process-wide settings made before the first browser session, and
the first admin account:

- Page URLs come from ``st.navigation`` in app.py only. Streamlit treats a ``pages/`` folder next to the
  entry script as an old-style page folder until some session has called ``st.navigation``, so on a fresh
  server the first request of ``/map`` showed "Page not found" and ``/wall`` ran pages/wall.py without
  app.py. We set the switch that ``st.navigation`` itself sets (``PagesManager.uses_pages_directory``)
  at start instead of at the first page view.
- No outbound connection. Streamlit looks up the machine's addresses (a UDP socket "connected" to
  8.8.8.8, an HTTP GET of checkip.amazonaws.com) for its "Network/External URL" printout and to judge a
  cross-origin WebSocket. Both lookups are replaced by "unknown": the intranet has no use for them, and
  ``browser.serverAddress`` / ``server.corsAllowedOrigins`` name the public address (README, Deployment).

- The first admin. On a store with no account it creates ``admin`` with a random password and prints it
  once (services.accounts.ensure_admin), before the server starts.

Everything else (address, port, theme) is ordinary Streamlit configuration: .streamlit/config.toml,
``STREAMLIT_SERVER_ADDRESS``-style environment variables, or ``--server.address`` options here.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def _unknown_address() -> None:
    """Stand-in for Streamlit's address lookups: nothing is asked of the network."""
    return None


def configure_streamlit() -> None:
    """Make the two process-wide settings described above (before the server starts)."""
    from streamlit import net_util
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    net_util.get_external_ip = _unknown_address
    net_util.get_internal_ip = _unknown_address


def first_admin() -> None:
    """On a store without accounts, make the first admin now, so that its password is on the console
    before anyone opens the page (services.accounts.ensure_admin; the app would make it at the first
    visit otherwise)."""
    from services import accounts
    from services.store import database_url, open_store

    url = database_url()
    try:
        accounts.ensure_admin(open_store(url), accounts.var_dir_for(url))
    except Exception as exc:  # noqa: BLE001 - the store may be down now; the app retries at the first visit
        print(f"store not ready ({exc}); the first admin is made at the first visit", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Run ``streamlit run app.py`` with *argv* (default: this command's arguments) in this process."""
    first_admin()
    configure_streamlit()
    from streamlit.web import cli

    cli.main(["run", str(APP), *(sys.argv[1:] if argv is None else argv)], prog_name="streamlit")


if __name__ == "__main__":
    main()
