"""The working-day calendar past the package's last year: computed statutory holidays, the official
schedule file that beats everything, and saying when a year is unofficial.

Hand-checked against 全国年节及纪念日放假办法 (2024): 2027's 正月初一 is Sat 6 Feb (除夕 Fri 5 Feb, 腊月
having 29 days), 清明 falls on Mon 5 Apr, 端午 (五月初五) on Wed 9 Jun, 中秋 (八月十五) on Wed 15 Sep.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime
from zoneinfo import ZoneInfo

import chinese_calendar
import pandas as pd
import pytest

from services import clocks, work_calendar
from services.clocks import (
    CalendarComputedWarning,
    CalendarFileError,
    calendar_basis,
    is_workday,
    next_deadlines,
    resolve_deadline,
    unofficial_note,
    unofficial_years,
    unofficial_years_consulted,
)
from services.work_calendar import computed_holidays, statutory_holidays

TZ = ZoneInfo("Asia/Shanghai")

# The statutory days of 2027 (no make-up days): what a complete official entry must contain at least.
HOLIDAYS_2027 = """
    { name = "元旦", from = 2027-01-01 },
    { name = "春节", from = 2027-02-05, to = 2027-02-08 },
    { name = "清明", from = 2027-04-05 },
    { name = "劳动节", from = 2027-05-01, to = 2027-05-02 },
    { name = "端午", from = 2027-06-09 },
    { name = "中秋", from = 2027-09-15 },
    { name = "国庆", from = 2027-10-01, to = 2027-10-03 },
"""


@pytest.fixture
def official(tmp_path):
    """Point the calendar at a file of the test's own (not the shipped one); restore afterwards."""
    path = tmp_path / "official.toml"

    def use(text: str = "") -> None:
        path.write_text(text, encoding="utf-8")
        clocks.use_calendar_file(path)

    use()
    yield use
    clocks.use_calendar_file(None)


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalendarComputedWarning)
        yield


def end_of(*ymd: int) -> datetime:
    return datetime(*ymd, 23, 59, 59, tzinfo=TZ)


def test_2027_statutory_holidays_are_computed_without_an_official_entry(official):
    with pytest.warns(CalendarComputedWarning, match="2027 are computed"):
        off = [date(2027, 1, 1), date(2027, 2, 5), date(2027, 2, 8), date(2027, 4, 5), date(2027, 6, 9),
               date(2027, 9, 15), date(2027, 10, 1)]
        assert [d for d in off if is_workday(d)] == []
    assert is_workday(date(2027, 2, 4))          # Thursday before 除夕
    assert is_workday(date(2027, 3, 17))         # a plain Wednesday
    assert not is_workday(date(2027, 3, 20))     # a plain Saturday
    assert calendar_basis(date(2027, 6, 1)) == "computed"


def test_weekend_statutory_days_are_made_up_on_the_next_weekdays(official, quiet):
    # 春节: Sat 6 and Sun 7 Feb fall on the weekend, Mon 8 is 初三: made up Tue 9 and Wed 10.
    h = computed_holidays(2027)
    assert [d.day for d in h if d.month == 2] == [5, 6, 7, 8, 9, 10]
    assert h[date(2027, 2, 9)] == "春节补假"
    assert is_workday(date(2027, 2, 11))
    # 劳动节 Sat 1 - Sun 2 May: Mon 3 and Tue 4 off; 国庆 Sat 2 - Sun 3 Oct: Mon 4 and Tue 5 off.
    assert [is_workday(date(2027, 5, d)) for d in (3, 4, 5)] == [False, False, True]
    assert [is_workday(date(2027, 10, d)) for d in (4, 5, 6)] == [False, False, True]


def test_three_working_days_from_29_december_2026_skip_new_year(official, quiet):
    # Tue 29 Dec: Wed 30, Thu 31, [Fri 1 Jan 元旦, weekend], Mon 4 Jan.
    due = resolve_deadline("major", datetime(2026, 12, 29, 10, 0, tzinfo=TZ))
    assert due == end_of(2027, 1, 4)
    # The vectorised path (bulk inserts, the wall) gives the same.
    frame = pd.DataFrame([{"status": "accepted", "appeal_class": "major",
                           "reported_at": pd.Timestamp("2026-12-29 10:00", tz=TZ)}])
    assert next_deadlines(frame)[1].iloc[0].to_pydatetime() == end_of(2027, 1, 4)
    assert 2027 in unofficial_years_consulted()


def test_spring_festival_2027_does_not_count(official, quiet):
    # Reported Thu 4 Feb: 5-10 off (除夕 to 初三 and two make-up days): Thu 11, Fri 12, Mon 15.
    assert resolve_deadline("major", datetime(2027, 2, 4, 9, tzinfo=TZ)) == end_of(2027, 2, 15)


def test_an_official_year_makes_an_adjusted_saturday_a_working_day_and_adds_holidays(official):
    official(f"""
[2027]
source = "test notice"
holidays = [{HOLIDAYS_2027}    {{ name = "春节", from = 2027-02-09, to = 2027-02-11 }},
]
workdays = [2027-02-20]
""")
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # an official year is not computed: no warning
        assert is_workday(date(2027, 2, 20))      # Saturday, adjusted workday
        assert not is_workday(date(2027, 2, 11))  # Thursday, a holiday of the file
        assert not is_workday(date(2027, 2, 8))
        assert is_workday(date(2027, 5, 3))       # the file is the whole year: no computed make-up day
        # Reported Fri 19 Feb: Sat 20 (adjusted), Mon 22, Tue 23.
        assert resolve_deadline("major", datetime(2027, 2, 19, 9, tzinfo=TZ)) == end_of(2027, 2, 23)
        assert calendar_basis(2027) == "official_file"


def test_the_file_beats_the_package_for_a_year_it_covers(official):
    assert not is_workday(date(2026, 1, 2)) and is_workday(date(2026, 1, 4))   # the package's 2026
    official("""
[2026]
holidays = [
    { name = "元旦", from = 2026-01-01 },
    { name = "春节", from = 2026-02-16, to = 2026-02-19 },
    { name = "清明", from = 2026-04-05 },
    { name = "劳动节", from = 2026-05-01, to = 2026-05-02 },
    { name = "端午", from = 2026-06-19 },
    { name = "中秋", from = 2026-09-25 },
    { name = "国庆", from = 2026-10-01, to = 2026-10-03 },
]
""")
    assert is_workday(date(2026, 1, 2))          # Friday: a holiday in the package, not in the file
    assert not is_workday(date(2026, 1, 4))      # Sunday: adjusted workday in the package, not in the file
    assert calendar_basis(date(2026, 3, 1)) == "official_file"
    assert calendar_basis(date(2025, 3, 1)) == "package"


def test_the_file_can_be_named_by_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "elsewhere.toml"
    path.write_text(f"[2027]\nholidays = [{HOLIDAYS_2027}]\n", encoding="utf-8")
    monkeypatch.setenv(work_calendar.FILE_ENV, str(path))
    try:
        assert clocks.use_calendar_file().path == path
        assert calendar_basis(2027) == "official_file"
    finally:
        monkeypatch.delenv(work_calendar.FILE_ENV)
        clocks.use_calendar_file(None)


def test_unofficial_years_and_the_note(official):
    assert unofficial_years(date(2025, 6, 1), date(2028, 1, 1)) == [2027, 2028]
    assert unofficial_years(2025, 2026) == []
    assert unofficial_note([2028, 2027]) == "截止时间按推算的法定节假日计算（2027、2028年国务院安排尚未录入）"
    assert "2027" in unofficial_note([2027], "en") and "computed" in unofficial_note([2027], "en")
    assert unofficial_note([]) is None
    official(f"[2027]\nholidays = [{HOLIDAYS_2027}]\n")
    assert unofficial_years(date(2025, 6, 1), date(2028, 1, 1)) == [2028]


@pytest.mark.parametrize(("text", "expected"), [
    ("[2027]\nholidays = [{ name = '元旦', from = '2027-02-30' }]",
     r"\[2027\] holidays\[0\] \(元旦\): bad date"),
    ("[2027]\nholidays = [{ name = '元旦', from = 2027-01-01 }\n",
     "not valid TOML"),
    (f"[2027]\nholidays = [{HOLIDAYS_2027}]\nworkdays = [2027-02-06]",
     r"2027-02-06 is also a holiday \(春节\)"),
    (f"[2027]\nholidays = [{HOLIDAYS_2027}]\nworkdays = [2027-02-17]",
     r"workdays\[0\]: 2027-02-17 is a Wednesday"),
    (f"[2027]\nholidays = [{HOLIDAYS_2027.replace('to = 2027-02-08', 'to = 2027-02-07')}]",
     r"2027-02-08 \(春节\) is a statutory holiday but not among the holidays"),
    (f"[2027]\nholidays = [{HOLIDAYS_2027}  {{ name = 'x', from = 2027-03-05, to = 2027-03-01 }}]",
     r"'to' 2027-03-01 is before 'from' 2027-03-05"),
    (f"[2027]\nholiday = [{HOLIDAYS_2027}]", r"unknown key 'holiday'"),
    (f"[2027]\nholidays = [{HOLIDAYS_2027}]\nworkdays = [2028-01-08]", "2028-01-08 is outside 2027"),
    ("[next]\nholidays = []", r"\[next\]: sections are years"),
])
def test_a_bad_file_gives_an_error_naming_the_file_and_the_entry(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarFileError, match=expected) as err:
        clocks.use_calendar_file(path)
    assert str(path) in str(err.value)
    clocks.use_calendar_file(None)


def test_the_shipped_file_is_valid_and_names_the_notice_of_every_year_it_enters():
    cal = work_calendar.WorkCalendar(work_calendar.DEFAULT_FILE)
    assert all(source.strip() for source in cal.official.years.values())


@pytest.mark.parametrize("year", [2025, 2026])
def test_computed_holidays_are_holidays_in_the_packages_official_calendar(year):
    # The law as amended in 2024 applies from 2025: every statutory day and make-up day computed for
    # 2025 and 2026 is a holiday in the State Council's schedule as chinese-calendar records it.
    computed = computed_holidays(year)
    assert len(statutory_holidays(year)) == 13
    assert {d: n for d, n in computed.items() if chinese_calendar.is_workday(d)} == {}


def test_lunar_and_solar_term_days_agree_with_the_package_since_2008():
    # Since 2008 清明, 端午 and 中秋 are one-day holidays and 春节 includes 正月初一: the lunar
    # computation must land on a holiday of the same name in every year the package has.
    # (The package leaves weekend days of a holiday unnamed, and 中秋 on 1-3 October is 国庆.)
    names = {"清明": "Tomb-sweeping Day", "端午": "Dragon Boat Festival", "中秋": "Mid-autumn Festival"}
    wrong = []
    for year in range(2008, 2027):
        for day, name in statutory_holidays(year).items():
            detail = chinese_calendar.get_holiday_detail(day)
            ok = detail == (True, names.get(name)) or (detail == (True, None) and day.weekday() >= 5) or \
                (name == "中秋" and detail == (True, "National Day"))
            if name in names and not ok:
                wrong.append((day, name, detail))
        new_year = min(d for d, n in statutory_holidays(year).items() if n == "春节") + pd.Timedelta(days=1)
        if chinese_calendar.get_holiday_detail(new_year) != (True, "Spring Festival"):
            wrong.append((new_year, "春节", chinese_calendar.get_holiday_detail(new_year)))
    assert wrong == []


def test_the_intake_cli_warns_when_deadlines_fall_in_a_computed_year(official, quiet, tmp_path, capsys, layers):
    from services.intake import main

    # 2003 is before the package's first year: a major appeal (15 people) imported from then is due on
    # the computed calendar, and the CLI says so on stderr.
    p = layers["community"].geometry.iloc[0].representative_point()
    (tmp_path / "old.csv").write_text(
        "external_id,service_type,channel,category,description,lon,lat,people_involved,amount_involved,"
        f"urgency,reported_at,source_crs\nO1,纠纷调处,来访,邻里纠纷,欠薪,{p.x},{p.y},15,,1,2003-06-10 10:00,\n",
        encoding="utf-8")
    assert main([str(tmp_path / "old.csv"), "--store", f"sqlite:///{tmp_path / 'gm.sqlite3'}",
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "截止时间按推算的法定节假日计算（2003年国务院安排尚未录入）" in err
    assert "2003 schedule is not yet entered" in err


def test_the_simulator_cli_warns_when_deadlines_cross_into_2027(official, quiet, tmp_path, capsys):
    from services.simulate import main

    assert main(["--start", "2026-12-30T09:00", "--duration", "1s", "--tick", "0.5", "--speed", "600",
                 "--rate", "30/min", "--seed", "3", "--adopt", "none", "--quiet",
                 "--store", f"sqlite:///{tmp_path / 'gm.sqlite3'}"]) == 0
    assert "2027年国务院安排尚未录入" in capsys.readouterr().err


def test_an_official_run_prints_no_calendar_warning(official, tmp_path, capsys):
    from services.simulate import main

    assert main(["--start", "2026-06-01T09:00", "--duration", "1s", "--tick", "0.5", "--speed", "600",
                 "--rate", "30/min", "--seed", "3", "--adopt", "none", "--quiet",
                 "--store", f"sqlite:///{tmp_path / 'gm.sqlite3'}"]) == 0
    assert "国务院安排尚未录入" not in capsys.readouterr().err
