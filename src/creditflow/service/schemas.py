"""Response documents of the decision service, as pydantic models (for the OpenAPI docs)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class DecisionOut(BaseModel):
    """One decision. probability: of going overdue (0-1); score: integer points, higher is better."""

    request_id: str = Field(description="Unique id of this decision (also in the audit log)")
    application_id: str | None = Field(None, description="The caller's reference, as sent")
    decision: Literal["approve", "review", "reject"]
    probability: float = Field(description="Predicted probability of going overdue (bad), 0-1")
    score: int = Field(description="Credit score on the model's scale (default 350-950, higher is better)")
    grade: str = Field(description="Risk grade of the score band (default A best ... E worst)")
    reasons: list[dict[str, Any]] = Field(description="Policy rules that fired (source=policy), then model reasons")
    rules_fired: list[str] = Field(description="Codes of the policy rules that fired")
    score_decision: Literal["approve", "review", "reject"] = Field(description="What the cutoffs alone decide")
    model_version: str
    policy_version: str
    created_at: str = Field(description="Decision time, UTC, ISO 8601")
    notes: list[str] = Field(default_factory=list, description="Inputs the model never saw in training: a category "
                             "it did not learn (scored as unseen) or a number outside the training range")


class BatchOut(BaseModel):
    """Decisions for a batch of applications, in request order."""

    request_id: str
    count: int
    model_version: str
    policy_version: str
    decisions: list[DecisionOut]


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. ['body', 'applicant', 'AGE']")
    msg: str
    type: str
    input: Any = Field(None, description="The field's own value, where it is one value (left out for a missing "
                       "field, an object or a list: never the whole applicant)")


class ErrorOut(BaseModel):
    """An error: field-level details (422) or a message, with the request id to quote."""

    detail: list[ErrorItem] | str
    request_id: str


def _a_path(value: str) -> str:
    if not value.strip():
        raise ValueError("must name a file or directory; leave the key out to re-read the configured one")
    return value


PathText = Annotated[str, AfterValidator(_a_path)]


class ReloadIn(BaseModel):
    """Optional new locations; by default the configured bundle directory and policy file are re-read.

    There is no way to drop the policy: an empty path is refused, not read as "the built-in default".
    Other keys are refused (a misspelt ``modeldir`` would otherwise reload the current paths).
    """

    model_config = ConfigDict(extra="forbid")

    model_dir: PathText | None = None
    policy: PathText | None = None


class ReloadOut(BaseModel):
    status: Literal["reloaded", "reloading"]
    model_version: str
    policy_version: str
    previous_model_version: str
    previous_policy_version: str
