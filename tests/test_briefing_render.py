"""The daily briefing drawn (services/briefing/render.py) and made into files (services/briefing/jobs.py):
the PDF's text holds the figures, Chinese is embedded, two renders are the same bytes, nothing is fetched,
and a failing run leaves the previous briefing in place and says why."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import services.briefing
from services.briefing import jobs, render
from services.i18n import t
from tests.briefing_sample import CUT_OFF, DAY, EXPECTED, empty_sample, sample

CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")


def tool(name: str) -> str:
    """The path of a poppler-utils tool; missing fails under CI (./dev test installs it), else skips."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is missing: install Debian's poppler-utils"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def pdf_text(data: bytes, tmp_path: Path, name: str = "b.pdf") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return subprocess.run([tool("pdftotext"), "-layout", "-enc", "UTF-8", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def made() -> dict:
    """The sample briefing drawn once per language (map and PDF), twice each, and the empty day."""
    out = {}
    for lang in ("zh", "en"):
        b = sample(lang)
        png = render.map_png(b)
        out[lang] = (b, png, render.pdf(b, png))
        out[lang + "_again"] = (b, render.map_png(sample(lang)), render.pdf(sample(lang), png))
    e = empty_sample("zh")
    out["empty"] = (e, None, render.pdf(e, render.map_png(e)))
    e = empty_sample("en")
    out["empty_en"] = (e, None, render.pdf(e, render.map_png(e)))
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pdf_text_holds_the_headline_figures(made, tmp_path, lang):
    b, _, data = made[lang]
    text = pdf_text(data, tmp_path)
    lines = text.splitlines()
    for code, expected in EXPECTED.items():
        name = t(f"analysis.measure.{code}", lang)
        row = [ln for ln in lines if ln.strip().startswith(name + " ") or ln.strip().startswith(name + "  ")]
        assert row, (code, name)
        assert tuple(row[0].split()[-3:]) == expected, (code, row[0])
    assert t("briefing.pdf.title", lang, area=b.area_name) in text
    assert "2025-06-01 24:00" in text                       # the cut-off and the making time
    assert t("briefing.pdf.made_at", lang, at="2025-06-01 24:00") in text
    assert t("briefing.pdf.cut_off", lang, at="2025-06-01 24:00") in text
    assert re.search(t("briefing.pdf.page", lang, page=1, pages=r"\d"), text)   # page numbers
    for figure in ("9001", "9017", "9105", "9133", "77"):  # clearance, red warnings, gathering ids
        assert figure in text
    assert b.late_departments.iloc[0]["name"] in text        # 每日一提醒
    assert b.clearance.iloc[0]["name"] in text


def test_pdf_is_a4_with_dates_from_the_cut_off(made, tmp_path):
    path = tmp_path / "b.pdf"
    path.write_bytes(made["zh"][2])
    info = subprocess.run([tool("pdfinfo"), "-isodates", str(path)], check=True, capture_output=True,
                          text=True).stdout
    assert re.search(r"Page size:\s+595\.2\d* x 841\.8\d* pts \(A4\)", info), info
    for field in ("CreationDate", "ModDate"):              # the cut-off, 2025-06-02 00:00 in Shanghai
        line = next(ln for ln in info.splitlines() if ln.startswith(field))
        assert line.split()[1].startswith(CUT_OFF.strftime("%Y-%m-%dT%H:%M:%S+08")), line


def test_chinese_font_is_embedded(made, tmp_path):
    for key in ("zh", "en"):
        path = tmp_path / f"{key}.pdf"
        path.write_bytes(made[key][2])
        out = subprocess.run([tool("pdffonts"), str(path)], check=True, capture_output=True, text=True).stdout
        rows = out.splitlines()[2:]
        assert rows, out
        assert any("Noto-Sans-CJK-SC" in r for r in rows), out
        for r in rows:                                       # every font embedded (emb = yes), as a subset
            assert re.search(r"\s(yes)\s+(yes)\s+(yes)\s", r), r


def test_two_renders_are_byte_identical(made):
    for lang in ("zh", "en"):
        _, png, data = made[lang]
        _, png2, data2 = made[lang + "_again"]
        assert png == png2 and data == data2, lang
        assert data.startswith(b"%PDF-") and len(data) < 3_000_000
    assert made["zh"][2] != made["en"][2]
    assert render.identifier(sample("zh")) != render.identifier(sample("en"))


def test_english_has_no_chinese(made, tmp_path):
    text = pdf_text(made["en"][2], tmp_path)
    assert not CJK.findall(text), sorted(set(CJK.findall(text)))
    text = pdf_text(made["empty_en"][2], tmp_path, "e.pdf")
    assert not CJK.findall(text), sorted(set(CJK.findall(text)))


@pytest.mark.parametrize("key", ["empty", "empty_en"])
def test_an_empty_day_says_so(made, tmp_path, key):
    b, _, data = made[key]
    lang = b.lang
    text = " ".join(pdf_text(data, tmp_path).split())
    sentence = t("briefing.pdf.empty_day", lang, date=render.day_text(DAY, lang), at="2025-06-01 24:00")
    assert " ".join(sentence.split()) in text
    for key_ in ("warnings.no_red", "warnings.no_gathering", "orders.no_late", "clearance.all_clear",
                 "notes.categories_rising_none", "notes.reopened_communities_none",
                 "notes.unofficial_calendar_none"):
        assert " ".join(t(f"briefing.pdf.{key_}", lang).split()) in text, key_
    assert "—" in text                                      # rates with nothing to divide by


def test_figures_are_formatted():
    assert render.figure_text(None, True) == render.figure_text(float("nan"), False) == "—"
    assert render.figure_text(0.8, True) == "80.0%" and render.figure_text(2 / 3, True) == "66.7%"
    assert render.figure_text(137, False) == "137" and render.figure_text(128.571, False, mean=True) == "128.6"
    assert render.figure_text(119.0, False, mean=True) == "119"
    assert render.change_text(10.5) == "+10.5" and render.change_text(-2) == "-2"
    assert render.page_content("zh") == '"第 " counter(page) " 页，共 " counter(pages) " 页"'
    assert render.page_content("en") == '"Page " counter(page) " of " counter(pages)'


def test_nothing_is_fetched_but_data_urls():
    fetch = render._fetcher()
    for url in ("http://127.0.0.1:9/x.png", "https://example.org/a.css", "file:///etc/passwd"):
        with pytest.raises(render.OfflineOnly):
            fetch.fetch(url)
    assert fetch.fetch("data:text/plain;base64,aGk=") is not None
    page = render.html(sample("zh"), b"\x89PNG")
    assert "http://" not in page and "https://" not in page and "file:" not in page
    assert 'src="data:image/png;base64,' in page


def test_an_areas_map_draws_only_its_layers():
    from services import district

    sub = district.layers()["subdistrict"].code.iloc[1]
    layers = render.area_layers(("subdistrict", sub))
    assert "district" not in layers and list(layers["subdistrict"].code) == [sub]
    assert set(layers["community"].parent_code) == {sub}
    assert set(layers["grid"].parent_code) <= set(layers["community"].code) and len(layers["grid"])
    assert set(render.area_layers(None)) == {"district", "subdistrict", "community", "grid"}
    png = render.map_png(sample("zh", area=("subdistrict", sub)))
    assert png.startswith(b"\x89PNG") and png != render.map_png(sample("zh"))


# ------------------------------------------------------------------------------------------ the job
@pytest.fixture
def fake_build(monkeypatch):
    """``content.build`` replaced by the hand-made sample (content.py comes from its own branch); the
    returned dict says what the next build does: ``fail`` set raises that message."""
    state: dict = {"fail": None, "calls": 0}

    def build(store, report_date, *, area=None, lang="zh", now=None, cfg=None):
        state["calls"] += 1
        if state["fail"]:
            raise RuntimeError(state["fail"])
        return sample(lang, area=area)

    fake = types.ModuleType("services.briefing.content")
    fake.build = build
    monkeypatch.setitem(sys.modules, "services.briefing.content", fake)
    monkeypatch.setattr(services.briefing, "content", fake, raising=False)
    monkeypatch.delenv(jobs.DROP_ENV, raising=False)
    return state


def test_make_writes_the_pdf_and_png_and_logs_the_run(fake_build, tmp_path):
    paths = jobs.make(None, DAY, out_dir=tmp_path)
    assert paths == {"pdf": tmp_path / "briefing-440311-2025-06-01.pdf",
                     "png": tmp_path / "briefing-440311-2025-06-01.png"}
    assert paths["pdf"].read_bytes().startswith(b"%PDF-") and paths["png"].read_bytes().startswith(b"\x89PNG")
    en = jobs.make(None, DAY, lang="en", out_dir=tmp_path)
    assert en["pdf"].name == "briefing-440311-2025-06-01-en.pdf" and en["png"].name.endswith("-en.png")
    assert not list(tmp_path.glob(".*part"))               # no temporary file left
    log = jobs.runs(tmp_path)
    assert [r["ok"] for r in log] == [True, True] and log[0]["lang"] == "en" and log[1]["lang"] == "zh"
    assert log[1]["pdf_bytes"] == paths["pdf"].stat().st_size and log[1]["area"] == "440311"
    listed = jobs.briefings(tmp_path)
    assert [(b["date"], b["area"], b["lang"]) for b in listed] == [(DAY, "440311", "en"), (DAY, "440311", "zh")]
    assert listed[1]["pdf"] == paths["pdf"] and listed[1]["png_bytes"] == paths["png"].stat().st_size
    again = jobs.make(None, DAY, out_dir=tmp_path)           # the same day again: the same bytes
    assert again["pdf"].read_bytes() == paths["pdf"].read_bytes()


def test_a_failing_run_leaves_the_previous_briefing_and_says_why(fake_build, tmp_path, monkeypatch):
    paths = jobs.make(None, DAY, out_dir=tmp_path)
    before = {k: p.read_bytes() for k, p in paths.items()}
    fake_build["fail"] = "the store is down"
    with pytest.raises(RuntimeError, match="the store is down"):
        jobs.make(None, DAY, out_dir=tmp_path)
    assert {k: p.read_bytes() for k, p in paths.items()} == before
    last = jobs.runs(tmp_path)[0]
    assert last["ok"] is False and "the store is down" in last["reason"] and last["date"] == "2025-06-01"
    # failing after the map is drawn, while the PDF is laid out: the old PNG stays too
    fake_build["fail"] = None

    def broken(briefing, png):
        raise OSError("no space left on device")

    monkeypatch.setattr(render, "pdf", broken)
    with pytest.raises(OSError):
        jobs.make(None, DAY, out_dir=tmp_path)
    assert {k: p.read_bytes() for k, p in paths.items()} == before
    assert "no space left" in jobs.runs(tmp_path)[0]["reason"]
    assert not list(tmp_path.glob(".*part"))
    lines = (tmp_path / jobs.RUNS_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["ok"] for x in lines] == [True, False, False]


def test_a_failing_replace_keeps_the_old_file(fake_build, tmp_path, monkeypatch):
    paths = jobs.make(None, DAY, out_dir=tmp_path)
    before = paths["pdf"].read_bytes()
    real = os.replace

    def fail_on_pdf(src, dst):
        if str(dst).endswith(".pdf"):
            raise OSError("disk gone")
        return real(src, dst)

    fake_build["fail"] = None
    monkeypatch.setattr(jobs.os, "replace", fail_on_pdf)
    with pytest.raises(OSError):
        jobs.make(None, DAY, out_dir=tmp_path)
    assert paths["pdf"].read_bytes() == before and not list(tmp_path.glob(".*part"))


def test_new_briefings_are_copied_to_the_drop_folder(fake_build, tmp_path, monkeypatch):
    drop = tmp_path / "drop"
    monkeypatch.setenv(jobs.DROP_ENV, str(drop))
    paths = jobs.make(None, DAY, out_dir=tmp_path / "out")
    for p in paths.values():
        assert (drop / p.name).read_bytes() == p.read_bytes()
    assert jobs.runs(tmp_path / "out")[0]["dropped"] == str(drop)
    # from the rules when the environment says nothing; an empty variable turns it off
    from services import config

    shipped = config.rules()
    assert shipped["briefing"]["drop_dir"] == ""
    monkeypatch.setattr(config, "rules", lambda path=None: {**shipped, "briefing": {"drop_dir": str(tmp_path / "d2")}})
    monkeypatch.delenv(jobs.DROP_ENV)
    assert jobs.drop_dir() == tmp_path / "d2"
    monkeypatch.setenv(jobs.DROP_ENV, "")
    assert jobs.drop_dir() is None
    # a drop folder that cannot be written: the briefing is made, the run says the copy failed
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(jobs.DROP_ENV, str(blocker / "sub"))
    jobs.make(None, DAY, out_dir=tmp_path / "out")
    last = jobs.runs(tmp_path / "out")[0]
    assert last["ok"] is True and "drop_error" in last


def test_the_cli_writes_and_exits_non_zero_with_the_reason(fake_build, tmp_path, capsys):
    from services.briefing.__main__ import main, yesterday

    store = f"sqlite:///{tmp_path / 'gm.sqlite3'}"
    assert main(["--date", "2025-06-01", "--out", str(tmp_path), "--store", store]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(tmp_path / "briefing-440311-2025-06-01.pdf"), str(tmp_path / "briefing-440311-2025-06-01.png")]
    fake_build["fail"] = "no data for that day"
    assert main(["--date", "2025-06-01", "--out", str(tmp_path), "--store", store, "--lang", "en"]) == 1
    assert "no data for that day" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--area", "nowhere", "--out", str(tmp_path), "--store", store])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["--date", "2025-13-01"])
    from datetime import datetime

    assert yesterday(datetime(2025, 6, 2, 0, 30, tzinfo=CUT_OFF.tzinfo)).isoformat() == "2025-06-01"
    assert jobs.area_of("440311") is None and jobs.area_of(None) is None
    assert jobs.area_of("440311001") == ("subdistrict", "440311001")
    assert jobs.area_of("440311001001") == ("community", "440311001001")


def test_another_process_gives_the_same_bytes(made):
    """Two runs, not only two calls: a fresh interpreter (another hash seed) draws the same PDF and PNG."""
    code = ("import hashlib, sys; from tests.briefing_sample import sample; from services.briefing import render; "
            "b = sample('zh'); png = render.map_png(b); "
            "print(hashlib.sha256(png).hexdigest(), hashlib.sha256(render.pdf(b, png)).hexdigest())")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout.split()

    _, png, data = made["zh"]
    assert out == [hashlib.sha256(png).hexdigest(), hashlib.sha256(data).hexdigest()]
