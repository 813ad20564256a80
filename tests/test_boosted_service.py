"""A boosted scorecard behind the real decision service: the served score is the model's own sum of points
(interaction tables included), reasons come from the points, and bad input gets a 422."""

from __future__ import annotations

import pytest

from creditflow.bundle import load_bundle
from tests.service_support import (  # noqa: F401  (fixtures)
    EXAMPLE_POLICY,
    ServiceProcess,
    applicants,
    train_bundle,
)


@pytest.fixture(scope="module")
def boosted_bundle(tmp_path_factory):
    return train_bundle(tmp_path_factory.mktemp("boosted_svc"), "svc_boosted", slice(0, 6000), kind="boosted-scorecard")


@pytest.fixture(scope="module")
def server(boosted_bundle, tmp_path_factory):
    work = tmp_path_factory.mktemp("serve_boosted")
    proc = ServiceProcess([str(boosted_bundle), "--policy", str(EXAMPLE_POLICY)], workdir=work).start()
    yield proc
    assert proc.stop() in (0, -15), proc.log()
    assert "Traceback" not in proc.log()


def test_served_scores_are_the_models_points(server, boosted_bundle, applicants):  # noqa: F811
    model = load_bundle(boosted_bundle).model
    assert model.model_type == "boosted-scorecard" and model.pairs_  # interaction tables are served too
    with server.client() as c:
        for i, applicant in enumerate(applicants[:40]):
            r = c.post("/v1/decisions", json={"application_id": f"b-{i}", "applicant": applicant})
            assert r.status_code == 200, r.text
            doc = r.json()
            expected = model.score_row(applicant)
            assert (doc["score"], doc["grade"]) == (expected["score"], expected["grade"])
            assert doc["probability"] == pytest.approx(expected["probability"], rel=1e-12)
            model_reasons = [x for x in doc["reasons"] if x.get("source") == "model"]
            assert model_reasons, doc["reasons"]
        bad = {**applicants[0]}
        bad.pop("PAY_0")
        r = c.post("/v1/decisions", json={"applicant": bad})
        assert r.status_code == 422, r.text
        r = c.post("/v1/decisions", json={"applicant": {**applicants[0], "AGE": "old"}})
        assert r.status_code == 422, r.text


def test_inputs_never_seen_in_training_are_noted_in_the_answer(server, boosted_bundle, applicants):  # noqa: F811
    model = load_bundle(boosted_bundle).model
    cats = {v for v, vb in model.binning_.bins_.items() if vb.kind == "categorical" and v in model.features_}
    schema = load_bundle(boosted_bundle).files["schema.json"]
    age = next(f for f in schema["fields"] if f["name"] == "AGE")
    with server.client() as c:
        plain = c.post("/v1/decisions", json={"applicant": applicants[0]}).json()
        old = c.post("/v1/decisions", json={"applicant": {**applicants[0], "AGE": age["max"] + 5}}).json()
    assert plain["notes"] == [] or all("AGE" not in n for n in plain["notes"])
    assert any(n.startswith(f"AGE: {age['max'] + 5:g} is above the training maximum") for n in old["notes"])
    assert old["score"] == model.score_row({**applicants[0], "AGE": age["max"] + 5})["score"]
    from creditflow.service.state import note_function

    notes = note_function(load_bundle(boosted_bundle))
    for var in cats:  # a category the model did not learn is scored as unseen, and said so
        assert any(n.startswith(f"{var}: category 'zzz' was not seen") for n in notes({**applicants[0], var: "zzz"}))
