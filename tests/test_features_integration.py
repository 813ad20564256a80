"""A scorecard on features built from profiles + statements is as good as one on the wide UCI table,
and the feature spec travels inside the model bundle to rebuild the same features at scoring time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import creditflow as cf
from creditflow.features import BehaviourSpec, TagRules, build_features, read_profiles
from tests.conftest import ROOT, SHARED_DATA, UCI, UCI_TARGET

DATA = SHARED_DATA / "uci_taiwan"
SPEC = ROOT / "examples" / "uci_taiwan_features.yaml"
TAGS = ROOT / "examples" / "uci_taiwan_tags.yaml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built():
    spec = BehaviourSpec.from_yaml(SPEC)
    spec.tags = TagRules.from_yaml(TAGS)
    profiles = read_profiles(DATA / "profiles.jsonl", spec.profile)
    events = pd.read_csv(DATA / "statements.csv")
    labels = pd.read_csv(DATA / "labels.csv")
    return spec, profiles, events, labels, build_features(profiles, events, spec, labels)


@pytest.fixture(scope="module")
def cards(built):
    *_, table = built
    wide = cf.read_table(UCI, UCI_TARGET, id="ID")
    feats = cf.read_table(table, "defaulted", id="client_id")  # the table as `creditflow train` takes it
    wide.split(test_size=0.3, seed=42)
    feats.split(test_size=0.3, seed=42)
    assert wide.test.ids.tolist() == feats.test.ids.tolist()  # the same stratified 70/30 split
    return wide, feats, cf.Scorecard().fit(wide.train), cf.Scorecard().fit(feats.train)


def test_scorecard_on_built_features_matches_the_wide_table(cards):
    wide, feats, wide_card, feat_card = cards
    auc_wide = roc_auc_score(wide.test.y, wide_card.predict_proba(wide.test.X)[:, 1])
    auc_feat = roc_auc_score(feats.test.y, feat_card.predict_proba(feats.test.X)[:, 1])
    assert auc_feat >= auc_wide - 0.005, (auc_feat, auc_wide)


def test_spec_in_the_bundle_rebuilds_the_features_for_one_client(built, cards, tmp_path):
    spec, profiles, events, labels, table = built
    feat_card = cards[3]
    path = cf.save_bundle(feat_card, tmp_path / "model", extras={"features_spec.json": spec.to_dict()})
    bundle = cf.load_bundle(path)
    stored = BehaviourSpec.from_dict(bundle.files["features_spec.json"])
    # a service gets one client's profile and statements and an observation date
    client = 17
    one = build_features(
        profiles[profiles["client_id"] == client], events[events["client_id"] == client], stored,
        pd.DataFrame({"client_id": [client], "observation_date": ["2005-09-30"]}),
    )
    batch = table[table["client_id"] == client].drop(columns="defaulted").reset_index(drop=True)
    pd.testing.assert_frame_equal(one[batch.columns], batch, check_dtype=False)
    p_one = bundle.model.predict_proba(one)[:, 1]
    p_batch = feat_card.predict_proba(batch)[:, 1]
    np.testing.assert_allclose(p_one, p_batch)
