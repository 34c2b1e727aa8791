"""The SQLite schema: the migrations (tables, indexes, the append-only triggers) and how timestamps are
stored (integer microseconds since the epoch, UTC) and read back."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from services.clocks import TZ, as_local
from services.store.common import (
    AREA_INDEXES,
    BRIEFING_INDEXES,
    IDENTITY_KINDS,
    IDENTITY_PROVIDERS,
    IMPORT_JOB_STATUSES,
    QUARANTINE_RESOLUTIONS,
    WALL_INDEXES,
    count_columns,
    sql_in,
)
from services.tiers import CLASSES, TIERS
from services.vocabulary import JUDICIAL_RESULTS, SETTLEMENTS, STATUSES

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
TABLES = ("order_department", "appeal_order", "appeal_event", "appeal", "department", "station", "building",
          "quarantine", "planning_scenario", "account", "audit_log", "audit_head", "kiosk_token", "identity_role",
          "import_job", "analysis_day", "analysis_day_community", "analysis_repeat", "analysis_dirty", "analysis_summary", "api_key",
          "schema_version")
# Tables that refuse UPDATE and DELETE with triggers named <table>_no_update / <table>_no_delete.
APPEND_ONLY = ("appeal_event", "audit_log")
_TS = " INTEGER"  # timestamp columns: microseconds since the epoch, UTC

# The table of applied migrations (made before the first one runs).
VERSION_TABLE = ("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                 "applied_at INTEGER NOT NULL)")

MIGRATIONS: dict[int, str] = {
    1: f"""
CREATE TABLE appeal (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    channel TEXT, service_type TEXT, category TEXT, description TEXT,
    lon REAL, lat REAL, source_crs TEXT,
    people_involved INTEGER, amount_involved REAL, urgency INTEGER,
    tier TEXT NOT NULL CHECK (tier IN {sql_in(TIERS)}),
    appeal_class TEXT NOT NULL CHECK (appeal_class IN {sql_in(CLASSES)}),
    handling_level TEXT NOT NULL DEFAULT 'community',
    dispatched_to TEXT,
    status TEXT NOT NULL CHECK (status IN {sql_in(STATUSES)}),
    reopened_count INTEGER NOT NULL DEFAULT 0,
    satisfaction TEXT, gathering_id INTEGER, gathering_tier TEXT,
    subdistrict_code TEXT, community_code TEXT, grid_code TEXT, subgrid_code TEXT, happiness_unit_code TEXT,
    building_code TEXT, reporter_name TEXT, reporter_phone TEXT,
    reported_at INTEGER NOT NULL,
    responded_at{_TS}, accepted_at{_TS}, dispatched_at{_TS}, resolved_at{_TS}, confirmed_at{_TS},
    feedback_at{_TS}, return_visit_at{_TS}, closed_at{_TS}, resolve_due_at{_TS}, next_deadline_at{_TS},
    next_deadline_kind TEXT,
    UNIQUE (source, external_id)
);
CREATE INDEX appeal_reported_at ON appeal (reported_at);
CREATE INDEX appeal_open_deadline ON appeal (next_deadline_at) WHERE status <> 'closed';
CREATE TABLE appeal_event (  -- appeal_id is not a foreign key, as in PostGIS (see postgis.py)
    id INTEGER PRIMARY KEY,
    appeal_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT, action TEXT NOT NULL, from_status TEXT, to_status TEXT, note TEXT
);
CREATE INDEX appeal_event_appeal ON appeal_event (appeal_id, at);
CREATE TRIGGER appeal_event_no_update BEFORE UPDATE ON appeal_event
BEGIN SELECT RAISE(ABORT, 'appeal_event is append-only'); END;
CREATE TRIGGER appeal_event_no_delete BEFORE DELETE ON appeal_event
BEGIN SELECT RAISE(ABORT, 'appeal_event is append-only'); END;
CREATE TABLE department (code TEXT PRIMARY KEY, name TEXT, name_en TEXT);
CREATE TABLE appeal_order (
    id INTEGER PRIMARY KEY,
    appeal_id INTEGER NOT NULL REFERENCES appeal (id),
    community_code TEXT, issued_by TEXT, issued_at INTEGER NOT NULL, category TEXT, tier TEXT,
    arrival_minutes INTEGER, arrive_by INTEGER NOT NULL, leader_level TEXT, people_required INTEGER,
    resolution_hours INTEGER, resolve_by INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')), closed_at INTEGER, note TEXT
);
CREATE INDEX appeal_order_appeal ON appeal_order (appeal_id);
CREATE INDEX appeal_order_issued ON appeal_order (issued_at);
CREATE TABLE order_department (
    order_id INTEGER NOT NULL REFERENCES appeal_order (id),
    department_code TEXT NOT NULL REFERENCES department (code),
    checked_in_at INTEGER, outcome TEXT, outcome_at INTEGER,
    PRIMARY KEY (order_id, department_code)
);
CREATE TABLE station (
    code TEXT PRIMARY KEY, name TEXT, level TEXT, site_type TEXT, offers_appeal INTEGER, offers_legal INTEGER,
    offers_psychological INTEGER, parent_code TEXT, building_code TEXT, lon REAL, lat REAL
);
CREATE TABLE building (
    code TEXT PRIMARY KEY, name TEXT, parent_code TEXT, land_use TEXT, population INTEGER, lon REAL, lat REAL
);
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, source TEXT, file TEXT, line INTEGER, raw TEXT,
    reason TEXT, reason_code TEXT
);
""",
    # Partial indexes of open appeals for the wall display (services.store.common.WALL_INDEXES).
    2: ";\n".join(WALL_INDEXES) + ";\n",
    # Planners' saved scenarios (what-if edits, service, radius as a JSON object), kept across reloads.
    # AUTOINCREMENT: the id of a deleted scenario is never given to a new one.
    3: """
CREATE TABLE planning_scenario (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    payload TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object')
);
""",
    # Quarantine rows record when and how they were settled (fixed and sent again, or dismissed) and by
    # whom, so that a settled row (raw text with names and phones) is deleted after [quarantine]
    # retention_days; the partial index finds those rows without reading the unsettled ones.
    4: f"""
ALTER TABLE quarantine ADD COLUMN resolved_at{_TS};
ALTER TABLE quarantine ADD COLUMN resolution TEXT CHECK (resolution IN {sql_in(QUARANTINE_RESOLUTIONS)});
ALTER TABLE quarantine ADD COLUMN resolved_by TEXT;
CREATE INDEX quarantine_resolved ON quarantine (resolved_at) WHERE resolved_at IS NOT NULL;
""",
    # Local accounts (services/accounts.py: argon2 hashes, throttled sign-in) and the append-only,
    # hash-chained audit log (services/audit.py) with its head: the last id, the row count and the last
    # hash, written in the same transaction as each row, so that deleting the newest rows shows too.
    # An audit id is given by the store (head + 1), never reused.
    5: f"""
CREATE TABLE account (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    area_code TEXT,
    display_name TEXT,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until{_TS}
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL, address TEXT, action TEXT NOT NULL, object_kind TEXT, object_id TEXT,
    detail TEXT CHECK (detail IS NULL OR json_valid(detail)),
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_object ON audit_log (object_kind, object_id, id);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TABLE audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    last_id INTEGER NOT NULL, row_count INTEGER NOT NULL, hash TEXT NOT NULL
);
""",
    # Kiosk tokens of the unattended wall screens (services/kiosk.py: only a SHA-256 of each token is
    # kept; at most one active token per screen, which the partial unique index enforces) and the map of
    # OIDC / trusted-header identities to roles (services/identities.py; user values lowercased).
    6: f"""
CREATE TABLE kiosk_token (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    screen TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL, created_by TEXT NOT NULL,
    revoked_at{_TS}, revoked_by TEXT,
    last_seen_at{_TS},
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE UNIQUE INDEX kiosk_token_active ON kiosk_token (screen) WHERE revoked_at IS NULL;
CREATE TABLE identity_role (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL CHECK (provider IN {sql_in(IDENTITY_PROVIDERS)}),
    kind TEXT NOT NULL CHECK (kind IN {sql_in(IDENTITY_KINDS)}),
    value TEXT NOT NULL,
    role TEXT NOT NULL,
    area_code TEXT,
    created_at INTEGER NOT NULL, created_by TEXT NOT NULL,
    UNIQUE (provider, kind, value)
);
""",
    # Who came on a check-in (issue 13 §2): how many people and the most senior leader's level, so that
    # a check-in with fewer people or a lower level than the order's rule asks is visible.
    7: """
ALTER TABLE order_department ADD COLUMN people_on_site INTEGER;
ALTER TABLE order_department ADD COLUMN leader_level_on_site TEXT;
""",
    # Data management (issue 13 §4): an import from the browser runs as a job that outlives the tab
    # (services/import_jobs.py: its progress and summary are kept here), and a settled quarantine row
    # keeps the appeal it became (fixed) or why it was dismissed, so the link reads both ways.
    8: f"""
ALTER TABLE quarantine ADD COLUMN appeal_id INTEGER;
ALTER TABLE quarantine ADD COLUMN resolution_note TEXT;
CREATE TABLE import_job (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL, file_name TEXT NOT NULL, format TEXT NOT NULL, crs TEXT NOT NULL,
    actor TEXT NOT NULL, path TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN {sql_in(IMPORT_JOB_STATUSES)}),
    progress INTEGER NOT NULL DEFAULT 0, total INTEGER,
    summary TEXT, error TEXT,
    created_at INTEGER NOT NULL, started_at{_TS}, finished_at{_TS}
);
CREATE INDEX import_job_status ON import_job (status, id);
""",
    # Reference data kept on the data screen (/data, services/reference_data.py): a station's English
    # name, its closing (when, by whom, why: a closed station stays in the register but no screen counts
    # it) and who last edited a station or department. An edited register is the store's own: seeding
    # stops replacing it from the layer folder (services/seed.py).
    9: f"""
ALTER TABLE station ADD COLUMN name_en TEXT;
ALTER TABLE station ADD COLUMN closed_at{_TS};
ALTER TABLE station ADD COLUMN closed_by TEXT;
ALTER TABLE station ADD COLUMN close_reason TEXT;
ALTER TABLE station ADD COLUMN edited_at{_TS};
ALTER TABLE station ADD COLUMN edited_by TEXT;
ALTER TABLE department ADD COLUMN edited_at{_TS};
ALTER TABLE department ADD COLUMN edited_by TEXT;
""",
    # How an appeal was settled (issue 13 §1, 三调联动: people's, administrative or judicial mediation, with
    # the mediator and the agreed amount) and the online judicial confirmation of its agreement (司法确认:
    # when it was asked, when the court's answer was recorded, and the answer).
    10: f"""
ALTER TABLE appeal ADD COLUMN settlement TEXT CHECK (settlement IN {sql_in(SETTLEMENTS)});
ALTER TABLE appeal ADD COLUMN mediator TEXT;
ALTER TABLE appeal ADD COLUMN agreement_amount REAL;
ALTER TABLE appeal ADD COLUMN judicial_requested_at{_TS};
ALTER TABLE appeal ADD COLUMN judicial_recorded_at{_TS};
ALTER TABLE appeal ADD COLUMN judicial_result TEXT CHECK (judicial_result IN {sql_in(JUDICIAL_RESULTS)});
""",
    # Analysis (issue 14): a repeat appeal is one with an earlier appeal on the same building and category
    # within [analysis] repeat_days (services/store/analysis.py); this index finds the earlier ones.
    11: """
CREATE INDEX appeal_building_category ON appeal (building_code, category, reported_at);
""",
    # Analysis summary (issue 14 §5, services/store/analysis_summary.py): the cohort counts of closed
    # appeals per local report day (its midnight) and grid, and the same per community (what the levels
    # above the grid add up); every appeal's repeat flag (read by the counts instead of looking for an
    # earlier appeal each time); the report days the writes changed, noted by
    # triggers (spread 1: later appeals' repeat flag may change too); what the summary covers and the
    # rules it was counted with. Indexes for what stays live: open appeals and gathering members by report
    # time.
    12: f"""
CREATE TABLE analysis_day (
    day INTEGER NOT NULL, subdistrict_code TEXT, community_code TEXT, grid_code TEXT,
    {count_columns("INTEGER")}
);
CREATE INDEX analysis_day_day ON analysis_day (day);
CREATE INDEX analysis_day_by_community ON analysis_day (community_code, day);
CREATE TABLE analysis_day_community (
    day INTEGER NOT NULL, subdistrict_code TEXT, community_code TEXT,
    {count_columns("INTEGER")}
);
CREATE INDEX analysis_day_community_day ON analysis_day_community (day);
CREATE TABLE analysis_repeat (
    appeal_id INTEGER PRIMARY KEY, day INTEGER NOT NULL, is_repeat INTEGER NOT NULL CHECK (is_repeat IN (0, 1))
);
CREATE INDEX analysis_repeat_day ON analysis_repeat (day);
CREATE TABLE analysis_dirty (
    day INTEGER NOT NULL, spread INTEGER NOT NULL CHECK (spread IN (0, 1)), PRIMARY KEY (day, spread)
) WITHOUT ROWID;
CREATE TABLE analysis_summary (
    one INTEGER PRIMARY KEY CHECK (one = 1), covered_until INTEGER, rules_key TEXT NOT NULL
);
CREATE INDEX appeal_open_reported ON appeal (reported_at) WHERE status <> 'closed';
CREATE INDEX appeal_gathering ON appeal (reported_at) WHERE gathering_id IS NOT NULL;
CREATE TRIGGER appeal_analysis_insert AFTER INSERT ON appeal
BEGIN INSERT OR IGNORE INTO analysis_dirty (day, spread) VALUES (((NEW.reported_at) + 28800000000 - ((((NEW.reported_at) + 28800000000) % 86400000000) + 86400000000) % 86400000000 - 28800000000), 1); END;
CREATE TRIGGER appeal_analysis_delete AFTER DELETE ON appeal
BEGIN INSERT OR IGNORE INTO analysis_dirty (day, spread) VALUES (((OLD.reported_at) + 28800000000 - ((((OLD.reported_at) + 28800000000) % 86400000000) + 86400000000) % 86400000000 - 28800000000), 1); END;
CREATE TRIGGER appeal_analysis_update AFTER UPDATE ON appeal
WHEN OLD.status = 'closed' OR NEW.status = 'closed' OR OLD.building_code IS NOT NEW.building_code OR OLD.category IS NOT NEW.category OR OLD.reported_at IS NOT NEW.reported_at
BEGIN INSERT OR IGNORE INTO analysis_dirty (day, spread) VALUES
    (((OLD.reported_at) + 28800000000 - ((((OLD.reported_at) + 28800000000) % 86400000000) + 86400000000) % 86400000000 - 28800000000), OLD.building_code IS NOT NEW.building_code OR OLD.category IS NOT NEW.category OR OLD.reported_at IS NOT NEW.reported_at),
    (((NEW.reported_at) + 28800000000 - ((((NEW.reported_at) + 28800000000) % 86400000000) + 86400000000) % 86400000000 - 28800000000), OLD.building_code IS NOT NEW.building_code OR OLD.category IS NOT NEW.category OR OLD.reported_at IS NOT NEW.reported_at); END;
""",
    # The daily briefing (issue 15, services/store/briefing.py): what was unresolved at a cut-off, and a
    # gathering's members.
    13: ";\n".join(BRIEFING_INDEXES) + ";\n",
    # Partner systems' Open311 API keys (issue 16, services/api_keys.py): as kiosk_token, only a SHA-256
    # of each key is kept and a partner has at most one active key (the partial unique index). ``services``
    # is the comma-joined Open311 service codes the key may post (NULL: every service), ``area_code`` the
    # subdistrict or community it may post into (NULL: the whole district).
    14: f"""
CREATE TABLE api_key (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    services TEXT, area_code TEXT,
    created_at INTEGER NOT NULL, created_by TEXT NOT NULL,
    revoked_at{_TS}, revoked_by TEXT,
    last_used_at{_TS},
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE UNIQUE INDEX api_key_active ON api_key (partner) WHERE revoked_at IS NULL;
""",
    # Pages of one subdistrict or community by report time (the Open311 GET, issue 16 §4).
    15: ";\n".join(AREA_INDEXES) + ";\n",
}
SCHEMA_VERSION = max(MIGRATIONS)


def to_us(ts: Any) -> int | None:
    """A timestamp as integer microseconds since the epoch (None stays None)."""
    if ts is None or (not isinstance(ts, datetime) and pd.isna(ts)):
        return None
    if isinstance(ts, pd.Timestamp):
        ts = ts.to_pydatetime()
    return (as_local(ts) - EPOCH) // US


def from_us(v: int | None) -> datetime | None:
    """Integer microseconds since the epoch as an Asia/Shanghai datetime."""
    return None if v is None else (EPOCH + timedelta(microseconds=int(v))).astimezone(TZ)


def ts_frame(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for c in columns:
        if c in df:
            df[c] = pd.to_datetime(df[c], unit="us", utc=True).dt.tz_convert(TZ)
    return df


def statements(script: str) -> list[str]:
    """Split a migration script into statements (triggers keep their inner semicolons)."""
    out, buf = [], ""
    for line in script.strip().splitlines():
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
