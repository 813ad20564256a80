"""The LightGBM challenger trained with lightgbm.dask on a real LocalCluster: the single-machine recipe, the
same folds, and an AUC within a whisker of the single-machine model's."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import creditflow as cf
from creditflow.distributed import read_labelled
from creditflow.distributed.gbdt import _early_stop
from creditflow.distributed.score import score_on_cluster
from creditflow.distributed.train import train_on_cluster
from creditflow.workflow import score_table, train
from tests import dask_cluster
from tests.conftest import GERMAN, UCI, UCI_TARGET

PARAMS = {"folds": 2, "tune": False, "max_rounds": 120, "learning_rate": 0.1, "early_stopping": 30}


@pytest.fixture(scope="session")
def client():
    yield dask_cluster.shared_client()
    dask_cluster.close()


def test_early_stopping_replay_matches_lightgbm_rule():
    curve = [0.60, 0.62, 0.61, 0.63, 0.63, 0.62, 0.62, 0.62]
    assert _early_stop(curve, 3) == (4, True)  # ties do not improve; 3 rounds after the best it stops
    assert _early_stop(curve[:6], 3) == (4, False)
    assert _early_stop([0.5, 0.7], 1) == (2, False)


def test_lightgbm_network_retries_are_not_printed(capsys):
    from creditflow.distributed.gbdt import _NoInfo

    log = _NoInfo()
    log.info("[LightGBM] [Info] Trying to bind port 12400...")
    log.info("[LightGBM] [Warning] Connecting to rank 1 failed, waiting for 200 milliseconds")
    log.info("[LightGBM] [Warning] No further splits with positive gain")
    assert capsys.readouterr().err == "[LightGBM] [Warning] No further splits with positive gain\n"


def test_gbdt_on_the_cluster_matches_single_machine(client, tmp_path):
    frame = pd.read_csv(UCI).head(8000)
    frame["app_no"] = [f"A{i:05d}" for i in range(len(frame))]  # an id given as a feature: left out on both
    folder = tmp_path / "loans"
    folder.mkdir()
    for i, part in enumerate((frame.iloc[:3000], frame.iloc[3000:5500], frame.iloc[5500:])):
        part.to_parquet(folder / f"part.{i}.parquet", index=False)
    single = train(cf.read_table(folder, UCI_TARGET, id="ID"), tmp_path / "single", kind="gbdt", params=PARAMS)
    data = read_labelled(client, folder, UCI_TARGET, id="ID")
    dist = train_on_cluster(client, data, tmp_path / "dist", kind="gbdt", params=PARAMS)
    assert dist.model.folds_["valid_rows"].tolist() == single.model.folds_["valid_rows"].tolist()
    assert list(dist.model.unused_) == list(single.model.unused_) == ["app_no"]
    assert dist.model.unused_ == single.model.unused_
    for split in ("train", "test"):
        assert dist.metrics[split].rows == single.metrics[split].rows
    assert abs(dist.metrics["test"].auc - single.metrics["test"].auc) < 0.01
    assert dist.metrics["test"].auc > 0.74
    model = tmp_path / "dist" / "model"
    for doc in ("gbdt.json", "model.txt", "baseline.json", "reasons.json", "reason_codes.json", "schema.json"):
        assert (model / doc).exists(), doc
    enc_single = json.loads((tmp_path / "single" / "model" / "gbdt.json").read_text())["encoder"]
    assert json.loads((model / "gbdt.json").read_text())["encoder"] == enc_single
    summary = score_on_cluster(client, model, folder, tmp_path / "scores", reasons=True)
    assert summary.rows == 8000
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "scores"), score_table(model, folder, reasons=True))


def test_monotone_trends_from_merged_counts_equal_single_machine(client, tmp_path):
    from creditflow.distributed.gbdt import _monotone
    from creditflow.distributed.scorecard import feature_stats
    from creditflow.models.gbdt import GBDTModel
    from creditflow.models.gbdt_boost import monotone_trends
    from creditflow.models.gbdt_features import FeatureEncoder

    frame = pd.read_csv(UCI).head(6000)
    frame.iloc[:2500].to_parquet(tmp_path / "a.parquet", index=False)
    frame.iloc[2500:].to_parquet(tmp_path / "b.parquet", index=False)
    ds = cf.read_table(tmp_path, UCI_TARGET, id="ID")
    single = monotone_trends(ds.train.X, ds.train.y, list(ds.X.columns))
    data = read_labelled(client, tmp_path, UCI_TARGET, id="ID")
    stats = feature_stats(client, data, client.scatter(data.labels(), hash=False), [], {})
    model = GBDTModel(monotone="binning")
    model.encoder_ = FeatureEncoder(features=data.features, categories={})
    assert _monotone(model, stats, data) == single
    assert any(v == 1 for v in single.values())


def test_the_same_data_and_seed_give_the_same_gbdt_on_the_cluster(client, tmp_path):
    """Pieces are placed on the workers in a fixed order and LightGBM's ranks follow it; the ports it listened on
    are not written into the model: two trainings give the same model text, byte for byte."""
    frame = pd.read_csv(GERMAN)
    folder = tmp_path / "loans"
    folder.mkdir()
    for i in range(4):
        frame.iloc[i * 250 : (i + 1) * 250].to_parquet(folder / f"part.{i}.parquet", index=False)
    params = {**PARAMS, "max_rounds": 60, "learning_rate": 0.2}
    texts = []
    for run in range(2):
        data = read_labelled(client, folder, "creditability", bad="bad")
        train_on_cluster(client, data, tmp_path / f"run{run}", kind="gbdt", params=params)
        texts.append((tmp_path / f"run{run}" / "model" / "model.txt").read_text())
    assert texts[0] == texts[1]
    assert "[machines: ]" in texts[0]
    from creditflow.distributed.gbdt import _placement

    workers = sorted(client.scheduler_info(n_workers=-1)["workers"],
                     key=lambda a: str(client.scheduler_info(n_workers=-1)["workers"][a]["name"]))
    assert _placement(client, 5) == [workers[0]] * 3 + [workers[1]] * 2  # blocks of consecutive pieces
