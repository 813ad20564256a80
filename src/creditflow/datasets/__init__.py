"""Real data shipped with the package, with attribution (see ATTRIBUTION.md)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

UCI_TAIWAN_TARGET = "default.payment.next.month"
UCI_TAIWAN_ID = "ID"


def uci_taiwan_path() -> Path:
    """Path of the bundled UCI Taiwan credit-card default table (30,000 rows, CC BY 4.0)."""
    return Path(str(files("creditflow.datasets") / "uci_taiwan.csv"))


UCI_TAIWAN_MEANINGS = {
    "LIMIT_BAL": "credit limit (NT$)",
    "SEX": "sex (1 male, 2 female)",
    "EDUCATION": "education (1 graduate school, 2 university, 3 high school, 4 others)",
    "MARRIAGE": "marital status (1 married, 2 single, 3 others)",
    "AGE": "age (years)",
    **{f"PAY_{k}": f"repayment status, {m} 2005 (-1 paid duly, 1..9 months late)"
       for k, m in zip([0, 2, 3, 4, 5, 6], ["Sep", "Aug", "Jul", "Jun", "May", "Apr"], strict=True)},
    **{f"BILL_AMT{k}": f"bill amount, {m} 2005 (NT$)"
       for k, m in zip(range(1, 7), ["Sep", "Aug", "Jul", "Jun", "May", "Apr"], strict=True)},
    **{f"PAY_AMT{k}": f"amount paid, {m} 2005 (NT$)"
       for k, m in zip(range(1, 7), ["Sep", "Aug", "Jul", "Jun", "May", "Apr"], strict=True)},
}
