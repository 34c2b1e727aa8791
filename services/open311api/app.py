"""The Open311 GeoReport v2 API (issue 16) as a FastAPI app: ``create_app(store)``.

Why a standalone ASGI app: partner systems (the 12345 hotline, departmental platforms) speak GeoReport
v2, and they need a door that is not the dashboard. It reads the store through the store's query methods
and writes through services.intake (the same checks, quarantine and (source, external_id) idempotence
as a file import); it has no SQL of its own. Keys for partners are services.api_keys (``check`` for a
POST, and for a GET when [open311] get_requires_key is set; ``check_scope`` for the service and area of
a new request). Limits of config/rules.toml [open311]: rate_per_minute per key (a token bucket in memory,
per process), max_body_bytes (body and query string), max_page_size. Every POST, done or refused, is in
the audit log (``open311.request`` / ``open311.request.refused``). Field mapping: docs/open311.md.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from services import audit
from services.access import Forbidden
from services.config import rules
from services.errors import DomainError, NotFound, describe
from services.i18n import MissingString, t
from services.intake.batches import Batches
from services.open311api import mapping
from services.store.base import OPEN_STATUSES, Store

PREFIX = "/open311/v2"
DEFAULTS = {"rate_per_minute": 600, "max_body_bytes": 65536, "max_page_size": 1000, "get_requires_key": False,
            "post_batch_rows": 200, "post_check_process": True}
DEFAULT_DAYS = 90
QUARANTINE_FILE = "open311-api"  # the quarantine's ``file`` of a refused POST


class ApiError(Exception):
    """An error answered as the spec's ``[{code, description}]``; ``key`` is a string of
    config/strings/open311.toml [open311_api.error] (or a finished text)."""

    def __init__(self, status: int, key: str, **params: Any) -> None:
        super().__init__(key)
        self.status, self.key, self.params = status, key, params


class TokenBucket:
    """Per-key token buckets: ``rate_per_minute`` requests a minute, bursts up to that many."""

    def __init__(self, rate_per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = max(1.0, float(rate_per_minute))
        self.rate = self.capacity / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        """True when ``key`` may make a request now (and one token is spent)."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle keys rather than grow without bound
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 120}
            return True


class _Limits:
    """ASGI middleware that hands each HTTP request to ``check(scope, receive, send, app)``."""

    def __init__(self, app: Any, check: Callable) -> None:
        self.app, self.check = app, check

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        else:
            await self.check(scope, receive, send, self.app)


def settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """[open311] of config/rules.toml over DEFAULTS, then ``overrides``."""
    return {**DEFAULTS, **rules().get("open311", {}), **(overrides or {})}


def api_keys() -> Any:
    """services.api_keys (imported when first needed: the partner keys live there)."""
    return importlib.import_module("services.api_keys")


def _error_text(key: str, lang: str, params: dict[str, Any]) -> str:
    try:
        return t(f"open311_api.error.{key}", lang, **params)
    except MissingString:
        return key


def error_response(status: int, description: str) -> JSONResponse:
    """The spec's error document."""
    return JSONResponse([{"code": status, "description": description}], status_code=status)


def _lang(request: Request) -> str:
    return mapping.language(request.query_params.get("lang"), request.headers.get("accept-language"))


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _parse_time(name: str, value: str | None) -> pd.Timestamp | None:
    if not value:
        return None
    try:
        ts = pd.Timestamp(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except (ValueError, TypeError):
        raise ApiError(400, "bad_date", field=name, value=value[:40]) from None
    if ts is pd.NaT:
        raise ApiError(400, "bad_date", field=name, value=value[:40])
    return ts.tz_localize(mapping.TZ) if ts.tzinfo is None else ts


def _comma(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _int(name: str, value: str | None, default: int, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    try:
        n = int(value)
    except ValueError:
        raise ApiError(400, "bad_number", field=name, value=str(value)[:20]) from None
    if not low <= n <= high:
        raise ApiError(400, "out_of_range", field=name, low=low, high=high)
    return n


def create_app(store: Store | None = None, *, now: Callable[[], datetime] | None = None,
               config: dict[str, Any] | None = None, prefix: str = PREFIX) -> FastAPI:
    """The API over ``store`` (default services.store.open_store(): DATABASE_URL). ``now`` (tests) is
    the clock of the default 90-day window and of POSTs; ``config`` overrides [open311]; ``prefix`` is
    where the endpoints are (``/v2`` when mounted at ``/open311``, see ``streamlit_routes``)."""
    base_path = prefix.rstrip("/")
    if store is None:
        from services.store import open_store

        store = open_store()
    cfg = settings(config)
    clock = now or (lambda: datetime.now(mapping.TZ))
    bucket = TokenBucket(float(cfg["rate_per_minute"]))
    max_bytes = int(cfg["max_body_bytes"])
    max_page = int(cfg["max_page_size"])
    app = FastAPI(title="Guangming Open311 GeoReport v2", version="v2",
                  description="Open311 GeoReport v2 for the Guangming command center; see docs/open311.md.")
    app.state.store = store
    app.state.bucket = bucket
    batches = Batches(store, file=QUARANTINE_FILE, now=clock, max_rows=int(cfg["post_batch_rows"]),
                      in_process=bool(cfg["post_check_process"]))
    app.state.batches = batches

    # -- errors as the spec's array ---------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, _error_text(exc.key, _lang(request), exc.params))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        key = {404: "not_found", 405: "method"}.get(exc.status_code, "bad_request")
        return error_response(exc.status_code, _error_text(key, _lang(request), {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _error_text("bad_request", _lang(request), {}))

    # A plain ASGI middleware, not @app.middleware("http"): Starlette's BaseHTTPMiddleware runs each
    # request through a task group and memory streams, about a millisecond a request at load.
    async def _limits(scope: dict[str, Any], receive: Callable, send: Callable, call_next: Any) -> None:
        request = Request(scope)
        lang = _lang(request)
        refusal = None
        if len(request.url.query.encode()) > max_bytes:
            refusal = error_response(413, _error_text("too_large", lang, {"limit": max_bytes}))
        else:
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > max_bytes):
                refusal = error_response(413, _error_text("too_large", lang, {"limit": max_bytes}))
            elif request.method != "POST":
                # A POST's key is in its body: that bucket is taken in _post, once the body is read.
                key = request.query_params.get("api_key") or request.headers.get("x-api-key")
                if not bucket.take(f"key:{key}" if key else f"addr:{_client(request)}"):
                    refusal = _too_many(lang)
        if refusal is not None:
            await refusal(scope, receive, send)
        else:
            await call_next(scope, receive, send)

    app.add_middleware(_Limits, check=_limits)

    def _too_many(lang: str) -> JSONResponse:
        resp = error_response(429, _error_text("rate_limited", lang, {"rate": int(cfg["rate_per_minute"])}))
        resp.headers["Retry-After"] = "1"
        return resp

    def _check_get_key(request: Request) -> None:
        if cfg.get("get_requires_key"):
            try:
                api_keys().check(store, request.query_params.get("api_key"), address=_client(request))
            except Forbidden as exc:
                raise ApiError(403, describe(exc, _lang(request))) from None

    # -- discovery and services -------------------------------------------------------------------
    @app.get(f"{base_path}/discovery.json")
    def discovery(request: Request) -> Any:
        base = str(request.url.replace(query="")).removesuffix("discovery.json")  # mounted or not
        return {"changeset": "2026-12-02T00:00:00+08:00", "contact": t("open311_api.contact", _lang(request)),
                "key_service": t("open311_api.key_service", _lang(request)),
                "endpoints": [{"specification": mapping.SPEC_URL, "url": base, "changeset": "2026-12-02T00:00:00+08:00",
                               "type": "production", "formats": ["application/json"]}]}

    @app.get(f"{base_path}/services.json")
    def services(request: Request) -> Any:
        _check_get_key(request)
        return mapping.services(_lang(request))

    @app.get(base_path + "/services/{code}.json")
    def service_definition(code: str, request: Request) -> Any:
        _check_get_key(request)
        if code not in mapping.service_codes():
            raise ApiError(404, "unknown_service", code=code[:40])
        return mapping.definition(code, _lang(request))

    # -- GET requests -----------------------------------------------------------------------------
    def _coord_system(request: Request) -> str:
        system = (request.query_params.get("coord_system") or "wgs84").lower()
        if system not in mapping.OUTPUT_SYSTEMS:
            raise ApiError(400, "bad_coord_system", value=system[:20], systems=", ".join(mapping.OUTPUT_SYSTEMS))
        return system

    @app.get(f"{base_path}/requests.json")
    def get_requests(request: Request) -> Any:
        _check_get_key(request)
        q = request.query_params
        lang, system = _lang(request), _coord_system(request)
        ids = _comma(q.get("service_request_id"))
        if ids:  # the spec: a list of ids overrides every other filter
            if len(ids) > max_page:
                raise ApiError(413, "too_many_ids", limit=max_page)
            return JSONResponse(mapping.requests(_by_ids(ids), lang, system))
        frame = _query(q, clock(), max_page)
        # The documents are plain JSON values: answered as they are, not walked by jsonable_encoder
        # (most of a 1,000-request page's time otherwise).
        return JSONResponse(mapping.requests(frame, lang, system))

    def _by_ids(ids: list[str]) -> pd.DataFrame:
        rows = []
        for raw in ids:
            if not raw.isdigit():
                raise ApiError(400, "bad_number", field="service_request_id", value=raw[:20])
            try:
                row = store.get_appeal(int(raw), include_personal=True)
            except NotFound:
                continue
            rows.append({c: row.get(c) for c in mapping.READ_COLUMNS})
        return pd.DataFrame(rows, columns=list(mapping.READ_COLUMNS))

    def _query(q: Any, at: datetime, max_page: int) -> pd.DataFrame:
        start, end = _parse_time("start_date", q.get("start_date")), _parse_time("end_date", q.get("end_date"))
        span = timedelta(days=DEFAULT_DAYS)
        if end is None:
            end = pd.Timestamp(at) + timedelta(seconds=1) if start is None else start + span
        if start is None:
            start = end - span
        if end < start:
            raise ApiError(400, "dates_reversed")
        if end - start > span + timedelta(seconds=1):
            raise ApiError(400, "span_too_long", days=DEFAULT_DAYS)
        statuses: list[str] | None = None
        wanted = set(_comma(q.get("status")))
        if wanted - {"open", "closed"}:
            raise ApiError(400, "bad_status", value=",".join(sorted(wanted))[:40])
        if wanted == {"open"}:
            statuses = list(OPEN_STATUSES)
        elif wanted == {"closed"}:
            statuses = ["closed"]
        codes = _comma(q.get("service_code"))
        unknown = [c for c in codes if c not in mapping.service_codes()]
        if unknown:
            raise ApiError(400, "unknown_service", code=unknown[0][:40])
        tiers = _comma(q.get("tier")) or None
        if tiers and set(tiers) - {"red", "yellow", "blue"}:
            raise ApiError(400, "bad_tier", value=",".join(tiers)[:40])
        area = None
        if q.get("community"):
            area = ("community", q["community"])
        elif q.get("subdistrict"):
            area = ("subdistrict", q["subdistrict"])
        size = _int("page_size", q.get("page_size"), max_page, 1, max_page)
        page = _int("page", q.get("page"), 1, 1, 1_000_000)
        frame = store.query_appeals(statuses=statuses, tiers=tiers, categories=codes or None,
                                    since=start.to_pydatetime(), until=end.to_pydatetime(), area=area,
                                    limit=page * size, order="newest", include_personal=True,
                                    columns=list(mapping.READ_COLUMNS))
        return frame.iloc[(page - 1) * size:page * size].reset_index(drop=True)

    @app.get(base_path + "/requests/{rid}.json")
    def get_request(rid: str, request: Request) -> Any:
        _check_get_key(request)
        system = _coord_system(request)
        if not rid.isdigit():
            raise ApiError(404, "unknown_request", id=rid[:40])
        frame = _by_ids([rid])
        if frame.empty:
            raise ApiError(404, "unknown_request", id=rid)
        return JSONResponse(mapping.requests(frame, _lang(request), system))

    @app.get(base_path + "/tokens/{token}.json")
    def get_token(token: str, request: Request) -> Any:
        # POSTs are stored at once (never queued), so no token is ever handed out.
        raise ApiError(404, "unknown_token", token=token[:40])

    # -- POST requests ----------------------------------------------------------------------------
    @app.post(f"{base_path}/requests.json")
    async def post_request(request: Request) -> Any:
        raw = await request.body()
        lang = _lang(request)
        if len(raw) > max_bytes:
            raise ApiError(413, "too_large", limit=max_bytes)
        body = _body(request, raw)
        key = body.get("api_key")
        if not bucket.take(f"key:{key}" if key else f"addr:{_client(request)}"):
            return _too_many(lang)
        return await run_in_threadpool(_post, body, lang, _client(request))

    def _body(request: Request, raw: bytes) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "bad_body") from None
        if ctype == "application/json":
            try:
                body = json.loads(text)
            except json.JSONDecodeError:
                raise ApiError(400, "bad_body") from None
            if not isinstance(body, dict):
                raise ApiError(400, "bad_body")
        else:  # application/x-www-form-urlencoded, the spec's
            body = dict(parse_qsl(text, keep_blank_values=True))
        for k, v in request.query_params.items():  # api_key is often sent on the URL
            body.setdefault(k, v)
        if request.headers.get("x-api-key"):
            body.setdefault("api_key", request.headers["x-api-key"])
        return body

    def _post(body: dict[str, Any], lang: str, address: str | None) -> Any:
        partner_id = str(body.get("partner_request_id") or body.get("external_id") or "").strip()
        detail = {"service_code": str(body.get("service_code") or "")[:40], "partner_request_id": partner_id[:100]}
        keys = api_keys()
        try:
            partner = keys.check(store, body.get("api_key") or None, address=address)
        except Forbidden as exc:
            audit.record(store, "anonymous", "open311.request.refused", "appeal", None,
                         detail={**detail, "status": 403, "reason": exc.key or str(exc)}, address=address)
            raise ApiError(403, describe(exc, lang)) from None
        actor = f"open311:{partner.name}"
        source = actor
        detail["partner"] = partner.name
        external_id = partner_id or f"o311-{uuid.uuid4().hex}"
        rec = mapping.record(body, external_id)
        raw = json.dumps(rec, ensure_ascii=False, sort_keys=True)
        service = rec.get("category") or rec.get("service_type") or ""

        def audit_entry(outcome: Any) -> dict[str, Any]:
            if outcome.appeal_id is not None:
                return {"actor": actor, "action": "open311.request", "object_kind": "appeal",
                        "object_id": outcome.appeal_id, "address": address,
                        "detail": {**detail, "external_id": external_id, "duplicate": outcome.duplicate}}
            refused = outcome.refused
            status, reason = ((400, outcome.reason_code) if outcome.reason_code is not None else
                              (403, getattr(refused, "key", None) or str(refused)))
            return {"actor": actor, "action": "open311.request.refused", "object_kind": "appeal", "object_id": None,
                    "address": address, "detail": {**detail, "status": status, "reason": reason}}

        try:
            outcome = batches.submit(source, rec, raw, gate=lambda appeal: keys.check_scope(partner, service, appeal),
                                     audit=audit_entry)
        except DomainError as exc:
            audit.record(store, actor, "open311.request.refused", "appeal", None,
                         detail={**detail, "status": 400, "reason": exc.key or str(exc)}, address=address)
            raise ApiError(400, describe(exc, lang)) from None
        if outcome.reason_code is not None:
            raise ApiError(400, f"{outcome.reason_code}: {outcome.reason}")
        if isinstance(outcome.refused, Forbidden):
            raise ApiError(403, describe(outcome.refused, lang)) from None
        if outcome.refused is not None:
            raise outcome.refused
        return [{"service_request_id": str(outcome.appeal_id), "service_notice": "", "account_id": None}]

    return app


def streamlit_routes(store: Store | None = None) -> list[Any]:
    """The API as routes of a Streamlit ``st.App`` (one process for the dashboard and the API):
    ``st.App("app.py", routes=streamlit_routes())`` serves /open311/v2/... beside the pages."""
    from starlette.routing import Mount

    return [Mount("/open311", app=create_app(store, prefix="/v2"))]
