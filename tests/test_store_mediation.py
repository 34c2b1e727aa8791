"""The settlement of a resolution and its online judicial confirmation, on both stores (the contract of
tests/test_store_contract.py, same hand-made day: Thursday 9 October 2025).

One dispute of 12 people over 150,000 yuan of wages (yellow, major), reported at 09:00, accepted 09:10,
dispatched to its community 09:20, resolved 10:00 by people's mediation (mediator 李四, 120,000 agreed),
judicial confirmation asked 10:10 (due 10:40), the court's answer recorded 10:30, confirmed 10:45.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from services.errors import IllegalTransition
from tests.helpers import STORES, reset_store
from tests.test_store_contract import C1, G1, _adding, _reopener, at, hand_frame, row


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


def wages() -> pd.DataFrame:
    return pd.DataFrame([row("m1", G1, at(9), category="wage_arrears", people_involved=12,
                             amount_involved=150_000.0)])


def test_a_mediated_resolution_and_its_judicial_confirmation_are_kept(store):
    aid = store.insert_appeals(wages()).ids[0]
    store.act(aid, "accept", "值班员", at=at(9, 10))
    store.act(aid, "dispatch", "值班员", at=at(9, 20), target=C1)
    a = store.act(aid, "resolve", "社区调度员", at=at(10), note="签订调解协议书", settlement="people_mediation",
                  mediator="李四", agreement_amount=120_000)
    assert (a["settlement"], a["mediator"], a["agreement_amount"], a["judicial_requested_at"]) == \
        ("people_mediation", "李四", 120_000.0, None)
    a = store.act(aid, "request_judicial_confirmation", "社区调度员", at=at(10, 10))
    assert (a["status"], a["judicial_requested_at"], a["next_deadline_kind"], a["next_deadline_at"]) == \
        ("resolved", at(10, 10), "judicial_confirmation", at(10, 40))
    od = store.overdue(at(10, 50))                                     # 10 minutes past, like any other clock
    assert od["id"].tolist() == [aid] and od["next_deadline_kind"].tolist() == ["judicial_confirmation"]
    assert od["minutes_overdue"].tolist() == pytest.approx([10.0])
    before, events = store.get_appeal(aid), store.events(aid)
    with pytest.raises(IllegalTransition) as exc:
        store.act(aid, "confirm", "社区调度员", at=at(10, 20))
    assert exc.value.reason == "judicial_pending"
    assert store.get_appeal(aid) == before
    pd.testing.assert_frame_equal(store.events(aid), events)
    a = store.act(aid, "record_judicial_confirmation", "社区调度员", at=at(10, 30), note="民特123号",
                  result="confirmed")
    assert (a["judicial_recorded_at"], a["judicial_result"], a["next_deadline_kind"], a["next_deadline_at"]) == \
        (at(10, 30), "confirmed", "confirm", at(10) + timedelta(hours=24))
    assert store.act(aid, "confirm", "社区调度员", at=at(10, 45))["status"] == "confirmed"
    ev = store.events(aid)
    assert ev["action"].tolist()[-4:] == ["resolve", "request_judicial_confirmation",
                                          "record_judicial_confirmation", "confirm"]
    assert ev["note"].tolist()[-4:-1] == ["settlement=people_mediation amount=120000 mediator=李四; 签订调解协议书",
                                          "amount=120000", "confirmed; 民特123号"]
    q = store.query_appeals(columns=("id", "settlement", "mediator", "agreement_amount", "judicial_recorded_at",
                                     "judicial_result"))
    assert q.iloc[0].to_dict() == {"id": aid, "settlement": "people_mediation", "mediator": "李四",
                                   "agreement_amount": 120_000.0, "judicial_recorded_at": pd.Timestamp(at(10, 30)),
                                   "judicial_result": "confirmed"}


def test_a_bulk_insert_keeps_the_settlement_and_runs_the_judicial_clock(store):
    """Appeals loaded already resolved (another system's history): the settlement columns are stored as
    given, and a confirmation asked and not answered is the next deadline, as the lifecycle has it."""
    frame = pd.DataFrame([
        row("b1", G1, at(8), status="resolved", resolved_at=at(9), settlement="judicial_mediation",
            mediator="驻社区法官", agreement_amount=300_000.0, judicial_requested_at=at(9, 5)),
        row("b2", G1, at(8), status="resolved", resolved_at=at(9), settlement="administrative_mediation",
            mediator="区人力资源局", agreement_amount=None, judicial_requested_at=at(9, 5),
            judicial_recorded_at=at(9, 20), judicial_result="refused"),
        row("b3", G1, at(8)),
    ])
    ids = store.insert_appeals(frame).ids
    b1, b2, b3 = (store.get_appeal(i) for i in ids)
    assert (b1["next_deadline_kind"], b1["next_deadline_at"], b1["mediator"], b1["agreement_amount"]) == \
        ("judicial_confirmation", at(9, 35), "驻社区法官", 300_000.0)
    assert (b2["next_deadline_kind"], b2["next_deadline_at"], b2["judicial_result"], b2["agreement_amount"]) == \
        ("confirm", at(9) + timedelta(hours=24), "refused", None)
    assert (b3["settlement"], b3["mediator"], b3["judicial_requested_at"], b3["next_deadline_kind"]) == \
        (None, None, None, "resolve")


@pytest.mark.parametrize("kind", STORES)
def test_a_database_from_before_settlements_gets_the_columns(kind, tmp_path, monkeypatch, request):
    """A store made before resolutions kept their settlement migrates on open: its appeals are intact with
    no settlement, and a dispute can then be resolved by mediation and sent for judicial confirmation."""
    module, make = _reopener(kind, tmp_path / "settle.sqlite3", request)
    version = _adding(module, "ADD COLUMN settlement")
    assert version == (10 if kind == "sqlite" else 11)   # the numbers assigned (others fill those between)
    with monkeypatch.context() as m:
        m.setattr(module, "MIGRATIONS", {v: s for v, s in module.MIGRATIONS.items() if v < version})
        old = make()
        try:
            assert old.schema_version() == max(v for v in module.MIGRATIONS if v < version)
            ids = old.insert_appeals(hand_frame()).ids
        finally:
            old.close()
    store = make()
    try:
        assert store.schema_version() == module.SCHEMA_VERSION
        q = store.query_appeals()
        assert sorted(q["id"].tolist()) == sorted(ids) and q["settlement"].isna().all()
        aid = ids[2]                                                    # a3: 12 people, major
        store.act(aid, "accept", "值班员", at=at(9, 40))
        store.act(aid, "dispatch", "值班员", at=at(9, 50), target=C1)
        store.act(aid, "resolve", "社区调度员", at=at(10), settlement="administrative_mediation", mediator="人社局王五")
        a = store.act(aid, "request_judicial_confirmation", "社区调度员", at=at(10, 5))
        assert (a["next_deadline_kind"], a["next_deadline_at"]) == ("judicial_confirmation", at(10, 35))
    finally:
        store.drop_schema() if kind == "postgis" else store.close()
