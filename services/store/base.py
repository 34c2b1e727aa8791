"""The store contract: one interface, two implementations (SQLite embedded default, PostGIS).

Every method here is implemented by ``services.store.sqlite.SQLiteStore`` and
``services.store.postgis.PostGISStore`` and exercised by the same contract tests
(tests/test_store_contract.py) against both. Rules (tiers, classes, deadlines, allowed moves) are not
decided here: a store asks ``services.lifecycle``/``services.clocks``/``services.orders`` and persists the
result. Aggregates are computed by SQL in the database, never by loading every appeal into Python.

Conventions shared by both stores:
- Timestamps in and out are timezone-aware ``datetime`` (returned in Asia/Shanghai); stored as UTC.
- Coordinates are WGS84 lon/lat; PostGIS also keeps ``geometry(Point, 4326)`` with a GIST index.
- An appeal is identified by its integer ``id``; ``(source, external_id)`` is unique (idempotent intake).
- Every change to an appeal appends one or more ``appeal_event`` rows in the same transaction; events are
  never updated or deleted (both databases refuse it with a trigger). An action either happens whole,
  with its event, or not at all.
- ``gathering_id`` is NULL (None) outside a gathering cluster; a negative id given on insert means none.
- ``tier`` is the tier of the facts raised to ``gathering_tier`` (the tier of the appeal's gathering
  cluster) when that is higher; ``resolve_due_at`` is the deadline of the appeal's current (or last)
  resolution clock; ``next_deadline_*`` is the next step the open appeal owes (services.clocks).
- The schema is created and migrated by the store itself (a ``schema_version`` table), on open.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from services.store.api_keys import ApiKeyStore
from services.store.contract_reports import ReportReads
from services.vocabulary import OPEN_STATUSES  # noqa: F401 - part of the contract's vocabulary

# Columns of the appeal table, in order (see design.md "Data model"). ``lon``/``lat`` replace geometry.
APPEAL_COLUMNS = (
    "id", "source", "external_id", "channel", "service_type", "category", "description", "lon", "lat",
    "source_crs", "people_involved", "amount_involved", "urgency", "tier", "appeal_class", "handling_level",
    "dispatched_to", "status", "reopened_count", "satisfaction", "gathering_id", "gathering_tier",
    "subdistrict_code", "community_code", "grid_code", "subgrid_code", "happiness_unit_code", "building_code",
    "reporter_name", "reporter_phone",
    "reported_at", "responded_at", "accepted_at", "dispatched_at", "resolved_at", "confirmed_at",
    "feedback_at", "return_visit_at", "closed_at", "resolve_due_at", "next_deadline_at", "next_deadline_kind",
    # How a resolution was settled (services.lifecycle: 三调联动) and its online judicial confirmation.
    "settlement", "mediator", "agreement_amount", "judicial_requested_at", "judicial_recorded_at",
    "judicial_result",
)
# Columns a caller may leave out of insert_appeals: the store fills them (defaults, or computed by
# services.tiers / services.clocks). next_deadline_*, resolve_due_at and (unless given) tier and
# appeal_class are always the store's own computation, never taken from the caller.
DERIVED_COLUMNS = ("tier", "appeal_class", "closed_at", "resolve_due_at", "next_deadline_at",
                   "next_deadline_kind")
TIMESTAMP_COLUMNS = tuple(c for c in APPEAL_COLUMNS if c.endswith("_at"))
PERSONAL_COLUMNS = ("reporter_name", "reporter_phone")
EVENT_COLUMNS = ("id", "appeal_id", "at", "actor", "action", "from_status", "to_status", "note")
SCENARIO_COLUMNS = ("id", "name", "created_by", "created_at", "payload")


@dataclass
class InsertResult:
    """What a bulk insert did: rows stored, rows already present (same source + external id, counted
    once per row of the frame, including repeats inside the frame), and the stored ids of the new rows
    in frame order."""

    stored: int = 0
    duplicates: int = 0
    ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class AppealQuery:
    """The arguments of ``Store.query_appeals``, as its implementations take them."""

    statuses: Sequence[str] | None = None
    tiers: Sequence[str] | None = None
    categories: Sequence[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    area: tuple[str, str] | None = None
    limit: int | None = None
    order: str = "newest"
    include_personal: bool = False
    columns: Sequence[str] | None = None


class BulkLoad(abc.ABC):
    """An open bulk load (``Store.bulk_load``): appeals added batch by batch, stored together in one
    transaction when the load ends without error, or not at all. ``stored``/``duplicates`` count every
    batch so far."""

    stored: int = 0
    duplicates: int = 0

    @abc.abstractmethod
    def add(self, appeals: pd.DataFrame, events: pd.DataFrame | None = None, *,
            actor: str = "intake") -> InsertResult:
        """Add one batch, exactly as ``Store.insert_appeals`` would take it: duplicates of stored rows or
        of rows added earlier in this load are counted and left out. The ids returned are final once the
        load commits."""

    @abc.abstractmethod
    def quarantine(self, rows: pd.DataFrame) -> int:
        """Store rejected input rows as ``Store.quarantine`` does, without waiting for the load to end (in
        SQLite, which has one writer, inside the load's transaction)."""


class Store(ReportReads, ApiKeyStore, abc.ABC):
    """Persistence of appeals, events, orders, departments, reference layers and quarantine (the report
    reads: services/store/contract_reports.py; partners' API keys: services/store/api_keys.py)."""

    url: str

    # -- lifecycle of the store --------------------------------------------------------------------
    @abc.abstractmethod
    def migrate(self) -> None:
        """Create or upgrade the schema to the current version (idempotent; called on open)."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The schema version the database is at."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards (``closed`` is True; ``open_store``
        then opens a new one for the URL)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def reset(self) -> None:
        """Delete every row of every table and restart ids (tests and benchmarks only)."""

    # -- reference data -----------------------------------------------------------------------------
    @abc.abstractmethod
    def load_departments(self, departments: pd.DataFrame) -> int:
        """Upsert departments (code, name, name_en); returns the count stored."""

    @abc.abstractmethod
    def departments(self) -> pd.DataFrame:
        """All departments, ordered by code."""

    @abc.abstractmethod
    def load_points(self, kind: str, frame: pd.DataFrame) -> int:
        """Replace the ``station`` or ``building`` point layer (code, lon/lat or a point geometry, and the
        layer's columns: station name, level, site_type, offers_appeal, offers_legal,
        offers_psychological, parent_code, building_code; building name, parent_code, land_use,
        population). Returns the count stored."""

    @abc.abstractmethod
    def points(self, kind: str) -> pd.DataFrame:
        """The ``station`` or ``building`` layer as stored (code, lon, lat and its columns), by code; a
        closed station is not in it (it is in ``station_register``)."""

    # -- the reference register (the data screen, services/reference_data.py) --------------------------
    @abc.abstractmethod
    def department_register(self) -> pd.DataFrame:
        """Every department with its last edit (edited_at, edited_by) and how many orders it received."""

    @abc.abstractmethod
    def add_department(self, code: str, name: str, name_en: str | None, actor: str,
                       at: datetime | None = None) -> None:
        """Add a department; ``ValidationError`` (error.department_code_taken) when the code exists."""

    @abc.abstractmethod
    def rename_department(self, code: str, name: str, name_en: str | None, actor: str,
                          at: datetime | None = None) -> None:
        """Change a department's names; ``NotFound`` when there is no such department."""

    @abc.abstractmethod
    def station_register(self) -> pd.DataFrame:
        """Every station, closed ones too: the layer's columns and closed_at/closed_by/close_reason and
        edited_at/edited_by, by code."""

    @abc.abstractmethod
    def station(self, code: str) -> dict[str, Any]:
        """One station of the register as a dict; ``NotFound`` when there is none."""

    @abc.abstractmethod
    def add_station(self, row: dict[str, Any], actor: str, at: datetime | None = None) -> None:
        """Add a station (the layer's columns); ``ValidationError`` (error.station_code_taken) when the code
        exists, closed or not."""

    @abc.abstractmethod
    def update_station(self, code: str, changes: dict[str, Any], actor: str, at: datetime | None = None) -> None:
        """Change a station's columns (``common.STATION_EDITABLE``; closing sets closed_at/by/reason,
        reopening clears them); ``NotFound`` when there is no such station."""

    @abc.abstractmethod
    def reference_edited(self, kind: str) -> bool:
        """True when a ``department`` or ``station`` was added or changed through the register (then
        seeding leaves that register alone)."""

    # -- appeals ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def insert_appeals(self, appeals: pd.DataFrame, events: pd.DataFrame | None = None, *,
                       actor: str = "intake") -> InsertResult:
        """Bulk insert in one transaction (COPY in PostGIS, executemany in SQLite).

        ``appeals`` has APPEAL_COLUMNS (``id`` optional: it only keys ``events``; the store assigns its
        own ids) with lon/lat or a point geometry; missing optional columns are filled (status
        ``reported``, handling level ``community``, ...; DERIVED_COLUMNS computed). Rows whose
        (source, external_id) exist are counted as duplicates and changed in no way. Without ``events``,
        each new appeal gets a ``report`` event by ``actor`` at reported_at, noting its channel (扫码上报,
        书记在线…; ``services.vocabulary.CHANNELS_NOTE``); with ``events`` (columns of
        EVENT_COLUMNS, ``appeal_id`` referring to the frame's ``id`` column), those events are stored for
        the new appeals, re-keyed to their stored ids (events of duplicates are dropped)."""

    @abc.abstractmethod
    def bulk_load(self, expected_rows: int | None = None) -> AbstractContextManager[BulkLoad]:
        """A load of many batches in one transaction (``with store.bulk_load(n) as load: load.add(...)``):
        what intake uses for a file. All or nothing: an exception inside the block stores no appeal of
        the load. Other writers of appeals wait until it ends.

        ``expected_rows`` (an estimate is enough) lets the store load the way the PostgreSQL manual
        advises for large loads (Populating a Database: "Remove Indexes"): when the load is at least
        ``REBUILD_MIN_ROWS`` and brings at least as many appeals as are stored, the secondary indexes
        of appeals and events (spatial, time, open-appeal, event look-up) are dropped at the start and
        built again at the end, inside the same transaction — building an index once over sorted data
        costs a fraction of maintaining it row by row. Unique keys and primary keys stay throughout.
        In PostGIS, readers of the appeal table then wait for the load too; smaller loads keep every
        index and block no reader."""

    @abc.abstractmethod
    def get_appeal(self, appeal_id: int, *, include_personal: bool = True) -> dict[str, Any]:
        """One appeal as a dict of APPEAL_COLUMNS; raises ``services.errors.NotFound``."""

    def appeal_id_by_key(self, source: str, external_id: str) -> int | None:
        """The id of the appeal stored under (``source``, ``external_id``) (the unique key of intake's
        idempotence), or None."""
        return self.appeal_ids_by_key(source, [external_id]).get(str(external_id))

    @abc.abstractmethod
    def appeal_ids_by_key(self, source: str, external_ids: Sequence[str]) -> dict[str, int]:
        """The ids of the appeals stored under ``source`` and each of ``external_ids``, by external id
        (ids not stored are left out); one indexed query."""

    @abc.abstractmethod
    def events(self, appeal_id: int) -> pd.DataFrame:
        """The appeal's events in order (EVENT_COLUMNS; by time, then insertion)."""

    @abc.abstractmethod
    def event_count(self) -> int:
        """Number of events stored (all appeals)."""

    @abc.abstractmethod
    def act(self, appeal_id: int, action: str, actor: str, at: datetime | None = None, note: str = "",
            *, expected_status: str | None = None, expected_version: int | None = None,
            **params: Any) -> dict[str, Any]:
        """Apply one lifecycle action atomically and return the updated appeal.

        ``expected_status`` / ``expected_version`` (``version``: the appeal's event count when the caller
        read it) guard against a lost update: when the locked row differs, ``AppealChanged`` is raised and
        nothing is written (same for ``issue_order``).

        Actions (services.lifecycle decides what is allowed; an illegal one raises
        ``services.errors.IllegalTransition`` and changes nothing): respond, accept, dispatch
        (params: target = the appeal's community code or a department code of ``departments()``; any other
        unit is a ``ValidationError``), resolve, confirm, feedback,
        return_visit (params: satisfaction = satisfied | basically_satisfied | not_satisfied; not
        satisfied reopens), escalate (params: level = subdistrict | district), update_facts (params:
        people_involved, urgency, amount_involved, checked by ``services.facts`` as intake checks them;
        the tier and class are recomputed), return_to_sender (params: reason), note (the ``note``; no
        other change). ``actor`` must not be blank. Orders go through
        ``issue_order`` and gathering marks through ``mark_gathering``.
        """

    @abc.abstractmethod
    def mark_gathering(self, assignments: pd.DataFrame, actor: str = "system",
                       at: datetime | None = None) -> int:
        """Put appeals into gathering clusters (columns appeal_id, gathering_id, gathering_tier, e.g.
        from ``services.gathering.find_clusters``): each open appeal not already so marked gets the
        ``gathering`` action (tier raised, class recomputed, an event). Closed appeals are skipped. One
        transaction; returns the number of appeals changed."""

    def query_appeals(self, *, statuses: Sequence[str] | None = None, tiers: Sequence[str] | None = None,
                      categories: Sequence[str] | None = None,
                      since: datetime | None = None, until: datetime | None = None,
                      area: tuple[str, str] | None = None, limit: int | None = None,
                      order: str = "newest", include_personal: bool = False,
                      columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Appeals filtered in SQL (the window is reported_at in [since, until)). ``area`` is
        (level, code) with level subdistrict|community|grid. ``order``: newest | oldest | tier (red
        first, then newest). Personal columns are omitted unless asked. ``columns`` names a subset of
        APPEAL_COLUMNS to return (less to read and convert when a caller needs a few)."""
        return self._query_appeals(AppealQuery(statuses, tiers, categories, since, until, area, limit, order,
                                               include_personal, columns))

    @abc.abstractmethod
    def _query_appeals(self, q: AppealQuery) -> pd.DataFrame:
        """``query_appeals`` as the store runs it: its arguments as one value, so that the signature is
        written once, here."""

    # -- aggregates (SQL in both stores) ------------------------------------------------------------
    @abc.abstractmethod
    def counts(self, level: str, *, since: datetime | None = None, until: datetime | None = None,
               open_only: bool = False) -> pd.DataFrame:
        """Appeal counts per area code by tier and status: columns code, tier, status, n, ordered by
        code, tier, status. ``level`` is grid | community | subdistrict; the window filters reported_at
        in [since, until)."""

    @abc.abstractmethod
    def overdue(self, now: datetime, *, limit: int | None = None,
                area: tuple[str, str] | None = None) -> pd.DataFrame:
        """Open appeals whose next deadline is before ``now``: id, tier, appeal_class, status, category,
        subdistrict_code, community_code, grid_code, next_deadline_kind, next_deadline_at,
        minutes_overdue; most overdue first (then by id). ``area`` (level, code) keeps one area's."""

    @abc.abstractmethod
    def kpis(self, since: datetime, until: datetime, *, area: tuple[str, str] | None = None) -> dict[str, Any]:
        """Figures for the appeals reported in [since, until) (their state as stored now), of one area
        when ``area`` is (level, code) with level subdistrict|community|grid:
        received; accepted (accepted at all); resolved (status resolved, confirmed, feedback or closed);
        resolution_rate = resolved / accepted (None when nothing was accepted); resolved_on_time
        (resolved_at <= resolve_due_at among the resolved); closed; reopened (reopened_count > 0);
        satisfied (satisfied or basically satisfied) and rated (a satisfaction recorded);
        class1_total, class1_responded_on_time (within [clocks] class1_respond_minutes of the report),
        class1_accepted_on_time (within class1_accept_minutes); overdue_open: open appeals of any
        report time whose next deadline is before ``until``; and the ratios resolution_rate,
        on_time_rate = resolved_on_time / resolved, satisfaction_rate = satisfied / rated (None when the
        denominator is 0). Counts are SQL aggregates; only the ratios are divided in Python."""

    # -- orders (社区发令、部门执行) -------------------------------------------------------------------
    @abc.abstractmethod
    def issue_order(self, appeal_id: int, departments: Iterable[str], issued_by: str,
                    at: datetime | None = None, note: str = "", *, expected_status: str | None = None,
                    expected_version: int | None = None) -> dict[str, Any]:
        """A community orders departments on site; deadlines, leader level and people come from
        services.orders rules for the appeal's category and tier. The appeal takes the lifecycle action
        ``order`` (allowed when accepted, dispatched or reopened; accepted becomes dispatched) and gets
        an ``order`` event. Returns the order (see ``order``)."""

    @abc.abstractmethod
    def order(self, order_id: int) -> dict[str, Any]:
        """One order: id, appeal_id, community_code, issued_by, issued_at, category, tier,
        arrival_minutes, arrive_by, leader_level, people_required, resolution_hours, resolve_by, status
        (open | closed), closed_at, note, and departments: a list of dicts (department_code,
        checked_in_at, outcome, outcome_at, people_on_site, leader_level_on_site). Raises NotFound."""

    @abc.abstractmethod
    def check_in(self, order_id: int, department_code: str, at: datetime | None = None, *,
                 actor: str | None = None, people: int | None = None,
                 leader_level: str | None = None) -> dict[str, Any]:
        """A department reports on site (报到) once; appends an ``order_check_in`` event to the appeal,
        done by ``actor`` (the signed-in account; the department's code when not given). ``people`` (how
        many came, at least 1) and ``leader_level`` (the most senior who came, a services.orders leader
        level code or label) are kept with the check-in as ``people_on_site`` and
        ``leader_level_on_site`` (None when not given). Returns the order."""

    @abc.abstractmethod
    def report_outcome(self, order_id: int, department_code: str, outcome: str,
                       at: datetime | None = None, *, actor: str | None = None, note: str = "") -> dict[str, Any]:
        """A checked-in department reports its outcome (services.orders.outcomes) once; appends an
        ``order_outcome`` event by ``actor`` (as ``check_in``; ``note`` follows the outcome in the
        event's note); the order closes when every department
        has. Returns the order."""

    @abc.abstractmethod
    def orders(self, *, open_only: bool = False, appeal_id: int | None = None) -> pd.DataFrame:
        """Orders with one row per (order, department), by order id then department code."""

    @abc.abstractmethod
    def department_stats(self, since: datetime, until: datetime, *,
                         area: tuple[str, str] | None = None) -> pd.DataFrame:
        """Per department with orders issued in [since, until) (for appeals of ``area`` when given), by
        code: code, name, orders,
        checked_in, timely_check_ins (checked in at or before arrive_by), due_check_ins (orders whose
        check-in is due: checked in, or arrive_by before ``until``), timely_check_in_rate
        (timely_check_ins / due_check_ins), avg_arrival_minutes (issue to check-in, over the checked in),
        resolved_within_limit (outcome resolved at or before resolve_by), due_outcomes (orders whose
        outcome is due: outcome reported, or resolve_by before ``until``), resolved_within_limit_rate
        (resolved_within_limit / due_outcomes). Counts are integers (0, never NULL); rates are NaN when
        nothing is due, so callers summing over departments use the due counts, not the rates. Computed in SQL in both stores;
        the window selects orders by issue time, their check-ins and outcomes are counted as stored."""

    @abc.abstractmethod
    def department_assessment(self, since: datetime, until: datetime, *,
                              area: tuple[str, str] | None = None) -> pd.DataFrame:
        """The department assessment (考核) of the orders issued in [since, until) (on appeals of ``area``
        when given), one row per department by code: ``department_stats``'s figures (the same conditions)
        and p90_arrival_minutes (services/store/assessment.py: the linear-interpolation 90th percentile),
        level_as_required / people_as_required (checked in with a leader level at least the order's
        and at least its people) with their rates over due_check_ins, outcomes_reported and one
        ``outcome_<code>`` count per outcome of [orders] outcomes. Computed in SQL in both stores, the
        same figures to the last digit."""

    @abc.abstractmethod
    def community_assessment(self, since: datetime, until: datetime, *,
                             area: tuple[str, str] | None = None) -> pd.DataFrame:
        """Per issuing community (the order's community_code) for orders issued in [since, until):
        orders_issued, departments_called (order x department), departments (distinct), officials_on_site
        (people_on_site summed over the check-ins), checked_in, timely_check_ins, due_check_ins,
        timely_check_in_rate. In SQL in both stores."""

    # -- quarantine ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def quarantine(self, rows: pd.DataFrame) -> int:
        """Store rejected input rows: source, file, line, raw (verbatim text), reason, reason_code
        (received_at optional, default now). Returns the count stored."""

    @abc.abstractmethod
    def quarantined(self, *, source: str | None = None) -> pd.DataFrame:
        """Quarantined rows, newest first (id, received_at, source, file, line, raw, reason, reason_code,
        resolved_at, resolution, resolved_by). ``raw`` is verbatim, personal data included: screens read
        it through ``services.quarantine.quarantined``, which masks it by role."""

    @abc.abstractmethod
    def resolve_quarantine(self, ids: Iterable[int], resolution: str, actor: str,
                           at: datetime | None = None, *, appeal_id: int | None = None,
                           note: str | None = None) -> int:
        """Record that quarantine rows ``ids`` were settled: ``resolution`` is ``fixed`` (corrected and sent
        again) or ``dismissed``, by ``actor`` (required), at ``at`` (default now); ``appeal_id`` is the
        appeal a fixed row became and ``note`` why a row was dismissed (kept as ``appeal_id`` and
        ``resolution_note``). A row already settled keeps its first resolution; unknown ids are ignored.
        Returns how many rows were settled now; ``ValidationError`` for another resolution or an empty
        actor (nothing changes)."""

    @abc.abstractmethod
    def quarantine_row(self, quarantine_id: int) -> dict[str, Any]:
        """One quarantine row as ``quarantined`` gives it (verbatim raw), as a dict; raises NotFound."""

    # -- import jobs (services/import_jobs.py runs them) --------------------------------------------
    @abc.abstractmethod
    def create_import_job(self, *, source: str, file_name: str, fmt: str, crs: str, actor: str, path: str,
                          total: int | None = None, at: datetime | None = None) -> dict[str, Any]:
        """A new job, ``queued``, for the file saved at ``path`` (every text argument required, else
        ValidationError); ``total`` is what its progress counts up to when known (bytes). Returns it as
        ``import_job`` does."""

    @abc.abstractmethod
    def import_job(self, job_id: int) -> dict[str, Any]:
        """One job (IMPORT_JOB_COLUMNS of services/store/common.py; ``summary`` a dict or None); NotFound."""

    @abc.abstractmethod
    def import_jobs(self, *, statuses: Iterable[str] | None = None, limit: int | None = None) -> pd.DataFrame:
        """Jobs newest first (by id), of ``statuses`` when given, at most ``limit``."""

    @abc.abstractmethod
    def update_import_job(self, job_id: int, **changes: Any) -> dict[str, Any]:
        """Change a job's status, progress, total, summary (a dict, kept as JSON), error, started_at or
        finished_at; another field or an unknown status is a ValidationError. Returns the job."""

    @abc.abstractmethod
    def claim_import_job(self, at: datetime | None = None) -> dict[str, Any] | None:
        """Start the oldest queued job (``running``, started at ``at``) and return it, in one transaction;
        None when a job is running already (one at a time per store) or none is queued."""

    @abc.abstractmethod
    def interrupt_import_jobs(self, ids: Iterable[int], at: datetime | None = None) -> int:
        """Mark the jobs ``ids`` that are ``running`` as ``interrupted`` (finished at ``at``); returns how
        many changed."""

    @abc.abstractmethod
    def purge_quarantine(self, before: datetime) -> int:
        """Delete the settled quarantine rows settled before ``before`` (unsettled rows are never deleted,
        whatever their age); returns how many were deleted."""

    # -- planning scenarios (站点规划方案) ------------------------------------------------------------
    @abc.abstractmethod
    def save_scenario(self, name: str, payload: dict[str, Any], created_by: str, *,
                      at: datetime | None = None, replace: bool = False) -> dict[str, Any]:
        """Keep a planner's scenario: ``payload`` is a JSON object (services.scenarios writes the what-if
        edits, service and radius into it; the store does not read it). ``name`` (stripped, non-empty) is
        unique: a taken name raises ValidationError unless ``replace``, which overwrites that scenario
        (same id). ``created_by`` is who saved it, ``at`` when (default now). Returns the stored scenario
        as ``load_scenario`` does."""

    @abc.abstractmethod
    def list_scenarios(self) -> pd.DataFrame:
        """Every saved scenario in the order saved (SCENARIO_COLUMNS; payload as a dict)."""

    @abc.abstractmethod
    def load_scenario(self, key: int | str) -> dict[str, Any]:
        """One scenario by id (an int) or name (a str): id, name, created_by, created_at, payload (the
        dict saved). Raises NotFound."""

    @abc.abstractmethod
    def delete_scenario(self, key: int | str) -> bool:
        """Delete a scenario by id or name; True if there was one."""

    # -- local accounts (services/accounts.py decides names, roles, areas, hashes, throttling) ---------
    @abc.abstractmethod
    def insert_account(self, name: str, role: str, password_hash: str, *, area_code: str | None = None,
                       display_name: str | None = None, at: datetime | None = None) -> dict[str, Any]:
        """Add an account (not disabled, no failures); returns it as ``get_account`` does. A taken name
        raises ValidationError (``error.account_exists``) and nothing changes."""

    @abc.abstractmethod
    def get_account(self, name: str) -> dict[str, Any] | None:
        """One account by name (id, name, role, area_code, display_name, password_hash, disabled as a
        bool, created_at, updated_at, failed_attempts, locked_until), or None."""

    @abc.abstractmethod
    def list_accounts(self) -> pd.DataFrame:
        """Every account by name, without its password hash."""

    @abc.abstractmethod
    def account_count(self) -> int:
        """How many accounts there are (disabled ones included)."""

    @abc.abstractmethod
    def update_account(self, name: str, *, at: datetime | None = None, **changes: Any) -> dict[str, Any]:
        """Change an account's role, area_code, display_name, password_hash, disabled, failed_attempts or
        locked_until (updated_at becomes ``at``, default now); returns it. NotFound for no such name."""

    @abc.abstractmethod
    def note_failed_sign_in(self, name: str, at: datetime, lock_after: int,
                            lock_for: Any) -> dict[str, Any] | None:
        """Count one failed sign-in of ``name`` under the row's lock: the ``lock_after``-th failure in a
        row locks the account until ``at + lock_for`` (a timedelta) and starts the count again. Returns
        the account after it, or None when there is no such account."""

    # -- audit log (append-only, hash-chained: services/audit.py) --------------------------------------
    @abc.abstractmethod
    def append_audit(self, actor: str, action: str, *, at: datetime | None = None, address: str | None = None,
                     object_kind: str | None = None, object_id: Any = None,
                     detail: str | None = None) -> dict[str, Any]:
        """Append one audit row (``detail``: JSON text or None; ``at`` default now) with the next id and
        its hash chained to the previous row, and move the head, in one transaction that excludes every
        other audit writer (two writers never fork the chain). Returns the row (AUDIT_COLUMNS)."""

    @abc.abstractmethod
    def append_audit_many(self, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``append_audit`` for each of ``entries`` (dicts of its arguments: actor, action, and optionally
        at, address, object_kind, object_id, detail) in that order, in one transaction: all or none are
        written. A batch of POSTs (services/intake/batches.py) records its calls at the cost of one."""

    @abc.abstractmethod
    def audit_rows(self, *, actor: str | None = None, object_kind: str | None = None, object_id: Any = None,
                   since: datetime | None = None, until: datetime | None = None, after_id: int | None = None,
                   limit: int | None = None) -> pd.DataFrame:
        """Audit rows in id order (AUDIT_COLUMNS, ``at`` in Asia/Shanghai), filtered by actor, object
        (kind and id), period [since, until), and ids after ``after_id``."""

    @abc.abstractmethod
    def audit_head(self) -> dict[str, Any] | None:
        """The chain's head (last_id, row_count, hash), or None before the first row."""

    # -- kiosk tokens of the unattended wall (services/kiosk.py makes and hashes them) ----------------
    @abc.abstractmethod
    def insert_kiosk_token(self, screen: str, token_hash: str, *, created_by: str,
                           at: datetime | None = None) -> dict[str, Any]:
        """Store a new token's hash for ``screen`` and, in the same transaction, revoke the screen's
        active token (by ``created_by``, at ``at``, default now): a screen has at most one. Returns the
        new row (KIOSK_COLUMNS of services/store/kiosk.py: never the hash)."""

    @abc.abstractmethod
    def find_kiosk_token(self, token_hash: str) -> dict[str, Any] | None:
        """The active (not revoked) token with this hash, without the hash, or None."""

    @abc.abstractmethod
    def mark_kiosk_seen(self, token_id: int, at: datetime | None = None) -> None:
        """Record that the token ``token_id`` was used at ``at`` (default now)."""

    @abc.abstractmethod
    def revoke_kiosk_token(self, screen: str, *, revoked_by: str, at: datetime | None = None
                           ) -> dict[str, Any] | None:
        """Revoke ``screen``'s active token; returns it as revoked, or None when the screen had none."""

    @abc.abstractmethod
    def list_kiosk_tokens(self) -> pd.DataFrame:
        """Every token, active and revoked, by screen and id (KIOSK_COLUMNS: never the hash)."""

    # -- identities (OIDC, trusted header) -> roles (services/identities.py checks and normalises) -----
    @abc.abstractmethod
    def insert_identity_role(self, provider: str, kind: str, value: str, role: str, area_code: str | None = None,
                             *, created_by: str, at: datetime | None = None) -> dict[str, Any]:
        """Add a mapping (IDENTITY_COLUMNS); a taken (provider, kind, value) raises ValidationError
        (``error.identity_exists``) and nothing changes."""

    @abc.abstractmethod
    def delete_identity_role(self, mapping_id: int) -> dict[str, Any] | None:
        """Remove the mapping ``mapping_id``; returns it as it was, or None when there was none."""

    @abc.abstractmethod
    def list_identity_roles(self, provider: str | None = None) -> pd.DataFrame:
        """Every mapping (of ``provider`` when given) by provider, kind and value (IDENTITY_COLUMNS)."""
