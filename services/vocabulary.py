"""The appeal vocabularies shared by the sample generator, intake and the simulator.

One place for the codes of service types, channels and categories, their Chinese names, the mix the
sample and the simulator draw from, and the names intake accepts for each code (our code, the Chinese
name, common short forms). Why here: intake must accept exactly the codes the rest of the system uses,
and a clerk's file says 法律服务 or 扫码, not ``legal`` or ``qr_scan``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from services.i18n import table as _strings

# Appeal statuses, in the order of the closed loop (一张网闭环); services.lifecycle.TRANSITIONS says which
# action leads from one to the next. Here rather than in services.lifecycle because services.clocks needs
# them too and services.lifecycle imports services.clocks. The stores build their CHECK constraints and
# SQL status sets from these tuples (services.store.common.sql_in), so the database accepts exactly them.
STATUSES = ("reported", "accepted", "dispatched", "resolved", "confirmed", "feedback", "reopened", "closed")
OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")
# Statuses in which the resolution clock runs (resolve_due_at is kept current in them).
RESOLVING = ("reported", "accepted", "dispatched", "reopened")
# Statuses of an appeal resolved (and not reopened since): what the KPIs count as resolved.
RESOLVED = ("resolved", "confirmed", "feedback", "closed")
# How a resolved appeal was settled (``resolve``'s ``settlement``): the three mediations of 三调联动 —
# people's mediation by a mediation committee's mediator (人民调解), administrative mediation by the
# department concerned (行政调解), judicial mediation by a judge stationed in the community (司法调解) —
# then a dispute that mediation did not settle, whose parties were guided to arbitration or a lawsuit
# (引导仲裁诉讼: 诉调对接), and a matter handled without mediation (直接办结: a consultation answered, help
# given, a complaint dealt with). A dispute (service type ``dispute``) must say how it was settled.
MEDIATIONS = ("people_mediation", "administrative_mediation", "judicial_mediation")
SETTLEMENTS = (*MEDIATIONS, "referred", "direct")
# What the court said on an online judicial confirmation (在线司法确认) of a mediation agreement.
JUDICIAL_RESULTS = ("confirmed", "refused")

# Appeal mix. Service types: legal service is 61 % (seed 004); the rest split by the 2019+ counts.
SERVICE_TYPES = {"legal": 0.61, "dispute": 0.24, "complaint": 0.06, "assistance": 0.04, "psychological": 0.05}
# Channels: active discovery by grid workers and volunteers finds most leads (seed 000); secretary
# online is about 17 % of accepted appeals and QR self-reports about 5 % (seed 004).
CHANNELS = {"active_discovery": 0.52, "secretary_online": 0.17, "hotline": 0.15, "walk_in": 0.11, "qr_scan": 0.05}
CATEGORIES = {
    "legal": {"legal_consultation": 0.45, "labour_law": 0.25, "contract": 0.12, "family": 0.10,
              "judicial_confirmation": 0.08},
    "dispute": {"wage_arrears": 0.30, "neighbour": 0.25, "landlord_tenant": 0.20, "property_management": 0.15,
                "traffic": 0.10},
    "complaint": {"noise": 0.35, "environment": 0.25, "illegal_building": 0.20, "public_facility": 0.20},
    "assistance": {"hardship": 0.5, "elderly_care": 0.3, "disability": 0.2},
    "psychological": {"counselling": 0.85, "crisis": 0.15},
}
# Where each cause happens: land-use weights for choosing the building an appeal comes from (categories
# not listed come from anywhere, weighted by population).
CATEGORY_LAND_USE = {
    "wage_arrears": {"construction": 0.6, "industrial": 0.4},
    "labour_law": {"industrial": 0.6, "construction": 0.2, "urban_village": 0.2},
    "property_management": {"residential": 0.9, "commercial": 0.1},
    "landlord_tenant": {"urban_village": 0.8, "residential": 0.2},
    "noise": {"urban_village": 0.5, "residential": 0.3, "commercial": 0.2},
    "environment": {"industrial": 0.6, "urban_village": 0.2, "scattered": 0.2},
    "illegal_building": {"urban_village": 0.7, "scattered": 0.3},
}
# The note on an appeal's report event, by channel.
CHANNELS_NOTE = {"qr_scan": "扫码上报", "hotline": "12345热线转办", "secretary_online": "书记在线",
                 "walk_in": "来访", "active_discovery": "网格员/平安志愿者主动发现"}

# Names shown to people come from the UI string table (config/strings/vocabulary.toml), so that a code is
# named the same way on screen, in the briefing and in what intake accepts.
def _names(group: str, codes: object, lang: str) -> dict:
    return {c: _strings()[f"{group}.{c}"][lang] for c in codes}


SERVICE_TYPE_ZH = _names("service_type", SERVICE_TYPES, "zh")
SERVICE_TYPE_EN = _names("service_type", SERVICE_TYPES, "en")
CHANNEL_ZH = _names("channel", CHANNELS, "zh")
CHANNEL_EN = _names("channel", CHANNELS, "en")
CATEGORY_SERVICE = {cat: svc for svc, cats in CATEGORIES.items() for cat in cats}
CATEGORY_ZH = _names("category", CATEGORY_SERVICE, "zh")
CATEGORY_EN = _names("category", CATEGORY_SERVICE, "en")
URGENCY_ZH = {k: _strings()[f"urgency.{k}"]["zh"] for k in (1, 2, 3)}

# Further names accepted on intake, besides the code and the Chinese name above (matched after trimming
# and lower-casing).
_SERVICE_ALIASES = {
    "dispute": ["纠纷", "矛盾纠纷", "纠纷调解", "矛盾纠纷调处", "dispute mediation", "mediation"],
    "complaint": ["投诉", "建议", "投诉举报", "complaint & suggestion", "complaints", "suggestion"],
    "assistance": ["帮扶", "救助", "困难帮扶", "assistance & relief", "relief"],
    "legal": ["法律", "法律咨询", "公共法律服务", "legal service", "law"],
    "psychological": ["心理", "心理咨询", "心理服务站", "psychological service", "psychology"],
}
_CHANNEL_ALIASES = {
    "qr_scan": ["扫码上报", "二维码", "扫二维码", "qr", "qr code", "qrcode", "scan"],
    "hotline": ["12345", "12345热线", "12345热线转办", "热线电话", "电话", "phone"],
    "secretary_online": ["书记在线", "微信", "书记在线微信", "wechat", "secretary"],
    "walk_in": ["来访", "上门", "窗口", "走访来访", "walk-in", "visit"],
    "active_discovery": ["主动发现", "网格员", "网格员发现", "平安志愿者", "志愿者", "巡查", "grid worker",
                         "volunteer", "patrol"],
}
# Event actors stored before they were codes, or typed as the pre-filled operator name: read as the code
# (the labels of config/strings/vocabulary.toml [actor], in either language, are read as the code too).
ACTOR_ALIASES = {
    "duty_officer": ["值班员", "指挥中心值班员", "duty officer"],
    "citizen": ["市民", "群众", "居民"],
    "grid_worker": ["网格员"],
    "simulator": ["模拟器"],
    "simulator_party": ["模拟器·社区党委"],
    "system": ["系统"],
}
_URGENCY_ALIASES = {1: ["一般", "普通", "ordinary", "normal", "low"], 2: ["紧急", "urgent", "high"],
                    3: ["特急", "特别紧急", "critical", "emergency"]}


def _lookup(codes: Mapping[str, object], *names: Mapping[str, object]) -> dict[str, str]:
    out: dict[str, str] = {}
    for code in codes:
        out[code.lower()] = code
        out[code.replace("_", " ").lower()] = code
        out[code.replace("_", "-").lower()] = code
    for table in names:
        for code, name in table.items():
            for n in ([name] if isinstance(name, str) else name):
                out[str(n).strip().lower()] = code
    return out


SERVICE_TYPE_LOOKUP = _lookup(SERVICE_TYPES, SERVICE_TYPE_ZH, SERVICE_TYPE_EN, _SERVICE_ALIASES)
CHANNEL_LOOKUP = _lookup(CHANNELS, CHANNEL_ZH, CHANNEL_EN, CHANNELS_NOTE, _CHANNEL_ALIASES)
CATEGORY_LOOKUP = _lookup(CATEGORY_ZH, CATEGORY_ZH, CATEGORY_EN)
URGENCY_LOOKUP = {str(k): k for k in URGENCY_ZH} | {
    str(n).lower(): k for k, names in _URGENCY_ALIASES.items() for n in names}


def normalise(values: pd.Series, lookup: Mapping[str, object]) -> pd.Series:
    """Map free-text names to codes, vectorised: trimmed and lower-cased, then looked up; NaN if unknown."""
    key = values.astype("string").str.strip().str.lower()
    return key.map(lookup).astype(object).where(lambda s: s.notna(), np.nan)
