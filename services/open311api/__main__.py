"""``python -m services.open311api [--host 127.0.0.1] [--port 8502]``: the Open311 API under uvicorn, on the
store DATABASE_URL names (default var/gm.sqlite3), beside the dashboard (which is on 8501)."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and serve until interrupted."""
    p = argparse.ArgumentParser(prog="python -m services.open311api",
                                description="Open311 GeoReport v2 API of the command center (docs/open311.md).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8502, help="port (default 8502)")
    p.add_argument("--database-url", default=None, help="store URL (default DATABASE_URL, else var/gm.sqlite3)")
    args = p.parse_args(argv)
    import uvicorn

    from services.open311api.app import create_app
    from services.store import open_store

    uvicorn.run(create_app(open_store(args.database_url)), host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
