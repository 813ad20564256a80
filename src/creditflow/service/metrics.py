"""Prometheus metrics in the text exposition format (0.0.4), written by hand: no extra dependency.

Updated on the event-loop thread only, so plain dicts suffice. With ``--workers N`` each worker
process keeps its own counters (a scrape sees the worker that answered it); label series by
``instance`` in Prometheus or run one worker per container.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Histogram:
    """Cumulative buckets, sum and count, per label set."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts: dict[tuple, list[int]] = {}
        self.sums: dict[tuple, float] = defaultdict(float)

    def observe(self, labels: tuple[tuple[str, str], ...], value: float) -> None:
        counts = self.counts.get(labels)
        if counts is None:
            counts = self.counts[labels] = [0] * (len(self.buckets) + 1)
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[labels] += value

    def lines(self, name: str) -> list[str]:
        out = []
        for labels, counts in sorted(self.counts.items()):
            running = 0
            for le, c in zip((*self.buckets, float("inf")), counts, strict=True):
                running += c
                bound = "+Inf" if le == float("inf") else repr(le)
                out.append(f"{name}_bucket{_labels((*labels, ('le', bound)))} {running}")
            out.append(f"{name}_sum{_labels(labels)} {self.sums[labels]!r}")
            out.append(f"{name}_count{_labels(labels)} {running}")
        return out


class Metrics:
    """The service's counters and histograms."""

    def __init__(self) -> None:
        self.started = time.time()
        self.requests: dict[tuple, int] = defaultdict(int)
        self.decisions: dict[tuple, int] = defaultdict(int)
        self.rules: dict[tuple, int] = defaultdict(int)
        self.reloads: dict[tuple, int] = defaultdict(int)
        self.latency = Histogram()
        self.audit_latency = Histogram()
        self.in_flight = 0
        self.model_info: tuple[str, str] = ("", "")

    def request(self, path: str, method: str, status: int, seconds: float) -> None:
        self.requests[(("path", path), ("method", method), ("status", str(status)))] += 1
        self.latency.observe((("path", path),), seconds)

    def decision(self, outcome: str, rule_codes: list[str]) -> None:
        self.decisions[(("decision", outcome),)] += 1
        for code in rule_codes:
            self.rules[(("rule", code),)] += 1

    def reload(self, result: str) -> None:
        self.reloads[(("result", result),)] += 1

    def render(self) -> str:
        """The exposition text."""
        out: list[str] = []

        def counter(name: str, help_: str, series: dict[tuple, int]) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} counter")
            for labels, value in sorted(series.items()):
                out.append(f"{name}{_labels(labels)} {value}")

        counter("creditflow_http_requests_total", "HTTP requests by route, method and status.", self.requests)
        out.append("# HELP creditflow_http_request_duration_seconds Time from request to response, by route.")
        out.append("# TYPE creditflow_http_request_duration_seconds histogram")
        out += self.latency.lines("creditflow_http_request_duration_seconds")
        counter("creditflow_decisions_total", "Decisions issued (and recorded), by outcome.", self.decisions)
        counter("creditflow_policy_rules_fired_total", "Policy rules fired, by rule code.", self.rules)
        counter("creditflow_reloads_total", "Bundle/policy reloads, by result.", self.reloads)
        out.append("# HELP creditflow_audit_write_duration_seconds Time to commit a decision to the audit log.")
        out.append("# TYPE creditflow_audit_write_duration_seconds histogram")
        out += self.audit_latency.lines("creditflow_audit_write_duration_seconds")
        out.append("# HELP creditflow_http_requests_in_flight Requests being handled now.")
        out.append("# TYPE creditflow_http_requests_in_flight gauge")
        out.append(f"creditflow_http_requests_in_flight {self.in_flight}")
        mv, pv = self.model_info
        out.append("# HELP creditflow_model_info The model and policy being served (value 1).")
        out.append("# TYPE creditflow_model_info gauge")
        out.append(f"creditflow_model_info{_labels((('model_version', mv), ('policy_version', pv)))} 1")
        out.append("# HELP creditflow_process_start_time_seconds Start time of the process (Unix seconds).")
        out.append("# TYPE creditflow_process_start_time_seconds gauge")
        out.append(f"creditflow_process_start_time_seconds {self.started!r}")
        return "\n".join(out) + "\n"
