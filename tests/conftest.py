"""Shared fixtures: paths to the real datasets in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
UCI = SHARED_DATA / "uci_taiwan" / "UCI_Credit_Card.csv"
UCI_TARGET = "default.payment.next.month"
GERMAN = SHARED_DATA / "german_credit" / "germancredit.csv"
YINLIAN = SHARED_DATA / "yinlian" / "new_sample.csv"
YINLIAN_DICT = SHARED_DATA / "yinlian" / "字段解释.xlsx"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"real data not found at {SHARED_DATA}; clone next to ../shared")
    return SHARED_DATA
