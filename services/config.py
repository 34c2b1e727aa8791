"""Loads the command center's rule configuration (config/rules.toml) once.

Every threshold a rule uses (tiers, classes, gathering, clocks, orders) lives in that file with its
meaning beside it, so that a rule is changed by editing configuration, not code.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULES = REPO_ROOT / "config" / "rules.toml"


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def rules(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The parsed rules; ``GM_RULES`` in the environment or ``path`` overrides the bundled file."""
    chosen = path or os.environ.get("GM_RULES") or DEFAULT_RULES
    return _load(str(chosen))
