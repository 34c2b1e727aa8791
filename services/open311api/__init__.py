"""The Open311 GeoReport v2 API of the command center (issue 16): ``create_app`` (services/open311api/app.py),
the field mapping (mapping.py) and ``python -m services.open311api`` (__main__.py). See docs/open311.md."""

from services.open311api.app import PREFIX, create_app

__all__ = ["PREFIX", "create_app"]
