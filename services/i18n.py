"""Every UI string in Chinese and English, from one table (config/strings/*.toml).

Each key has a ``zh`` and an ``en`` text; the files are split by screen only to keep them readable, and
a key may appear in one file only. Chinese is the default language. Pages call ``t(key, lang)``; the
daily briefing and CLI use the same table, so a label never exists in one language only.

A text that states a rule's number takes it from config/rules.toml instead of repeating it: the field
``{rules[clocks][class1_respond_minutes]}`` is filled from ``services.config.rules()`` whenever the text
is rendered (by ``t`` and ``label``), so changing a rule changes its label.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from services import config

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
STRINGS_DIR = Path(__file__).resolve().parent.parent / "config" / "strings"
# A text containing this holds rule fields, ``{rules[<section>][<key>]}``, filled from the loaded rules.
RULE_FIELD = "{rules["


class MissingString(KeyError):
    """A UI string key that is not in the table (a bug: add it to config/strings/)."""


@lru_cache(maxsize=1)
def table() -> dict[str, dict[str, str]]:
    """All strings, ``{key: {"zh": ..., "en": ...}}``; refuses duplicate keys and missing languages."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(STRINGS_DIR.glob("*.toml")):
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        for key, texts in _flatten(data):
            if key in out:
                raise ValueError(f"UI string {key!r} is defined twice (second time in {path.name})")
            missing = [lang for lang in LANGS if not texts.get(lang)]
            if missing:
                raise ValueError(f"UI string {key!r} in {path.name} lacks {', '.join(missing)}")
            out[key] = {lang: texts[lang] for lang in LANGS}
    return out


def _flatten(data: dict, prefix: str = ""):
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and set(v) & set(LANGS):
            yield key, v
        elif isinstance(v, dict):
            yield from _flatten(v, key + ".")


def normalise_lang(lang: str | None) -> str:
    """``zh`` or ``en``; anything else falls back to Chinese."""
    return lang if lang in LANGS else DEFAULT_LANG


def t(key: str, lang: str | None = None, **fmt: object) -> str:
    """The text of ``key`` in ``lang`` (default Chinese), formatted with ``fmt``."""
    try:
        text = table()[key][normalise_lang(lang)]
    except KeyError:
        raise MissingString(key) from None
    return fill(text, **fmt)


def fill(text: str, **fmt: object) -> str:
    """``text`` with its caller fields from ``fmt`` and its rule fields from the loaded rules."""
    if RULE_FIELD in text:
        return text.format(rules=config.rules(), **fmt)
    return text.format(**fmt) if fmt else text


def label(group: str, code: str | None, lang: str | None = None) -> str:
    """Label of a code in a vocabulary group (e.g. ``tier``, ``status``); the code itself if unknown."""
    if code is None:
        return ""
    entry = table().get(f"{group}.{code}")
    return fill(entry[normalise_lang(lang)]) if entry else str(code)
