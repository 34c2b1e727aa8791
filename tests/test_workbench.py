"""The workbench (诉求处置): its service on both stores with a hand-made store, and the page via AppTest.

The hand-made store: in community A (the dispatcher's) four open appeals —
  N1 blue, reported 20 min ago, untouched (new)          N2 red (40 people), reported 5 min ago (new)
  P1 blue, accepted                                       P2 yellow (15 people), accepted
and in community B one reported appeal (never in A's queue). The queue must list N1, N2 (new, by the
nearest deadline) then P1, P2 by their deadlines.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services import access, workbench
from services.errors import AppealChanged, IllegalTransition
from services.i18n import t
from services.store import open_store
from services.store.base import PERSONAL_COLUMNS
from tests.helpers import STORES, reset_store, signed_in_app

TZ = ZoneInfo("Asia/Shanghai")
CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")
PHONE = "13900001111"


def _now() -> datetime:
    return datetime.now(TZ)


def build(store, layers) -> dict:
    """Reference data and the five appeals; returns ids and the two communities."""
    from services.seed import seed_reference

    seed_reference(store)
    grids = layers["grid"]
    ga = grids.iloc[100]
    gb = next(g for _, g in grids.iterrows() if g.parent_code != ga.parent_code)
    comm = layers["community"].set_index("code")
    now = _now()
    spec = [("N1", ga, 1, 20), ("N2", ga, 40, 5), ("P1", ga, 1, 50), ("P2", ga, 15, 40), ("B1", gb, 1, 10)]
    rows = []
    for i, (key, g, people, ago) in enumerate(spec):
        pt = g.geometry.representative_point()
        rows.append({"source": "wb", "external_id": key, "channel": "walk_in" if key == "P1" else "hotline",
                     "service_type": "dispute", "category": "wage_arrears" if people > 1 else "neighbour",
                     "description": f"案例{key}", "lon": pt.x + i * 2e-4, "lat": pt.y, "source_crs": "wgs84",
                     "people_involved": people, "urgency": 1, "amount_involved": 0.0,
                     "subdistrict_code": comm.loc[g.parent_code].parent_code, "community_code": g.parent_code,
                     "grid_code": g.code, "reporter_name": "欧阳明华", "reporter_phone": PHONE,
                     "reported_at": now - timedelta(minutes=ago)})
    ids = dict(zip([s[0] for s in spec], (int(i) for i in store.insert_appeals(pd.DataFrame(rows)).ids), strict=True))
    for key in ("P1", "P2"):
        store.act(ids[key], "accept", "setup")
    return {"ids": ids, "a": ga.parent_code, "b": gb.parent_code}


@pytest.fixture(params=STORES)
def hand(request, tmp_path, layers):
    for store in reset_store(request, tmp_path):
        yield store, build(store, layers)


def me(world) -> access.Principal:
    return access.Principal("disp_a", "community_dispatcher", world["a"], session=str(id(world)))


def seen(store, aid: int) -> dict:
    """What a page that read the appeal now would pass back."""
    return {"seen_status": store.get_appeal(aid)["status"], "seen_version": len(store.events(aid))}


# ----------------------------------------------------------------------------------------- service
def test_the_queue_holds_my_area_new_first_then_by_deadline_and_nothing_personal(hand):
    store, w = hand
    ids = w["ids"]
    q = workbench.queue(store, me(w), _now())
    assert len(q) == 4 and set(q["id"]) == {ids[k] for k in ("N1", "N2", "P1", "P2")}
    assert set(q["community_code"]) == {w["a"]} and ids["B1"] not in set(q["id"])
    assert q["new"].tolist()[:2] == [True, True] and not q["new"].iloc[2:].any()
    for part in (q.iloc[:2], q.iloc[2:]):   # within new and not new: by the nearest deadline
        due = pd.to_datetime(part["next_deadline_at"], utc=True).tolist()
        assert due == sorted(due)
    assert not set(q.columns) & {*PERSONAL_COLUMNS, *access.TEXT_FIELDS}
    assert {"seconds_left", "tier", "appeal_class", "category", "channel", "community_code", "handling_level",
            "reopened_count"} <= set(q.columns)
    officer = access.Principal("sub", "subdistrict_officer", store.get_appeal(ids["N1"])["subdistrict_code"])
    assert {ids[k] for k in ("N1", "N2", "P1", "P2")} <= set(workbench.queue(store, officer, _now())["id"])


def test_queue_filters_and_alerts(hand):
    store, w = hand
    ids, who, now = w["ids"], me(w), _now()
    assert workbench.queue(store, who, now, tiers=["red"])["id"].tolist() == [ids["N2"]]
    assert workbench.queue(store, who, now, statuses=["accepted"])["id"].tolist() == \
        workbench.queue(store, who, now).query("status == 'accepted'")["id"].tolist()
    assert workbench.queue(store, who, now, channels=["walk_in"])["id"].tolist() == [ids["P1"]]
    assert workbench.queue(store, who, now, categories=["neighbour"])["id"].tolist() == [ids["N1"], ids["P1"]]
    assert workbench.queue(store, who, now, reopened_only=True).empty
    late = workbench.queue(store, who, now + timedelta(days=10), overdue_only=True)
    assert len(late) == 4 and (late["seconds_left"] < 0).all()
    assert workbench.queue(store, who, now, overdue_only=True)["seconds_left"].lt(0).all()
    q = workbench.queue(store, who, now)
    assert workbench.alerts(q, set())["id"].tolist() == [ids["N2"]]      # red, class 1
    assert workbench.alerts(q, {ids["N2"]}).empty


def test_the_appeal_page_facts_place_and_steps(hand):
    store, w = hand
    ids, who = w["ids"], me(w)
    page = workbench.appeal_page(store, who, ids["N1"])
    assert page.appeal["reporter_phone"] == PHONE                       # the handling dispatcher: unmasked
    assert store.audit_rows(object_kind="appeal")["action"].str.contains("personal").any()
    assert page.version == len(store.events(ids["N1"])) and page.grid
    assert len(page.stations) == workbench.NEAREST_STATIONS and page.stations["distance_m"].is_monotonic_increasing
    assert ids["N2"] in set(page.nearby["id"]) and ids["N1"] not in set(page.nearby["id"])
    assert page.steps["respond"] is None and page.steps["accept"] is None and page.steps["note"] is None
    assert isinstance(page.steps["resolve"], IllegalTransition)
    assert isinstance(page.steps["return_to_sender"], IllegalTransition)
    leader = access.Principal("boss", "leader")
    assert workbench.appeal_page(store, leader, ids["N1"]).appeal["reporter_phone"] != PHONE
    assert isinstance(workbench.appeal_page(store, leader, ids["N1"]).steps["accept"], access.Forbidden)
    with pytest.raises(access.Forbidden):
        workbench.appeal_page(store, access.Principal("disp_b", "community_dispatcher", w["b"]), ids["N1"])


def test_every_step_of_the_loop_changes_what_it_should(hand):
    store, w = hand
    ids, who = w["ids"], me(w)
    aid = ids["N1"]

    def step(action: str, **kw) -> dict:
        workbench.act(store, who, aid, action, **seen(store, aid), **kw)
        return store.get_appeal(aid)

    assert step("respond")["responded_at"] is not None
    n = len(store.events(aid))
    assert step("note", note="电话联系了诉求人")["status"] == "reported" and len(store.events(aid)) == n + 1
    assert step("update_facts", people_involved=40)["tier"] == "red"
    assert step("accept")["status"] == "accepted"
    assert step("dispatch", target=w["a"])["status"] == "dispatched"
    back = step("return_to_sender", reason="不属于本社区")
    assert back["status"] == "accepted" and back["dispatched_to"] is None
    assert "不属于本社区" in store.events(aid)["note"].iloc[-1]
    dept = str(store.departments()["code"].iloc[0])
    assert step("order", departments=[dept])["status"] == "dispatched" and len(store.orders(appeal_id=aid)) == 1
    assert step("escalate", level="subdistrict")["handling_level"] == "subdistrict"
    settled = step("resolve", note="调解达成协议", settlement="people_mediation", mediator="李四")
    assert (settled["status"], settled["settlement"], settled["mediator"]) == ("resolved", "people_mediation", "李四")
    assert "调解达成协议" in store.events(aid)["note"].iloc[-1]
    assert step("confirm")["status"] == "confirmed"
    assert step("feedback")["status"] == "feedback"
    again = step("return_visit", satisfaction="not_satisfied")
    assert again["status"] == "reopened" and again["reopened_count"] == 1
    assert workbench.queue(store, who, _now(), reopened_only=True)["id"].tolist() == [aid]
    step("resolve", settlement="referred")      # not settled this time: the parties go to arbitration
    for action in ("confirm", "feedback"):
        step(action)
    assert step("return_visit", satisfaction="satisfied")["status"] == "closed"
    assert aid not in set(workbench.queue(store, who, _now())["id"])


def test_a_forbidden_step_changes_nothing(hand):
    store, w = hand
    aid = w["ids"]["N1"]
    other = access.Principal("disp_b", "community_dispatcher", w["b"])
    before, events = store.get_appeal(aid), store.events(aid)
    for action, kw in (("accept", {}), ("note", {"note": "x"}), ("respond", {})):
        with pytest.raises(access.Forbidden):
            workbench.act(store, other, aid, action, **seen(store, aid), **kw)
    with pytest.raises(IllegalTransition):
        workbench.act(store, me(w), aid, "confirm", **seen(store, aid))
    assert store.get_appeal(aid) == before
    pd.testing.assert_frame_equal(store.events(aid), events)


def test_two_dispatchers_on_the_same_appeal_one_wins_the_other_is_told(hand):
    store, w = hand
    aid = w["ids"]["N1"]
    first, second = me(w), access.Principal("disp_a2", "community_dispatcher", w["a"])
    both_saw = seen(store, aid)                     # both opened the appeal while it was reported
    workbench.act(store, first, aid, "accept", **both_saw)
    after, events = store.get_appeal(aid), store.events(aid)
    for action, kw in (("accept", {}), ("escalate", {"level": "subdistrict"}), ("note", {"note": "x"})):
        with pytest.raises(AppealChanged) as err:
            workbench.act(store, second, aid, action, **both_saw, **kw)
        assert "changed since you opened it" in t(err.value.key, "en", **{"id": aid, "status": "accepted"})
    assert store.get_appeal(aid) == after
    pd.testing.assert_frame_equal(store.events(aid), events)
    # An order on a stale view is refused too, and leaves no order row behind.
    stale = seen(store, aid)
    workbench.act(store, first, aid, "note", note="first", **stale)
    with pytest.raises(AppealChanged):
        workbench.act(store, second, aid, "order", departments=[str(store.departments()["code"].iloc[0])], **stale)
    assert store.orders(appeal_id=aid).empty


def test_two_dispatchers_at_the_same_moment(hand):
    """Both act at once on what they both saw: exactly one step is written."""
    store, w = hand
    aid = w["ids"]["N2"]
    saw = seen(store, aid)
    outcomes: list[str] = []
    gate = threading.Barrier(2)

    def run(name: str) -> None:
        gate.wait()
        try:
            workbench.act(store, access.Principal(name, "community_dispatcher", w["a"]), aid, "accept", **saw)
            outcomes.append("ok")
        except AppealChanged:
            outcomes.append("changed")
        except IllegalTransition:
            outcomes.append("illegal")

    threads = [threading.Thread(target=run, args=(n,)) for n in ("d1", "d2")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["changed", "ok"]
    assert (store.events(aid)["action"] == "accept").sum() == 1


# ----------------------------------------------------------------------------------------- AppTest
@pytest.fixture()
def app_world(tmp_path, layers, monkeypatch):
    url = f"sqlite:///{tmp_path / 'wb.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    store = open_store(url)
    store.reset()
    world = build(store, layers)
    yield store, world
    store.close()


def _app(world, lang: str = "zh"):
    at = signed_in_app("community_dispatcher", world["a"], page="pages/workbench.py",
                       query={"lang": "en"} if lang == "en" else None)
    at.run()
    assert not at.exception, at.exception
    return at


def _keys(at) -> set[str]:
    return {b.key for b in at.button}


def _texts(at) -> list[str]:
    return [str(e.proto) for e in (*at.main, *at.sidebar)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_shows_my_queue_in_each_language(app_world, lang):
    store, w = app_world
    at = _app(w, lang)
    queue = at.dataframe[0].value
    want = workbench.queue(store, me(w), _now())["id"].tolist()
    assert queue[t("workbench.col_id", lang)].tolist() == want and w["ids"]["B1"] not in want
    assert w["ids"]["N2"] in at.session_state["wb_alerted"]       # alerted once in this session
    at.session_state["wb_alerted"] = set()                          # as if N2 had just come in
    at.run()
    assert any(t("workbench.alert", lang, ids=f"#{w['ids']['N2']}") in s for s in _texts(at))
    assert at.get("audio")
    at.session_state["wb_selected"] = w["ids"]["N1"]
    at.run()
    assert not at.exception, at.exception
    assert at.get("deck_gl_json_chart")
    if lang == "en":
        free = {"案例N1", "欧阳明华"}
        found = [m for s in _texts(at) for m in CJK.findall(s.replace("中文", "").replace("案例N1", "")
                                                                 .replace("欧阳明华", ""))]
        for frame in at.dataframe:
            vals = [v for v in frame.value.astype(str).to_numpy().ravel() if v not in free]
            found += [m for v in vals for m in CJK.findall(v)]
        assert not found, found[:20]


def test_report_to_close_through_the_page(app_world):
    store, w = app_world
    aid = w["ids"]["N1"]
    at = _app(w)
    at.session_state["wb_selected"] = aid
    at.run()

    def click(action: str, expect: str | None = None) -> None:
        at.button(key=f"wb_go_{action}").click().run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        if expect:
            assert store.get_appeal(aid)["status"] == expect, action

    click("respond", "reported")
    at.text_input(key=f"wb_note_{aid}").input("已电话联系")
    click("note", "reported")
    click("accept", "accepted")
    at.selectbox(key=f"wb_dispatch_{aid}").set_value(w["a"])
    click("dispatch", "dispatched")
    at.selectbox(key=f"wb_resolve_{aid}_settlement").set_value("people_mediation").run()
    at.text_input(key=f"wb_resolve_{aid}_mediator").input("李四")
    at.text_input(key=f"wb_resolve_{aid}").input("调解成功")
    click("resolve", "resolved")
    assert store.get_appeal(aid)["mediator"] == "李四"
    assert "wb_go_request_judicial_confirmation" not in _keys(at)     # 8,000 yuan or less, ordinary
    click("confirm", "confirmed")
    click("feedback", "feedback")
    at.selectbox(key=f"wb_return_visit_{aid}").set_value("satisfied")
    click("return_visit", "closed")
    assert [e for e in store.events(aid)["actor"] if e != "setup"][-1].startswith("test_community_dispatcher")
    assert aid not in at.dataframe[0].value[t("workbench.col_id", "zh")].tolist()


def test_a_mediated_agreement_through_judicial_confirmation_on_the_page(app_world):
    """P2 (15 people: yellow, major) is settled by people's mediation with an agreed amount, sent for
    online judicial confirmation (its clock: 30 minutes), the court's answer recorded, then confirmed."""
    store, w = app_world
    aid = w["ids"]["P2"]
    at = _app(w)
    at.session_state["wb_selected"] = aid
    at.run()

    def click(action: str, expect: str) -> None:
        at.button(key=f"wb_go_{action}").click().run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        assert store.get_appeal(aid)["status"] == expect, action

    at.selectbox(key=f"wb_dispatch_{aid}").set_value(w["a"])
    click("dispatch", "dispatched")
    assert not {"wb_go_request_judicial_confirmation", "wb_go_record_judicial_confirmation"} & _keys(at)
    at.button(key="wb_go_resolve").click().run()                       # a dispute: how was it settled?
    assert "纠纷化解须注明化解方式" in " ".join(e.value for e in at.error)
    assert store.get_appeal(aid)["status"] == "dispatched"
    at.selectbox(key=f"wb_resolve_{aid}_settlement").set_value("people_mediation").run()
    at.text_input(key=f"wb_resolve_{aid}_mediator").input("李四")
    at.number_input(key=f"wb_resolve_{aid}_amount").set_value(120000.0)
    at.text_input(key=f"wb_resolve_{aid}").input("签订调解协议书")
    click("resolve", "resolved")
    assert "wb_go_record_judicial_confirmation" not in _keys(at)
    click("request_judicial_confirmation", "resolved")
    a = store.get_appeal(aid)
    assert a["next_deadline_kind"] == "judicial_confirmation"
    assert (a["next_deadline_at"] - a["judicial_requested_at"]) == timedelta(minutes=30)
    assert "wb_go_request_judicial_confirmation" not in _keys(at)
    assert at.button(key="wb_go_confirm").disabled                     # the court's answer first
    facts = at.dataframe[1].value
    shown = dict(zip(facts[t("workbench.field", "zh")], facts[t("workbench.value", "zh")], strict=True))
    assert shown[t("workbench.settlement", "zh")] == "人民调解 · 李四 · 协议金额 120,000 元"
    assert shown[t("workbench.col_deadline", "zh")].startswith("司法确认时限")
    assert shown[t("workbench.judicial", "zh")].startswith("已申请")
    at.selectbox(key=f"wb_record_judicial_confirmation_{aid}_result").set_value("confirmed")
    at.text_input(key=f"wb_record_judicial_confirmation_{aid}_note").input("民特123号")
    click("record_judicial_confirmation", "resolved")
    assert store.get_appeal(aid)["judicial_result"] == "confirmed"
    click("confirm", "confirmed")
    timeline = at.dataframe[-1].value
    rows = dict(zip(timeline[t("workbench.col_action", "zh")], timeline[t("workbench.col_target", "zh")],
                    strict=False))
    assert rows["化解"] == "人民调解（调解员 李四，协议金额 120,000 元）"
    assert rows["申请司法确认"] == "金额 120,000 元" and rows["登记司法确认结果"] == "确认有效"
    logged = store.audit_rows(object_kind="appeal")
    assert (logged["action"] == "appeal.record_judicial_confirmation").sum() == 1
