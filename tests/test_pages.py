"""Page tests with Streamlit's AppTest: the app renders, in Chinese by default and in English."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.i18n import t
from tests.helpers import chinese_in, signed_in_app

APP = Path(__file__).resolve().parent.parent / "app.py"
MAP = "pages/district_map.py"


@pytest.fixture(scope="module")
def app(layers):  # the layers fixture makes sure the sample exists before the app loads it
    at = signed_in_app(page=MAP)
    at.run()
    assert not at.exception, at.exception
    return at


def _deck_json(at) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert charts, "no pydeck chart on the page"
    return json.loads(charts[0].proto.json)


def test_map_page_renders_in_chinese(app, layers):
    assert app.title[0].value == t("map.title", "zh")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics[t("map.population", "zh")] == f"{int(layers['building'].population.sum()):,}"
    assert metrics[t("map.grids", "zh")] == f"{len(layers['grid']):,}"
    assert metrics[t("map.stations", "zh")] == str(len(layers["station"]))


def test_map_has_no_external_base_map(app):
    deck = _deck_json(app)
    # Streamlit only draws a (remote) base map when mapStyle is unset/None; the placeholder means none.
    assert deck.get("mapStyle") in (None, "__MAP_STYLE__") and deck.get("mapProvider") is None
    assert "mapStyle" in deck
    ids = {layer["id"] for layer in deck["layers"]}
    assert {"district-boundary", "subdistrict-boundary", "grid-boundary", "happiness-unit", "station"} <= ids
    assert "http" not in json.dumps(deck)


def test_subdistrict_table_lists_six_real_names(app):
    frame = app.dataframe[0].value
    assert sorted(frame[t("map.col_name", "zh")]) == sorted(
        ["光明街道", "公明街道", "新湖街道", "凤凰街道", "玉塘街道", "马田街道"])
    assert frame[t("map.col_population", "zh")].sum() == 1_400_000


def test_switch_to_english_changes_every_label(layers):
    at = signed_in_app(page=MAP)
    at.run()
    at.button_group(key="lang_switch").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == t("map.title", "en")
    labels = [m.label for m in at.metric]
    assert t("map.population", "en") in labels
    assert not any("人口" in label for label in labels)


def test_url_parameter_chooses_english(layers):
    at = signed_in_app(page=MAP, query={"lang": "en"})
    at.run()
    assert at.title[0].value == t("map.title", "en")


def test_map_in_english_shows_no_chinese(layers):
    """Every element of /map in English, the map's names and tooltips and the table's cells included, is free
    of CJK characters, except the language switch's "中文"."""
    at = signed_in_app(page=MAP, query={"lang": "en"})
    at.run()
    assert not at.exception
    for cb in at.sidebar.checkbox:  # every layer on, so every layer's names are in the payload
        cb.check()
    at.run()
    found = chinese_in(at)
    assert not found, found[:20]
    names = sorted(at.dataframe[0].value[t("map.col_name", "en")])
    assert names == sorted(["Guangming", "Gongming", "Xinhu", "Fenghuang", "Yutang", "Matian"])
    deck = json.dumps(_deck_json(at), ensure_ascii=False)
    assert "Appeals Service Centre" in deck and "Happiness Unit" in deck


def test_layer_toggle_removes_layer(layers):
    at = signed_in_app(page=MAP)
    at.run()
    at.sidebar.checkbox(key="layer_grid").uncheck().run()
    ids = {layer["id"] for layer in _deck_json(at)["layers"]}
    assert "grid-boundary" not in ids and "community-boundary" in ids


def test_every_string_key_has_both_languages():
    from services.i18n import LANGS, table

    for key, texts in table().items():
        assert all(texts[lang] for lang in LANGS), key
