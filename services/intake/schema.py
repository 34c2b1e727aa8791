"""What intake accepts: field names and their aliases, status words, reason codes and their messages
(config/strings/intake.toml), the limits of config/rules.toml ``[intake]``, the file-level error.

Why one module: every reader, check and message refers to the same field names and reason codes.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from services.config import rules
from services.i18n import t

DEFAULT_CHUNK = 10_000
FORMATS = ("csv", "jsonl", "geojson", "open311", "xlsx")
OPEN311_DEFAULT_CHANNEL = "hotline"

# Canonical field -> accepted column names (matched after trimming and lower-casing), first wins.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id", "service_request_id", "id", "request_id", "case_id", "编号", "诉求编号",
                    "工单号", "工单编号", "案件编号"),
    "service_type": ("service_type", "service_code", "service", "服务类型", "诉求类型", "业务类型"),
    "service_name": ("service_name", "服务名称"),
    "channel": ("channel", "渠道", "来源渠道", "上报渠道", "来源"),
    "category": ("category", "类别", "诉求类别", "事项类别"),
    "description": ("description", "desc", "描述", "诉求内容", "内容", "事项描述"),
    "lon": ("lon", "lng", "long", "longitude", "经度"),
    "lat": ("lat", "latitude", "纬度"),
    "source_crs": ("source_crs", "crs", "coord_system", "坐标系"),
    "people_involved": ("people_involved", "people", "涉及人数", "人数"),
    "amount_involved": ("amount_involved", "amount", "涉案金额", "金额"),
    "urgency": ("urgency", "紧急程度"),
    "reported_at": ("reported_at", "requested_datetime", "reported", "datetime", "time", "上报时间", "时间"),
    "reporter_name": ("reporter_name", "name", "上报人", "诉求人", "姓名"),
    "reporter_phone": ("reporter_phone", "phone", "联系电话", "电话", "手机"),
    "building_code": ("building_code", "building", "address_id", "楼栋编码", "楼栋编号"),
    "address": ("address", "address_string", "地址"),
    "status": ("status", "状态", "办理状态"),
    "updated_at": ("updated_datetime", "updated_at", "办结时间"),
    "status_notes": ("status_notes", "办理说明", "办结说明"),
}
FIELDS = tuple(FIELD_ALIASES)
REQUIRED = ("external_id", "service_type", "channel", "lon", "lat")
# Chinese names of the fields in messages (config/strings/intake.toml [intake.field]).
FIELD_ZH = {f: t(f"intake.field.{f}", "zh") for f in FIELD_ALIASES}
# Status values (Open311 ``status`` is open or closed; Chinese exports say 已办结 and the like), lower-cased.
STATUS_LOOKUP = {"open": "open", "closed": "closed", "未办结": "open", "办理中": "open", "处理中": "open",
                 "待办": "open", "已办结": "closed", "办结": "closed", "已关闭": "closed", "关闭": "closed",
                 "已完成": "closed", "完成": "closed"}
# Characters no field may hold: the C0 controls but tab and line breaks, and DEL; lone surrogates (half
# a UTF-16 pair, from a JSON escape) are not text at all. Regular expressions over a column.
CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
SURROGATE = r"[\ud800-\udfff]"
ALIAS_TO_FIELD = {a: f for f, names in FIELD_ALIASES.items() for a in names}

# The reason codes in the order a clerk must act on them, which is the order the checks run in (the
# first failing one is the row's reason_code; the message lists every failing check): the row cannot be
# read; where the point is (a point outside the district means the row is not ours, whatever else is
# wrong with it); then the vocabularies, numbers, times and status. Labels: config/strings/intake.toml.
REASON_CODES = ("malformed_row", "invalid_json", "not_an_object", "bad_encoding", "control_character", "bad_geometry",
                "missing_field", "bad_external_id", "not_a_number", "not_finite", "unknown_crs", "lonlat_swapped",
                "outside_district", "unknown_service_type", "unknown_channel", "unknown_category", "out_of_range",
                "bad_timestamp", "ambiguous_date", "bad_timezone", "future_timestamp", "unknown_status",
                "duplicate_in_file")
# Codes of a quarantine record for a whole file (``line`` empty): it is not what it claims to be, and
# none of its rows was read (services/intake/sniffing.py).
FILE_REASON_CODES = ("excel_workbook", "archive", "binary_file", "wrong_delimiter", "truncated_json",
                     "invalid_document", "wrong_crs")
# reason_code -> (Chinese, English) short label.
REASONS: dict[str, tuple[str, str]] = {
    code: (t(f"intake.reason.{code}", "zh"), t(f"intake.reason.{code}", "en"))
    for code in REASON_CODES + FILE_REASON_CODES}


def bilingual(key: str, **values: object) -> str:
    """A text of config/strings: Chinese, then the English in brackets (a clerk's file may go to either
    reader). A value given as a (zh, en) pair is put in its language."""
    def part(lang: str) -> str:
        return t(key, lang, **{k: v[lang == "en"] if isinstance(v, tuple) else v for k, v in values.items()})
    return f"{part('zh')}（{part('en')}）"


def pair(key: str, **values: object) -> tuple[str, str]:
    """A text of config/strings in both languages, to be put into another (``bilingual``)."""
    return t(key, "zh", **values), t(key, "en", **values)


def message(key: str, **values: object) -> str:
    """A quarantine message of config/strings/intake.toml ``[intake.msg]`` (see ``bilingual``)."""
    return bilingual(f"intake.msg.{key}", **values)

def limit(key: str, default: float) -> float:
    """One number of config/rules.toml ``[intake]`` (future_minutes, earliest_year, backlog_hours, ...;
    the limits of the facts are ``services.facts.limits``); ``default`` when the file does not set it."""
    return float(rules().get("intake", {}).get(key, default))


def future_tolerance() -> timedelta:
    """How far in the future a timestamp may be (clocks drift) before it is refused ([intake] future_minutes)."""
    return timedelta(minutes=limit("future_minutes", 5))


def earliest() -> pd.Timestamp:
    """Timestamps before 1 January of [intake] earliest_year are refused as impossible."""
    return pd.Timestamp(year=int(limit("earliest_year", 2000)), month=1, day=1, tz="UTC")


class IntakeError(Exception):
    """The file as a whole cannot be read, or the service mapping is invalid (exit status 1); no row of
    it was processed."""
