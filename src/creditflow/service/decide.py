"""One applicant in, one decision out: policy rules, the model's single-row score, cutoffs, reasons."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from creditflow.service.audit.base import AuditEntry, canonical_json, sha256_text
from creditflow.service.state import ServingState

log = logging.getLogger("creditflow.service")


def now_iso() -> str:
    """The current time, UTC, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_id() -> str:
    return str(uuid.uuid4())


def decide(state: ServingState, applicant: dict[str, Any], *, application_id: str | None, request_id: str,
           created_at: str, client: str | None, batch_id: str | None = None,
           idempotency_key: str | None = None, n_reasons: int = 4,
           trace_id: str | None = None) -> tuple[dict, AuditEntry]:
    """The response document and the audit entry for one validated applicant.

    probability: probability of going overdue (0-1); score: integer points on the model's scale
    (higher is better); decision: approve | review | reject. trace_id: the client's X-Request-ID, audited.
    """
    scored = state.model.score_row(applicant)
    outcome = state.policy.decide(applicant, scored["score"])
    reasons: list[dict] = [
        {"source": "policy", "code": r.code, "action": r.action, "description": r.description or r.condition.text}
        for r in outcome.fired
    ]
    reasons += model_reasons(state, applicant, n_reasons)
    response = {
        "request_id": request_id,
        "application_id": application_id,
        "decision": outcome.decision,
        "probability": float(scored["probability"]),
        "score": int(scored["score"]),
        "grade": str(scored["grade"]),
        "reasons": reasons,
        "rules_fired": [r.code for r in outcome.fired],
        "score_decision": outcome.score_decision,
        "model_version": state.model_version,
        "policy_version": state.policy_version,
        "created_at": created_at,
        "notes": state.notes(applicant),
    }
    input_json = canonical_json(applicant)
    entry = AuditEntry(
        request_id=request_id, batch_id=batch_id, created_at=created_at, application_id=application_id,
        client=client, input_json=input_json, input_hash=sha256_text(input_json),
        model_version=state.model_version, policy_version=state.policy_version,
        probability=response["probability"], score=response["score"], grade=response["grade"],
        decision=outcome.decision, reasons_json=canonical_json(reasons), idempotency_key=idempotency_key,
        trace_id=trace_id,
    )
    return response, entry


def model_reasons(state: ServingState, applicant: dict[str, Any], n: int) -> list[dict]:
    """The model's top reasons (creditflow.scoring.reasons, with the bundle's reason-code table), each
    {rank, code, variable, text, impact (score points below the reference), missing, source="model"}."""
    if state.reasons is None or n <= 0:
        return []
    raw = state.reasons(state.bundle, applicant, n=n)
    return [{**item, "source": "model"} for item in raw or []]
