"""What a feature build did with its input: counts, anything dropped, and warnings."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

logger = logging.getLogger("creditflow.features")


@dataclass
class BuildReport:
    """Counts and warnings from one `build_features` run (nothing is dropped without a count here)."""

    engine: str = "duckdb"
    n_events: int = 0
    n_events_used: int = 0  # events inside at least one window of at least one observation (so before it)
    n_observations: int = 0
    n_profiles: int | None = None
    n_features: int = 0
    dropped_duplicate_events: int = 0
    dropped_unknown_entity_events: int = 0
    observations_without_events: int = 0  # no event inside any window: counts 0, other behaviour features missing
    observations_with_only_unusable_events: int = 0  # of those, the ones whose entity has events (after it, or older)
    observations_without_profile: int = 0
    warnings: list[str] = field(default_factory=list)
    # the values of the text columns filters compare with texts (merged over a cluster's partitions; not shown)
    filter_texts: dict[str, set] = field(default_factory=dict, repr=False)
    seconds: dict[str, float] = field(default_factory=dict)
    zone_warning: str | None = None  # event times and observation dates in different UTC offsets (also a warning)

    def warn(self, message: str) -> None:
        """Record a warning (also logged on the ``creditflow.features`` logger)."""
        self.warnings.append(message)
        logger.warning(message)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (the filters' column values left out: they serve the warnings)."""
        out = asdict(self)
        out.pop("filter_texts")
        return out
