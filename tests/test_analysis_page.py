"""The analysis page (pages/analysis.py) with AppTest on the seeded sample, and its drill path
(services/analysis/drill.py): opens in both languages, a URL opens its level, a row goes down and the
breadcrumb up, a subdistrict officer stays in its subdistrict, a planner has no /analysis, and an export
is a row of the audit log."""

from __future__ import annotations

import re
from datetime import date

import pytest

from pages import analysis_views
from services import access, district
from services.analysis import drill, service
from services.analysis.periods import period
from services.errors import ValidationError
from services.i18n import t
from tests.helpers import signed_in_app

PAGE = "pages/analysis.py"
CJK = re.compile(r"[\u2e80-\u9fff]")


def _subdistricts() -> list[str]:
    return sorted(district.names("subdistrict", "zh"))


def _texts(at) -> list[str]:
    out = [e.value for e in (*at.title, *at.caption, *at.subheader, *at.markdown, *at.info, *at.warning)]
    out += [m.label for m in at.metric] + [b.label for b in at.button] + [str(m.value) for m in at.metric]
    return [x for x in out if isinstance(x, str) and "<span" not in x]


def _run(at):
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_page_opens_in_each_language_without_the_other(layers, lang):
    at = _run(signed_in_app("leader", page=PAGE, query={"lang": lang} if lang == "en" else None))
    assert at.title[0].value == t("analysis_page.title", lang)
    assert not at.error, [e.value for e in at.error]
    texts = _texts(at)
    assert any(m.label == t("analysis.measure.resolution_rate", lang) for m in at.metric)
    if lang == "en":
        bad = [x for x in texts if CJK.search(x)]
    else:
        bad = [x for x in texts if re.search(r"[A-Za-z]{3,}", x) and x not in (t("analysis_page.export_csv", "zh"),
                                                                             t("analysis_page.export_xlsx", "zh"))]
    assert not bad, bad


def test_url_opens_a_subdistrict_and_the_breadcrumb_goes_up(layers):
    sub = _subdistricts()[0]
    at = _run(signed_in_app("leader", page=PAGE, query={"level": "subdistrict", "code": sub, "kind": "month",
                                                        "date": "2026-11-15"}))
    assert not at.error, [e.value for e in at.error]
    name = district.names("subdistrict", "zh")[sub]
    assert any(name in c.value for c in at.caption)
    assert at.query_params["level"] == "subdistrict" and at.query_params["code"] == sub
    assert at.query_params["date"] == "2026-11-01"
    at.button(key="an_crumb_district").click()
    _run(at)
    assert at.query_params["level"] == "district" and "code" not in at.query_params


def test_going_down_writes_the_child_into_the_view():
    p = period("month", "2026-11-15")
    sub = _subdistricts()[0]
    community = service.areas_in("community", ("subdistrict", sub))[0]
    down = drill.View("district", None, p).down(sub)
    assert down.query() == {"level": "subdistrict", "code": sub, "kind": "month", "date": "2026-11-01"}
    assert drill.view_from_query(down.query(), date(2026, 12, 2)) == down
    with pytest.raises(ValidationError):
        drill.View("district", None, p).down("no-such-area")
    with pytest.raises(ValidationError):                  # a community is not a child of the district
        drill.View("district", None, p).down(community)
    assert down.down(community).query()["level"] == "community"


def test_a_subdistrict_officer_cannot_open_another_subdistrict(layers):
    mine, other = _subdistricts()[:2]
    at = _run(signed_in_app("subdistrict_officer", mine, page=PAGE, query={"level": "subdistrict", "code": other}))
    assert at.error and not at.metric
    at = _run(signed_in_app("subdistrict_officer", mine, page=PAGE))
    assert not at.error and at.query_params["code"] == mine


def test_a_planner_cannot_open_analysis(layers):
    assert "analysis" not in access.pages_for("planner")
    with pytest.raises(access.Forbidden):
        access.check_page(access.Principal("p", "planner"), "analysis")
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not in its navigation at all
        signed_in_app("planner", page=PAGE)


def test_an_export_is_audited(layers):
    from services.store import open_store

    store = open_store()
    who = access.Principal("test_leader", "leader")
    import pandas as pd

    before = len(store.audit_rows())
    data = analysis_views._export_data(store, who, pd.DataFrame({"received": [3]}), "csv", what="analysis.district",
                                       title="分析研判指标", period="2026年11月", area="光明区", lang="zh",
                                       headers={"received": "受理登记数"})
    assert len(store.audit_rows()) == before              # nothing is written until the download
    out = data()
    assert "受理登记数" in out.decode("utf-8-sig")
    last = store.audit_rows().iloc[-1]
    assert last.action == "export" and last.object_id == "analysis.district.csv"


def _busy_grid() -> tuple[str, int, str]:
    """A grid with appeals reported this month in the app's store, one of its appeals, and the month's date."""
    from services.seed import ensure_seeded
    from services.store import open_store
    from services.store.common import now

    ensure_seeded(open_store())                           # what the app does at start-up
    p = period("month", now())
    df = open_store().query_appeals(since=p.since, until=p.until, columns=("id", "grid_code"), limit=50)
    row = df.dropna(subset=["grid_code"]).iloc[0]
    return str(row.grid_code), int(row.id), p.start.isoformat()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_grid_lists_its_appeals_and_opens_one_timeline(layers, lang):
    grid, appeal_id, day = _busy_grid()
    query = {"level": "grid", "code": grid, "kind": "month", "date": day, **({"lang": "en"} if lang == "en" else {})}
    at = _run(signed_in_app("leader", page=PAGE, query=query))
    assert not at.error, [e.value for e in at.error]
    lists = [d for d in at.dataframe if "id" in d.value.columns]
    assert lists and appeal_id in set(lists[0].value["id"])
    assert "reporter_name" not in lists[0].value.columns and "description" not in lists[0].value.columns
    at = _run(signed_in_app("leader", page=PAGE, query={**query, "appeal": str(appeal_id)}))
    assert not at.error, [e.value for e in at.error]
    assert any(s.value == t("analysis_page.appeal", lang, id=appeal_id) for s in at.subheader)
    at.button(key="an_back").click()
    _run(at)
    assert "appeal" not in at.query_params and at.query_params["code"] == grid


def test_a_custom_period_and_a_bad_url_read_clearly(layers):
    at = _run(signed_in_app("leader", page=PAGE, query={"kind": "custom", "date": "2026-11-03", "until": "2026-11-09"}))
    assert not at.error and any("2026年11月3日至2026年11月9日" in c.value for c in at.caption)
    at = _run(signed_in_app("leader", page=PAGE, query={"level": "planet"}))
    assert at.error and not at.metric


def test_the_district_view_shows_the_services_figures(layers):
    from services.analysis.measures import CODES
    from services.store import open_store

    at = _run(signed_in_app("leader", page=PAGE, query={"kind": "month", "date": "2026-11-20"}))
    fig = service.figures(open_store(), access.Principal("x", "leader"), "district", None, period("month", "2026-11-20"))
    received = {m.label: m.value for m in at.metric}[t("analysis.measure.received", "zh")]
    assert received == f"{int(fig.current.iloc[0]['received']):,}"
    table = next(d.value for d in at.dataframe if "flagged" in d.value.columns)
    subs = service.figures(open_store(), access.Principal("x", "leader"), "subdistrict", None,
                           period("month", "2026-11-20")).current
    assert list(table["code"]) == list(subs["code"]) and set(CODES) <= set(table.columns)
    assert list(table["received"]) == list(subs["received"])
    assert len(at.get("deck_gl_json_chart")) == 1


def test_a_url_is_read_strictly():
    today = date(2026, 12, 2)
    assert drill.view_from_query({}, today) == drill.View("district", None, period("month", today))
    sub = _subdistricts()[0]
    assert drill.view_from_query({"code": sub}, today).level == "subdistrict"      # the level follows the code
    for bad in ({"level": "planet"}, {"level": "community", "code": sub}, {"code": "nowhere"},
                {"kind": "fortnight"}, {"date": "2026-13-01"}, {"kind": "custom", "date": "2026-11-09",
                                                                  "until": "2026-11-03"},
                {"level": "grid", "appeal": "12x"}):
        with pytest.raises(ValidationError):
            drill.view_from_query(bad, today)
    v = drill.view_from_query({"kind": "custom", "date": "2026-11-03", "until": "2026-11-09"}, today)
    assert (v.period.start, v.period.last_day) == (date(2026, 11, 3), date(2026, 11, 9))
    assert v.query()["until"] == "2026-11-09"


def test_shading_steps_and_the_map_pick():
    bins = drill.shade_bins([0, 1, 2, 3, 4, float("nan")])
    assert bins == pytest.approx([0.8, 1.6, 2.4, 3.2, 4.0])
    assert drill.shade(0, bins) == drill.SHADES[0] and drill.shade(2, bins) == drill.SHADES[2]
    assert drill.shade(4, bins) == drill.SHADES[-1] and drill.shade(9, bins) == drill.SHADES[-1]
    assert drill.shade(float("nan"), bins) == drill.NO_VALUE and drill.shade(1, []) == drill.NO_VALUE
    assert drill.shade_bins([]) == [] and drill.shade_bins([5, 5]) == [5.0]
    assert drill.shade_bins([0, 3, 3, 5, 2], integer=True) == [2.0, 3.0, 4.0, 5.0]   # quantiles 1.6, 2.6, 3, 3.4, 5
    event = {"selection": {"objects": {"other": [{"code": "x"}], "an-areas": [{"code": "440311001"}]}}}
    assert drill.pick(event, "an-areas", "code") == "440311001"
    assert drill.pick(None, "an-areas", "code") is None and drill.pick({"selection": {}}, "an-areas", "code") is None


def test_the_assessment_is_named_by_the_area_it_covers_not_the_area_drilled_into(layers):
    """A leader drilled into a subdistrict still sees (and exports) the district's ranking: its caption,
    file name and first rows name the district; a subdistrict officer's names its own subdistrict."""
    sub = _subdistricts()[0]
    query = {"level": "subdistrict", "code": sub, "kind": "month", "date": "2026-11-15"}
    label = period("month", date(2026, 11, 15)).label("zh")
    whole = next(iter(district.names("district", "zh").values()))
    at = _run(signed_in_app("leader", page=PAGE, query=query))
    captions = [c.value for c in at.caption]
    assert t("analysis_page.showing", "zh", area=district.name_of("subdistrict", sub, "zh"), period=label) in captions
    assert t("analysis_page.showing", "zh", area=whole, period=label) in captions  # the assessment tab's
    at = _run(signed_in_app("subdistrict_officer", area=sub, page=PAGE, query=query))
    captions = [c.value for c in at.caption]
    assert t("analysis_page.showing", "zh", area=whole, period=label) not in captions
