"""Monitoring after launch (贷后监控): drift of the score and inputs against the training baseline,
realised performance once labels arrive, and the decision mix — as a report, a JSON summary and an
exit status a scheduler can act on.

    from creditflow.monitor import monitor
    result = monitor("out/model", "applications_2024_06.csv", time="apply_date")
    result.status, result.exit_code          # 'warn', 3
    result.report().to_html("monitor.html")
"""

from creditflow.monitor.baseline import BASELINE_FILE, Baseline, build_baseline, fit_baseline, load_baseline
from creditflow.monitor.drift import Thresholds
from creditflow.monitor.run import MonitorResult, monitor

__all__ = [
    "BASELINE_FILE",
    "Baseline",
    "MonitorResult",
    "Thresholds",
    "build_baseline",
    "fit_baseline",
    "load_baseline",
    "monitor",
]
