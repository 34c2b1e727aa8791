"""The Chinese/English switch stays whole: names, actors, leader levels and domain messages in each language.

English text may hold no CJK character; Chinese text rendered from codes may hold no ASCII word (digits and
punctuation are fine). Codes a user typed (an unknown action) may appear in both.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from data.sample import ensure_sample, load_departments
from services import district
from services.errors import DomainError, IllegalTransition, Label, Labels, NotFound, ValidationError, describe
from services.i18n import label, t, table
from services.lifecycle import ACTIONS, SYSTEM_ACTIONS, TRANSITIONS, transition
from services.orders import leader_level_code, order_config, order_rule, outcomes
from services.simulate import ACTOR, ORDER_ISSUER

CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")
ASCII_WORD = re.compile(r"[A-Za-z]")
TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
NAMED = ("district", "subdistrict", "community", "grid", "subgrid", "happiness_unit", "station", "department")


def _english(text: str) -> None:
    assert text and not CJK.search(text), repr(text)


def _chinese(text: str) -> None:
    assert text and CJK.search(text) and not ASCII_WORD.search(text), repr(text)


# English strings that must show Chinese: the language switch names Chinese in Chinese, and the upload hint
# names the Chinese column headers a file may carry (经度/纬度).
CHINESE_ON_PURPOSE = {"app.lang_zh", "planning.upload"}


def test_english_strings_have_no_chinese():
    for key, texts in table().items():
        if key in CHINESE_ON_PURPOSE:
            continue
        assert not CJK.search(texts["en"]), key


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory):
    """A store holding the sample's departments, stations and buildings (the screens read points there)."""
    from services.seed import seed_reference
    from services.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path_factory.mktemp("lang") / "ref.sqlite3")
    seed_reference(store)
    yield store
    store.close()


@pytest.mark.parametrize("kind", NAMED)
def test_every_sample_name_has_an_english_form(layers, kind, request):
    store = request.getfixturevalue("seeded_store") if kind in district.POINT_KINDS else None
    frame = load_departments() if kind == "department" else layers[kind]
    assert "name_en" in frame, f"{kind} has no name_en column"
    for code, name, en in zip(frame["code"], frame["name"], frame["name_en"], strict=True):
        _english(en)
        assert CJK.search(name), (code, name)  # the Chinese name stays the name
    shown = district.names(kind, "en", store)
    assert len(shown) == len(frame)
    for text in shown.values():
        _english(text)
    assert district.names(kind, "zh", store) == dict(zip(frame["code"].astype(str), frame["name"], strict=True))


def test_names_fall_back_to_the_name_without_name_en(monkeypatch):
    user = {"community": gpd.GeoDataFrame({"code": ["C1", "C2"], "name": ["甲社区", "乙社区"],
                                           "name_en": ["Jia Community", None]},
                                          geometry=[shapely.Point(0, 0)] * 2, crs=4326),
            "grid": gpd.GeoDataFrame({"code": ["G1"], "name": ["甲社区第1网格"]},
                                     geometry=[shapely.Point(0, 0)], crs=4326)}
    monkeypatch.setattr(district, "layers", lambda: user)
    district._names.cache_clear()
    try:
        assert district.names("community", "en") == {"C1": "Jia Community", "C2": "乙社区"}
        assert district.name_of("grid", "G1", "en") == "甲社区第1网格"
        assert district.name_of("grid", "G9", "en") == "G9" and district.name_of("subgrid", "S1", "zh") == "S1"
    finally:
        district._names.cache_clear()


def test_every_actor_code_is_labelled_in_both_languages():
    codes = [k.split(".", 1)[1] for k in table() if k.startswith("actor.") and k != "actor.intake_from"]
    assert {"citizen", "grid_worker", "duty_officer", "simulator"} <= set(codes)
    for code in codes:
        _english(district.actor_name(code, "en"))
        _chinese(district.actor_name(code, "zh"))
    # the simulator writes codes; intake writes intake:<source>; departments check in by code
    for actor in (ACTOR, ORDER_ISSUER, "intake:sample", "hr_social"):
        _english(district.actor_name(actor, "en"))
    assert district.actor_name("hr_social", "zh") == "区人力资源局"
    # a name a user typed stays as typed; a label stored instead of the code reads as the code
    assert district.actor_name("张三", "en") == "张三"
    assert district.actor_name("指挥中心值班员", "en") == label("actor", "duty_officer", "en")
    assert district.actor_code("Duty officer ") == district.actor_code("指挥中心值班员") == "duty_officer"
    assert district.actor_code("张三") == "张三"
    # the wall's pre-filled operator name, in either language, is stored as the code
    assert {district.actor_code(t("wall.operator_default", lang)) for lang in ("zh", "en")} == {"duty_officer"}
    assert district.actor_name("市民", "en") == label("actor", "citizen", "en")


def test_every_actor_in_the_sample_events_reads_in_both_languages(layers):
    events = pd.read_parquet(ensure_sample() / "appeal_event.parquet", columns=["actor"])
    actors = sorted(events["actor"].dropna().unique())
    assert "citizen" in actors and "grid_worker" in actors
    for actor in actors:
        _english(district.actor_name(actor, "en"))
        _chinese(district.actor_name(actor, "zh"))


def test_leader_levels_are_codes_with_labels():
    levels = order_config()["leader_levels"]
    for code in levels:
        _english(label("leader_level", code, "en"))
        _chinese(label("leader_level", code, "zh"))
    for category, tiers in [("noise", ("red", "yellow", "blue")), ("wage_arrears", ("red", "yellow")),
                            ("crisis", ("red", "yellow", "blue"))]:
        for tier in tiers:
            assert order_rule(category, tier).leader_level in levels
    assert leader_level_code("处级") == "division_chief" and leader_level_code("区领导") == "district_leader"
    for outcome in outcomes():
        _english(label("outcome", outcome, "en"))
        _chinese(label("outcome", outcome, "zh"))


def _appeal(status: str, **kw) -> dict:
    a = {"id": 1, "status": status, "category": "neighbour", "people_involved": 1, "urgency": 1,
         "amount_involved": 0.0, "tier": "blue", "appeal_class": "ordinary", "handling_level": "community",
         "reopened_count": 0, "reported_at": T0, "responded_at": None, "gathering_id": None,
         "gathering_tier": None}
    a.update(kw)
    return a


def _check_both(exc: DomainError) -> None:
    _english(describe(exc, "en"))
    _chinese(describe(exc, "zh"))
    assert not CJK.search(str(exc))  # the log form is English


def test_every_illegal_move_reads_in_both_languages():
    params = {"target": "440311001001", "departments": ["police"], "satisfaction": "satisfied",
              "level": "district", "people_involved": 3, "gathering_id": 1, "gathering_tier": "red",
              "note": "已电话联系", "reason": "不属本单位职责", "result": "confirmed"}
    variants = [{}, {"responded_at": T0}, {"handling_level": "district"},
                {"settlement": "people_mediation", "judicial_requested_at": T0},     # confirmation pending
                {"settlement": "people_mediation", "judicial_requested_at": T0, "judicial_recorded_at": T0},
                {"settlement": "direct"}, {"settlement": "people_mediation"}]        # not mediated; too small
    seen = 0
    for status in TRANSITIONS:
        for extra in variants:
            a = _appeal(status, **extra)
            for action in ACTIONS:
                try:
                    transition(a, action, T0 + timedelta(minutes=5), **params)
                except IllegalTransition as exc:
                    seen += 1
                    _check_both(exc)
                    for code in exc.allowed:
                        assert label("action", code, "zh") in describe(exc, "zh")
    assert seen > 50
    closed = IllegalTransition("resolve", "closed", [])
    assert describe(closed, "en").endswith(t("error.nothing_allowed", "en"))


@pytest.mark.parametrize(("status", "action", "params"), [
    ("accepted", "dispatch", {}),
    ("accepted", "order", {}),
    ("feedback", "return_visit", {"satisfaction": "meh"}),
    ("reported", "escalate", {"level": "galaxy"}),
    ("reported", "update_facts", {}),
    ("reported", "update_facts", {"people_involved": 0}),
    ("reported", "update_facts", {"urgency": 9}),
    ("reported", "update_facts", {"amount_involved": -1}),
    ("reported", "gathering", {}),
    ("dispatched", "resolve", {"service_type": "dispute"}),
    ("dispatched", "resolve", {"settlement": "arbitration"}),
    ("dispatched", "resolve", {"settlement": "people_mediation"}),
    ("dispatched", "resolve", {"settlement": "judicial_mediation", "mediator": "法官；王"}),
    ("dispatched", "resolve", {"settlement": "direct", "mediator": "李四"}),
    ("dispatched", "resolve", {"settlement": "people_mediation", "mediator": "李四", "agreement_amount": -5}),
    ("resolved", "record_judicial_confirmation", {"settlement": "people_mediation", "judicial_requested_at": T0}),
])
def test_bad_parameters_read_in_both_languages(status, action, params):
    facts = {k: params.pop(k) for k in ("service_type", "judicial_requested_at", "settlement") if k in params and
             (k != "settlement" or action != "resolve")}
    with pytest.raises(ValidationError) as exc:
        transition(_appeal(status, **facts), action, T0 + timedelta(minutes=5), **params)
    _check_both(exc.value)


def test_escalating_down_and_acting_before_the_report_read_in_both_languages():
    with pytest.raises(ValidationError) as exc:
        transition(_appeal("accepted", handling_level="subdistrict"), "escalate", T0, level="subdistrict")
    _check_both(exc.value)
    with pytest.raises(ValidationError) as exc:
        transition(_appeal("reported"), "accept", T0 - timedelta(hours=1))
    _check_both(exc.value)
    assert "before the report" in str(exc.value)


def test_labels_inside_messages_follow_the_language():
    exc = IllegalTransition("confirm", "reopened", ["resolve", "dispatch"], "resolve_again")
    assert str(exc) == ("cannot confirm an appeal that is 'reopened' (a reopened appeal must be resolved again "
                        "first); allowed next: resolve, dispatch")
    assert describe(exc, "en") == ("cannot Confirm an appeal that is 'Reopened' (a reopened appeal must be "
                                   "resolved again first); allowed next: Resolve, Dispatch")
    assert describe(exc, "zh") == "不能对“重新办理”状态的诉求执行“确认”（重新办理的诉求须先再次化解）；下一步可以：化解、分拨"
    unknown = ValidationError("error.unknown_action", action=Label("action", "fly"), actions=Labels("action", ["accept"]))
    assert "fly" in describe(unknown, "zh") and "受理" in describe(unknown, "zh")
    with pytest.raises(ValidationError) as v:
        order_rule("noise", "purple")
    assert describe(v.value, "zh") == "未知的预警等级“purple”；应为以下之一：蓝色、黄色、红色"


def test_errors_without_a_key_stay_readable():
    exc = ValidationError("points need lon/lat columns")
    assert str(exc) == "points need lon/lat columns" and exc.key is None
    assert describe(exc, "en") == "points need lon/lat columns"
    _chinese(describe(exc, "zh"))
    assert describe(NotFound("error.no_appeal", id=42), "zh") == "没有编号为 42 的诉求"
    assert isinstance(NotFound("error.no_appeal", id=1), LookupError)
    assert set(SYSTEM_ACTIONS) <= set(ACTIONS)


# Labels that state a rule's number, with their text under the shipped config/rules.toml.
RULE_LABELS = {
    ("wall.class1_respond", "zh"): "一类诉求10分钟响应",
    ("wall.class1_respond", "en"): "Class-1 response ≤10 min",
    ("wall.class1_accept", "zh"): "一类诉求30分钟受理",
    ("wall.class1_accept", "en"): "Class-1 acceptance ≤30 min",
    ("wall.check_in_rate", "zh"): "部门按时报到率（30天）",
    ("wall.check_in_rate", "en"): "Timely check-in (30 days)",
    ("appeal_class.class1", "zh"): "一类（10分钟响应）",
    ("appeal_class.class1", "en"): "Class 1 (10-min response)",
    ("appeal_class.major", "zh"): "重大（3个工作日）",
    ("appeal_class.major", "en"): "Major (3 working days)",
    ("planning.title", "zh"): "站点规划：500米服务圈",
    ("planning.title", "en"): "Station planning: 500-metre service circles",
}


def test_rule_labels_read_the_shipped_rules():
    for (key, lang), text in RULE_LABELS.items():
        assert t(key, lang) == text, key
    assert "500米内" in t("planning.caption", "zh") and "within 500 m." in t("planning.caption", "en")
    assert label("appeal_class", "major", "en") == "Major (3 working days)"
    # no rule number is left unfilled anywhere
    for key in table():
        for lang in ("zh", "en"):
            if "{rules[" in table()[key][lang]:
                assert "{" not in t(key, lang), key


def test_rule_labels_follow_a_changed_rule(monkeypatch):
    from services import config

    shipped = config.rules()
    changed = {**shipped, "clocks": {**shipped["clocks"], "class1_respond_minutes": 15, "class1_accept_minutes": 45,
                                     "major_resolve_working_days": 5},
               "warning_map": {**shipped["warning_map"], "check_in_days": 14},
               "coverage": {**shipped["coverage"], "radius_m": 800}}
    monkeypatch.setattr(config, "rules", lambda path=None: changed)
    assert t("wall.class1_respond", "zh") == "一类诉求15分钟响应"
    assert t("wall.class1_respond", "en") == "Class-1 response ≤15 min"
    assert t("wall.class1_accept", "zh") == "一类诉求45分钟受理"
    assert t("wall.check_in_rate", "en") == "Timely check-in (14 days)"
    assert label("appeal_class", "class1", "zh") == "一类（15分钟响应）"
    assert label("appeal_class", "major", "en") == "Major (5 working days)"
    assert t("planning.title", "zh") == "站点规划：800米服务圈"
    assert "800米内" in t("planning.caption", "zh") and "within 800 m." in t("planning.caption", "en")
