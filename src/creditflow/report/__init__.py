"""Validation reports: HTML (self-contained), Excel and inline in Jupyter.

    from creditflow.report import build_report
    report = build_report(card, {"train": data.train, "test": data.test})
    report.to_html("report.html"); report.to_excel("report.xlsx")
"""

from creditflow.report.report import Report, build_report

__all__ = ["Report", "build_report"]
