"""The HTML report opened in real headless Chromium: Chinese meanings, section titles, numbers, and a
non-blank screenshot. Needs Debian packages `chromium` and `fonts-noto-cjk` (skipped without Chromium
outside CI; fails in CI, where CI=1)."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from creditflow.data import read_table
from creditflow.models.scorecard import Scorecard
from creditflow.report import build_report

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

if BROWSER is None:
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (Debian package 'chromium')", pytrace=False)
    pytest.skip("chromium is not installed (Debian package 'chromium')", allow_module_level=True)


def _chromium(url: str, profile, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def page(shared_data, tmp_path_factory):
    """The yinlian scorecard's report, with the Chinese field dictionary, saved as HTML."""
    data = read_table(shared_data / "yinlian" / "new_sample.csv", target="y", id="user_id",
                      dictionary=shared_data / "yinlian" / "字段解释.xlsx")
    splits = data.split()
    card = Scorecard().fit(splits["train"])
    report = build_report(card, splits)
    path = report.to_html(tmp_path_factory.mktemp("html") / "报告.html")
    score = card.scores(splits["test"].X)["score"].to_numpy()
    return path, card, roc_auc_score(splits["test"].y, -score), tmp_path_factory.mktemp("profile")


def test_chinese_fonts_are_installed():
    fc = shutil.which("fc-list")
    out = subprocess.run([fc, ":lang=zh", "family"], capture_output=True, text=True).stdout if fc else ""
    assert out.strip(), "no font with Chinese glyphs: install Debian package fonts-noto-cjk"


def test_dom_has_sections_numbers_and_chinese_meanings(page):
    path, card, auc, profile = page
    result = _chromium(path.as_uri(), profile, "--dump-dom")
    dom = result.stdout
    assert "Summary of findings" in dom, result.stderr[-2000:]
    for title in ("Data summary", "Variable selection", "Binning", "Scorecard points", "Discrimination",
                  "Calibration", "Stability", "Cutoff strategy", "Sign-off"):
        assert title in dom
    assert f"{auc:.4f}" in dom  # the test AUC in the metrics table, as scikit-learn computes it
    meanings = [card.dictionary_.meaning(v) for v in card.features_]
    assert all(m and m in dom for m in meanings)  # e.g. 年龄, 借记卡数量
    assert "年龄" in dom


def test_screenshot_is_a_non_blank_png(page, tmp_path):
    from PIL import Image

    path, _, _, profile = page
    shot = tmp_path / "shot.png"
    result = _chromium(path.as_uri(), profile, f"--screenshot={shot}", "--window-size=1280,2400",
                       "--hide-scrollbars")
    assert shot.exists(), result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape == (2400, 1280, 3)
    not_white = (img < 245).any(axis=2).mean()
    assert 0.03 < not_white < 0.9
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 200  # text, tables and colour, not a flat page
    # the header band is the report's dark blue
    assert ((img[:, :, 2] > 80) & (img[:, :, 0] < 60)).any()
