"""The boosted scorecard trained on a real Dask LocalCluster: the bundle the single-machine path writes for the
same table (fine bins from merged counts, codes gathered in row order, the same boosting on the client)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import creditflow as cf
from creditflow.distributed import read_labelled
from creditflow.distributed.score import score_on_cluster
from creditflow.distributed.train import train_on_cluster
from creditflow.workflow import score_table, train
from tests import dask_cluster
from tests.conftest import GERMAN, UCI, UCI_TARGET

MODEL_DOCS = ("model.json", "binning.json", "selection.json", "shapes.json", "schema.json", "baseline.json",
              "reasons.json", "reason_codes.json")


@pytest.fixture(scope="session")
def client():
    yield dask_cluster.shared_client()
    dask_cluster.close()


def _parts(frame: pd.DataFrame, folder, cuts) -> None:
    folder.mkdir(parents=True)
    for i, (a, b) in enumerate(zip([0, *cuts], [*cuts, len(frame)], strict=True)):
        frame.iloc[a:b].to_parquet(folder / f"part.{i}.parquet", index=False, row_group_size=700)


def test_boosted_on_the_cluster_equals_single_machine(client, tmp_path):
    frame = pd.read_csv(UCI).head(6000)
    frame.loc[frame.index % 7 == 0, "AGE"] = None  # missing values keep their own bin on both paths
    frame["EDU_TEXT"] = frame["EDUCATION"].map({1: "graduate", 2: "university", 3: "high school"}).fillna("other")
    folder = tmp_path / "loans"
    _parts(frame, folder, (2500, 4100))
    single = train(cf.read_table(folder, UCI_TARGET, id="ID"), tmp_path / "single", kind="boosted-scorecard",
                   report=False)
    data = read_labelled(client, folder, UCI_TARGET, id="ID", rows_per_piece=1000)
    assert data.table.npartitions > 3
    dist = train_on_cluster(client, data, tmp_path / "dist", kind="boosted-scorecard")
    a, b = tmp_path / "single" / "model", tmp_path / "dist" / "model"
    for doc in MODEL_DOCS:
        assert (a / doc).read_bytes() == (b / doc).read_bytes(), doc
    assert dist.model.pairs_ and [t.name for t in dist.model.pairs_] == [t.name for t in single.model.pairs_]
    assert (tmp_path / "single" / "metrics.json").read_text() == (tmp_path / "dist" / "metrics.json").read_text()
    assert json.loads((b / "metadata.json").read_text())["distributed"]["engine"] == "dask"
    summary = score_on_cluster(client, b, folder, tmp_path / "scores", reasons=True)
    assert summary.rows == len(frame)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "scores"), score_table(a, folder, reasons=True))


def test_boosted_on_the_cluster_refuses_what_needs_the_rows(client, tmp_path):
    folder = tmp_path / "german"
    _parts(pd.read_csv(GERMAN), folder, (400,))
    data = read_labelled(client, folder, "creditability", bad="bad")
    for blend in (0.5, "auto"):
        with pytest.raises(cf.CreditflowError, match="blend"):
            train_on_cluster(client, data, kind="boosted-scorecard", params={"blend": blend})
    with pytest.raises(cf.CreditflowError, match="monotone"):
        train_on_cluster(client, data, kind="boosted-scorecard", params={"monotone": {"no_such": "ascending"}})
