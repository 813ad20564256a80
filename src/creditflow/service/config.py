"""Service settings: one small dataclass, passed as JSON to worker processes."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields

from creditflow.data.errors import CreditflowError

CONFIG_ENV = "CREDITFLOW_SERVICE_CONFIG"


@dataclass
class ServiceConfig:
    """Everything `creditflow serve` needs besides the keys themselves (those stay in env/files).

    model_dir: bundle directory; policy: policy YAML (None: the built-in default policy);
    audit: audit URL or SQLite path (None: ./creditflow-audit.db); max_batch: applicants per batch call;
    range_tolerance: how many training ranges beyond the training min/max a number may lie;
    reasons: how many model reasons to return per decision; audit_timeout: seconds an audit call may wait
    for a locked or slow database before the request gets 503.
    """

    model_dir: str
    policy: str | None = None
    audit: str | None = None
    api_keys_file: str | None = None
    admin_keys_file: str | None = None
    insecure_no_auth: bool = False
    max_batch: int = 100
    range_tolerance: float = 1.0
    reject_unknown_fields: bool = False
    reasons: int = 4
    workers: int = 1
    max_body_bytes: int = 64 * 1024
    audit_timeout: float = 5.0
    deploy_file: str | None = None  # with workers > 1: the model_dir/policy an admin reload switched to

    def check(self) -> None:
        if not 1 <= self.max_batch <= 10_000:
            raise CreditflowError(f"max batch must be between 1 and 10000, not {self.max_batch}")
        if not 0 <= self.range_tolerance <= 1000:
            raise CreditflowError(f"range tolerance must be between 0 and 1000, not {self.range_tolerance}")
        if not 0 <= self.reasons <= 20:
            raise CreditflowError(f"reasons must be between 0 and 20, not {self.reasons}")
        if not 1 <= self.workers <= 64:
            raise CreditflowError(f"workers must be between 1 and 64, not {self.workers}")
        if not 0.1 <= self.audit_timeout <= 300:
            raise CreditflowError(f"audit timeout must be between 0.1 and 300 seconds, not {self.audit_timeout}")

    @property
    def batch_body_bytes(self) -> int:
        return self.max_body_bytes + self.max_batch * 16 * 1024

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServiceConfig:
        doc = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})

    @classmethod
    def from_env(cls) -> ServiceConfig:
        text = os.environ.get(CONFIG_ENV)
        if not text:
            raise CreditflowError(f"{CONFIG_ENV} is not set; start the service with `creditflow serve`")
        return cls.from_json(text)
