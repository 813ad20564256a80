"""The FastAPI application of the decision service.

Routes: POST /v1/decisions, POST /v1/decisions/batch, GET /v1/model, POST /v1/admin/reload,
GET /healthz (open), GET /readyz (open), GET /metrics, GET /docs and /openapi.json (open).
Bad input gets 422 with field-level details; a decision is returned only after it is in the audit
log (503 when the log cannot be written); anything unexpected is logged with its request id and
answered with a JSON 500 that carries the id.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditflow.data.errors import CreditflowError
from creditflow.policy.policy import PolicyError
from creditflow.service.audit import AuditUnavailable, StoredResponse, sha256_text
from creditflow.service.auth import KeysError, hash_key, presented_key
from creditflow.service.decide import decide, new_id, now_iso
from creditflow.service.metrics import CONTENT_TYPE
from creditflow.service.runtime import Runtime
from creditflow.service.schemas import BatchOut, DecisionOut, ErrorOut, ReloadIn, ReloadOut
from creditflow.service.validation import (
    applicant_dict,
    canonical_body,
    duplicate_key,
    error_details,
    legacy_request_hash,
)

log = logging.getLogger("creditflow.service")
REQUEST_ID = "creditflow.request_id"
TRACE_ID = "creditflow.trace_id"  # the client's own X-Request-ID, kept as it came
MAX_TRACE_ID = 200
ROUTES = ("/v1/decisions", "/v1/decisions/batch", "/v1/model", "/v1/admin/reload", "/healthz", "/readyz",
          "/metrics", "/docs", "/openapi.json")
MAX_IDEMPOTENCY_KEY = 255
READY_TIMEOUT_S = 2.0  # /readyz answers "not ready" rather than wait longer for the audit database
BATCH_IN_THREAD = 50  # batches larger than this are scored off the event loop


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _error(status: int, request: Request, detail: Any, headers: dict[str, str] | None = None) -> Response:
    return _json({"detail": detail, "request_id": request.scope.get(REQUEST_ID, "")}, status, headers)


def _field_error(request: Request, loc: list, msg: str, type_: str) -> Response:
    return _error(422, request, [{"loc": loc, "msg": msg, "type": type_, "input": None}])


def client_trace_id(scope: dict) -> str | None:
    """The request's own X-Request-ID (a gateway's or client's trace id) when it is 1-200 visible ASCII
    characters; another value is ignored (the service's own id is answered in its place)."""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            if 0 < len(value) <= MAX_TRACE_ID and all(0x21 <= b <= 0x7E for b in value):
                return value.decode("ascii")
            return None
    return None


class _Observe:
    """Pure ASGI middleware: request id, latency and status metrics, and the last-resort 500.

    POST requests to the paths in `fast_paths` go straight to their handler: the decision routes do
    their own body parsing, so FastAPI's routing and dependency machinery would only add latency
    (the same handlers are also registered as FastAPI routes, which is what the OpenAPI docs show).
    """

    def __init__(self, app: Any, runtime: Runtime, fast_paths: dict[str, Any]) -> None:
        self.app = app
        self.runtime = runtime
        self.fast_paths = fast_paths

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = new_id()
        scope[REQUEST_ID] = request_id
        trace_id = client_trace_id(scope)
        scope[TRACE_ID] = trace_id
        echoed = (trace_id or request_id).encode()
        status = 500
        started = False

        async def send_wrapper(message: dict) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", echoed)]
            await send(message)

        metrics = self.runtime.metrics
        metrics.in_flight += 1
        try:
            handler = self.fast_paths.get(scope.get("path", "")) if scope.get("method") == "POST" else None
            if handler is not None:
                response = await handler(Request(scope, receive))
                await response(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("internal error on %s %s, request id %s%s", scope.get("method"), scope.get("path"), request_id,
                          f" (client's X-Request-ID {trace_id})" if trace_id else "")
            status = 500
            if not started:
                body = json.dumps({"detail": "internal error; it has been logged, quote the request id",
                                   "request_id": request_id}).encode()
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"application/json"), (b"x-request-id", echoed)]})
                await send({"type": "http.response.body", "body": body})
        finally:
            metrics.in_flight -= 1
            path = scope.get("path", "")
            metrics.request(path if path in ROUTES else "other", scope.get("method", ""), status,
                            time.perf_counter() - start)


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def freeze_heap() -> None:
    """Move everything loaded so far (libraries, model, policy) out of the garbage collector's sight.

    A full collection walks every object: with pandas, scikit-learn and a model loaded that takes about
    100 ms, and under 500 requests/s one comes every few seconds, a pause that would land in the p99.
    Frozen objects are never scanned again; the per-request garbage is collected as usual.
    """
    gc.collect()
    gc.freeze()


def create_app(runtime: Runtime) -> FastAPI:
    """The service application around a loaded runtime."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, runtime.on_sighup)
        freeze_heap()
        yield
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGHUP)
        runtime.close()

    app = FastAPI(
        title="creditflow decision service",
        version="1",
        description="Pre-loan decisions: policy rules, credit score (higher is better), approve/review/reject, "
                    "every decision recorded in the audit log before it is returned.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # an unknown route (404) or method (405): the same body as every other error, with the request id to quote
        return _error(exc.status_code, request, exc.detail, headers=dict(exc.headers or {}))

    fast_paths: dict[str, Any] = {}
    app.add_middleware(_Observe, runtime=runtime, fast_paths=fast_paths)

    def authorize(request: Request, admin: bool = False) -> tuple[str | None, Response | None]:
        """The caller's id (first 12 hex of its key digest) or a 401/403 response."""
        ring = runtime.admin_keys if admin else runtime.api_keys
        if not admin and runtime.config.insecure_no_auth and not ring:
            return None, None
        key = presented_key(request.headers)
        if key is None:
            return None, _error(401, request, "missing API key: send X-API-Key or Authorization: Bearer",
                                {"WWW-Authenticate": "Bearer"})
        if not ring.check(key):
            return None, _error(403, request, "admin key required" if admin else "API key not accepted")
        return hash_key(key)[:12], None

    def idempotency_key(request: Request) -> tuple[str | None, Response | None]:
        key = request.headers.get("idempotency-key")
        if key is None:
            return None, None
        key = key.strip()
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable() or not key.isascii():
            return None, _field_error(request, ["header", "Idempotency-Key"],
                                      f"must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters", "value_error")
        return key, None

    def replay(request: Request, stored: StoredResponse, request_hash: str, legacy_hash: str = "") -> Response:
        # `legacy_hash`: the raw-body hash earlier versions stored, so a retry across an upgrade still replays
        if stored.request_hash not in (request_hash, legacy_hash):
            return _field_error(request, ["header", "Idempotency-Key"],
                                "this Idempotency-Key was already used for a different request", "idempotency_conflict")
        return Response(stored.response_json.encode("utf-8"), media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})

    async def body_or_error(request: Request, limit: int) -> tuple[bytes, Response | None]:
        try:
            return await _read_body(request, limit), None
        except _TooLarge:
            return b"", _error(413, request, f"request body larger than {limit:,} bytes")

    async def record(request: Request, entries: list, stored: StoredResponse | None, raw: bytes) -> Response | None:
        """Write the audit rows; a response to send instead (503, or a replay) or None when written."""
        try:
            existing = await runtime.audit_call(runtime.audit.record, entries, stored)
        except AuditUnavailable as exc:
            runtime.audit_writable = False
            log.error("audit write failed, decision withheld (request id %s): %s", request.scope.get(REQUEST_ID), exc)
            return _error(503, request, "the audit log cannot be written; no decision was issued, retry later",
                          {"Retry-After": "1"})
        runtime.audit_writable = True
        if existing is not None and stored is not None:
            return replay(request, existing, stored.request_hash, legacy_request_hash(request.url.path, raw))
        return None

    async def handle(request: Request, batch: bool) -> Response:
        client, denied = authorize(request)
        if denied is not None:
            return denied
        key, bad = idempotency_key(request)
        if bad is not None:
            return bad
        cfg = runtime.config
        body, too_large = await body_or_error(request, cfg.batch_body_bytes if batch else cfg.max_body_bytes)
        if too_large is not None:
            return too_large
        repeated = duplicate_key(body)  # before a replay: the stored request holds only one of the values
        if repeated is not None:
            top = repeated in ("applicant", "application_id", "applications")
            where = ["body", repeated] if top else ["body", "applications" if batch else "applicant", repeated]
            return _error(422, request, [{"loc": where, "msg": f"the key {repeated!r} is written twice in one JSON "
                                          "object: which value counts is ambiguous; send it once",
                                          "type": "value_error", "input": None}])
        # only a request with an Idempotency-Key is compared with an earlier one
        request_hash = sha256_text(request.url.path + "\n" + canonical_body(body)) if key is not None else ""
        if key is not None:
            try:
                stored = await runtime.audit_call(runtime.audit.lookup, key, client)
            except AuditUnavailable:
                return _error(503, request, "the audit log cannot be read; retry later", {"Retry-After": "1"})
            if stored is not None:
                return replay(request, stored, request_hash, legacy_request_hash(request.url.path, body))
        state = runtime.state  # this request keeps this snapshot, whatever a reload does meanwhile
        rid = request.scope[REQUEST_ID]
        try:
            parsed = state.models.parse_batch(body) if batch else state.models.parse_decision(body)
        except ValidationError as exc:
            return _error(422, request, error_details(exc, fields=state.models.fields))
        created = now_iso()
        items = parsed.applications if batch else [parsed]

        def run() -> list[tuple[dict, Any]]:
            return [decide(state, applicant_dict(item.applicant), application_id=item.application_id,
                           request_id=new_id() if batch else rid, created_at=created, client=client,
                           batch_id=rid if batch else None, idempotency_key=key, n_reasons=cfg.reasons,
                           trace_id=request.scope.get(TRACE_ID))
                    for item in items]

        try:
            results = await asyncio.to_thread(run) if len(items) > BATCH_IN_THREAD else run()
        except CreditflowError as exc:
            return _error(422, request, [{"loc": ["body", "applicant", exc.column or ""], "msg": exc.reason,
                                          "type": "value_error", "input": None}])
        if batch:
            doc: Any = {"request_id": rid, "count": len(results), "model_version": state.model_version,
                        "policy_version": state.policy_version, "decisions": [r for r, _ in results]}
        else:
            doc = results[0][0]
        content = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        stored = StoredResponse(key, request_hash, content, created, client) if key is not None else None
        instead = await record(request, [e for _, e in results], stored, body)
        if instead is not None:
            return instead
        for r, _ in results:
            runtime.metrics.decision(r["decision"], r["rules_fired"])
        return Response(content.encode("utf-8"), media_type="application/json")

    async def decide_one(request: Request) -> Response:
        return await handle(request, batch=False)

    async def decide_batch(request: Request) -> Response:
        return await handle(request, batch=True)

    fast_paths.update({"/v1/decisions": decide_one, "/v1/decisions/batch": decide_batch})

    common = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut},
              413: {"model": ErrorOut}, 503: {"model": ErrorOut}}

    @app.post("/v1/decisions", response_model=None, tags=["decisions"], summary="Decide one application",
              responses={200: {"model": DecisionOut}, **common})
    async def decisions(request: Request) -> Response:
        """Body: {"application_id": "...", "applicant": {field: value, ...}}. Header Idempotency-Key makes
        a retry return the first response without recording the decision twice."""
        return await handle(request, batch=False)

    @app.post("/v1/decisions/batch", response_model=None, tags=["decisions"], summary="Decide several applications",
              responses={200: {"model": BatchOut}, **common})
    async def decisions_batch(request: Request) -> Response:
        """Body: {"applications": [{"application_id": ..., "applicant": {...}}, ...]} (at most the configured
        maximum). All or nothing: one invalid application makes the whole batch a 422."""
        return await handle(request, batch=True)

    @app.get("/v1/model", response_model=None, tags=["model"], summary="Model, input schema and policy")
    async def model_info(request: Request) -> Response:
        _, denied = authorize(request)
        if denied is not None:
            return denied
        doc = runtime.state.describe()
        # the kind and name only: a URL can carry a host, user or password that API clients need not see
        doc["audit"] = {"backend": runtime.audit.backend, "database": runtime.audit.database}
        doc["limits"] = {"max_batch": runtime.config.max_batch, "max_body_bytes": runtime.config.max_body_bytes,
                         "range_tolerance": runtime.config.range_tolerance}
        return _json(doc)

    @app.post("/v1/admin/reload", response_model=None, tags=["admin"], summary="Swap in a new bundle/policy",
              responses={200: {"model": ReloadOut}, **common})
    async def admin_reload(request: Request) -> Response:
        """Admin key required. Loads and verifies the bundle (and policy) first; a tampered or invalid one is
        refused with 422 and the current model keeps serving. In-flight requests finish on the old model."""
        _, denied = authorize(request, admin=True)
        if denied is not None:
            return denied
        body, too_large = await body_or_error(request, 16 * 1024)
        if too_large is not None:
            return too_large
        try:
            target = ReloadIn.model_validate_json(body) if body.strip() else ReloadIn()
        except ValidationError as exc:
            return _error(422, request, error_details(exc))
        try:
            old, new = await runtime.reload(target.model_dir, target.policy, roll=True)
        except CreditflowError as exc:
            log.error("reload by POST /v1/admin/reload refused, still serving model %s: %s",
                      runtime.state.model_version, exc.message)
            loc = ["body", "policy"] if isinstance(exc, PolicyError) else ["keys"] if isinstance(exc, KeysError) \
                else ["body", "model_dir"]
            return _error(422, request, [{"loc": loc, "msg": f"reload refused: {exc.message}",
                                          "type": "reload_refused", "input": None}])
        return _json({"status": "reloaded" if runtime.config.workers == 1 else "reloading",
                      "model_version": new.model_version, "policy_version": new.policy_version,
                      "previous_model_version": old.model_version, "previous_policy_version": old.policy_version})

    @app.get("/healthz", tags=["operations"], summary="Liveness (no key needed)")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", response_model=None, tags=["operations"], summary="Readiness: model loaded, audit reachable")
    async def readyz(request: Request) -> Response:
        state = runtime.state
        try:
            if runtime.audit_writable:  # the last write went through: the write lock being free is enough
                await asyncio.wait_for(runtime.audit_call(runtime.audit.ping), READY_TIMEOUT_S)
            else:  # none yet, or the last one failed (disk full, say): only a write that succeeds will do
                try:
                    await asyncio.wait_for(runtime.audit_call(runtime.audit.probe), READY_TIMEOUT_S)
                except AuditUnavailable as exc:
                    return _json({"status": "not ready", "reason": f"audit log cannot take a write: {exc}"}, 503)
                runtime.audit_writable = True
        except AuditUnavailable as exc:
            return _json({"status": "not ready", "reason": f"audit log unavailable: {exc}"}, 503)
        except TimeoutError:
            return _json({"status": "not ready",
                          "reason": f"audit log unavailable: no answer within {READY_TIMEOUT_S:g} s"}, 503)
        return _json({"status": "ready", "model_version": state.model_version, "policy_version": state.policy_version})

    @app.get("/metrics", response_model=None, tags=["operations"], summary="Prometheus metrics")
    async def metrics(request: Request) -> Response:
        _, denied = authorize(request)
        if denied is not None:
            return denied
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)

    app.openapi = lambda: _openapi(app, runtime)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, runtime: Runtime) -> dict:
    """The OpenAPI document with the request bodies of the model being served now."""
    state = runtime.state
    cache = getattr(app.state, "openapi_cache", None)
    if cache is not None and cache[0] is state:
        return cache[1]
    doc = get_openapi(title=app.title, version=f"model {state.model_version}, policy {state.policy_version}",
                      description=app.description, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in (state.models.decision, state.models.batch, ReloadIn):
        js = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        schemas.update(js.pop("$defs", {}))
        schemas[model.__name__] = js
    schemas_for = {"/v1/decisions": "DecisionRequest", "/v1/decisions/batch": "BatchRequest",
                   "/v1/admin/reload": "ReloadIn"}
    doc.setdefault("components", {})["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }
    for path, ops in doc.get("paths", {}).items():
        for op in ops.values():
            if path in schemas_for:
                op["requestBody"] = {"required": path != "/v1/admin/reload", "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{schemas_for[path]}"}}}}
            if path.startswith("/v1/") or path == "/metrics":
                op["security"] = [{"ApiKey": []}, {"Bearer": []}]
            if path in ("/v1/decisions", "/v1/decisions/batch"):
                op.setdefault("parameters", []).append({
                    "name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY},
                    "description": "A retry with the same key returns the first response; no second record"})
    app.state.openapi_cache = (state, doc)
    return doc
