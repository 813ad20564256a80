"""A model without a binning (a LightGBM challenger) still gets a report; binning sections say why not."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from creditflow.data import read_table
from creditflow.report import build_report

TARGET = "default.payment.next.month"


@pytest.fixture(scope="module")
def splits(shared_data):
    data = read_table(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv", target=TARGET, id="ID")
    return data.split()


def test_lightgbm_challenger_report(splits, tmp_path):
    lightgbm = pytest.importorskip("lightgbm")
    model = lightgbm.LGBMClassifier(n_estimators=60, num_leaves=15, learning_rate=0.1, verbose=-1, n_jobs=1)
    model.fit(splits["train"].X, splits["train"].y)
    report = build_report(model, splits)
    binning = report.section("binning")
    assert "no binning" in binning.blocks[0].text
    assert "no points table" in report.section("points").blocks[0].text
    assert "has no coefficients" in report.section("model").blocks[0].text
    # discrimination uses the score derived from the probability with the default scaling
    p = model.predict_proba(splits["test"].X)[:, 1]
    auc = report.table("discrimination.metrics").set_index("sample").loc["test", "auc"]
    assert auc == pytest.approx(roc_auc_score(splits["test"].y, p), abs=0.005)  # integer scores tie a little
    csi = report.table("stability.csi")
    assert list(csi["variable"]) == list(model.feature_names_in_) and csi["csi_test"].lt(0.1).all()
    assert "selection.importance" in report.tables()
    html = report.to_html(tmp_path / "lgbm.html").read_text(encoding="utf-8")
    assert "Discrimination" in html


def test_plain_logistic_regression_report(splits):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cols = ["PAY_0", "LIMIT_BAL", "AGE"]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(splits["train"].X[cols], splits["train"].y)
    report = build_report(model, {"train": splits["train"], "test": splits["test"]})
    assert "Variable selection" in report._repr_html_()
    assert np.isfinite(report.metrics["discrimination"]["test"]["auc"])


def test_gbdt_reason_codes_are_described_as_treeshap_contributions(shared_data):
    """Before, a gbdt's reason-code text spoke of points and interaction tables, which it does not have."""
    from creditflow.data import read_table
    from creditflow.models.scorecard import Scorecard
    from creditflow.workflow import make_model

    german = read_table(shared_data / "german_credit" / "germancredit.csv", "creditability", bad="bad").split()
    intro = build_report(make_model("gbdt").fit(german["train"]), german).section("reasons").intro
    assert "TreeSHAP contribution, in score points" in intro
    assert "points fall" not in intro and "interaction tables" not in intro
    card_intro = build_report(Scorecard().fit(german["train"]), german).section("reasons").intro
    assert "whose points fall furthest" in card_intro and "interaction tables" not in card_intro
