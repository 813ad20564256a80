"""End-to-end CLI: train, score, demo, and bad input (exit 2, one clear line, no output left behind)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import GERMAN, UCI, UCI_TARGET, YINLIAN, YINLIAN_DICT

CLI = [sys.executable, "-m", "creditflow"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    r = run("train", UCI, "--target", UCI_TARGET, "--id", "ID", "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def test_train_writes_bundle_and_metrics(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    for split in ("train", "test"):
        m = metrics["splits"][split]
        assert set(m) == {"rows", "bad_rate", "auc", "ks", "gini"}
        assert m["gini"] == pytest.approx(2 * m["auc"] - 1)
    assert metrics["splits"]["test"]["auc"] > 0.74
    assert (trained / "model" / "manifest.json").exists()


def test_score_keeps_ids_and_input_order(trained, tmp_path):
    src = pd.read_csv(UCI).sample(500, random_state=1)
    src.to_csv(tmp_path / "in.csv", index=False)
    r = run("score", trained / "model", tmp_path / "in.csv", "--out", tmp_path / "scores.csv")
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(tmp_path / "scores.csv")
    assert list(out.columns[:4]) == ["ID", "probability", "score", "grade"]
    assert out["ID"].tolist() == src["ID"].tolist()
    assert out["score"].between(350, 950).all()


def test_out_of_time_split_with_time_column(tmp_path):
    frame = pd.read_csv(GERMAN)
    frame["month"] = [f"2024-{1 + i % 6:02d}" for i in range(len(frame))]
    frame.to_csv(tmp_path / "g.csv", index=False)
    r = run("train", tmp_path / "g.csv", "--target", "creditability", "--bad", "bad", "--time", "month",
            "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    splits = json.loads((tmp_path / "o" / "metrics.json").read_text())["splits"]
    assert set(splits) == {"train", "test", "oot"}
    assert splits["oot"]["rows"] == sum(1 for i in range(1000) if i % 6 == 5)


def test_gbk_file_and_chinese_dictionary(tmp_path):
    frame = pd.read_csv(YINLIAN).head(4000)
    frame.to_csv(tmp_path / "gbk.csv", index=False, encoding="gbk")
    r = run("train", tmp_path / "gbk.csv", "--target", "y", "--id", "user_id", "--dictionary", YINLIAN_DICT,
            "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    assert "逾期" in r.stdout or "年龄" in r.stdout or "次数" in r.stdout


BAD_INPUTS = {
    "unknown target": (lambda d: d, ["--target", "nope"], "target column not found"),
    "single class": (lambda d: d.assign(**{UCI_TARGET: 0}), ["--target", UCI_TARGET], "single class"),
    "non-binary": (lambda d: d.assign(**{UCI_TARGET: d["AGE"]}), ["--target", UCI_TARGET], "two classes"),
    "all missing": (lambda d: d.assign(EMPTY=float("nan")), ["--target", UCI_TARGET], "entirely missing"),
    "infinity": (lambda d: d.assign(LIMIT_BAL=d["LIMIT_BAL"].where(d.index != 7, float("inf"))),
                 ["--target", UCI_TARGET], "infinite"),
    "text in a numeric column": (lambda d: d.assign(LIMIT_BAL=d["LIMIT_BAL"].astype(object).where(d.index != 5, "abc")),
                                 ["--target", UCI_TARGET], "column 'LIMIT_BAL', row 6: 1 non-numeric value(s)"),
    "one column in two roles": (lambda d: d, ["--target", UCI_TARGET, "--id", UCI_TARGET], "the target and the id"),
    "dates with a typo": (lambda d: d.assign(day=[f"2024-01-{1 + i % 28:02d}" for i in range(len(d))])
                          .assign(day=lambda x: x["day"].where(x.index != 9, "31/02/2024x")),
                          ["--target", UCI_TARGET, "--time", "day"], "column 'day', row 10"),
}


def test_categorical_declares_codes_that_look_numeric(tmp_path):
    """The typo case above, declared as codes: trained as categories, scored from a clean numeric file."""
    frame = pd.read_csv(UCI).head(6000)
    frame.assign(LIMIT_BAL=frame["LIMIT_BAL"].astype(object).where(frame.index != 5, "abc")).to_csv(
        tmp_path / "codes.csv", index=False)
    r = run("train", tmp_path / "codes.csv", "--target", UCI_TARGET, "--id", "ID", "--categorical", "LIMIT_BAL",
            "--no-report", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    binning = json.loads((tmp_path / "o" / "model" / "binning.json").read_text())
    limit = next(v for v in binning["variables"] if v["name"] == "LIMIT_BAL")
    assert limit["kind"] == "categorical"
    # a clean numeric file scores as the training file did: the model's text input LIMIT_BAL is read as written
    frame.to_csv(tmp_path / "clean.csv", index=False)
    for name in ("clean", "codes"):
        r = run("score", tmp_path / "o" / "model", tmp_path / f"{name}.csv", "--out", tmp_path / f"{name}_s.csv")
        assert r.returncode == 0, r.stderr
    clean, codes = (pd.read_csv(tmp_path / f"{n}_s.csv", encoding="utf-8-sig") for n in ("clean", "codes"))
    same = clean.index != 5
    pd.testing.assert_frame_equal(clean[same], codes[same])
    assert clean["score"].nunique() > 100


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_training_input_exits_2_with_a_clear_message(case, tmp_path):
    change, args, expected = BAD_INPUTS[case]
    change(pd.read_csv(UCI).head(3000)).to_csv(tmp_path / "bad.csv", index=False)
    r = run("train", tmp_path / "bad.csv", *args, "--out", tmp_path / "o")
    assert r.returncode == 2
    assert expected in r.stderr
    assert "bad.csv" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "o").exists()


def test_a_number_beyond_the_float_range_exits_2_naming_its_row(tmp_path):
    """A 400-digit amount (pandas keeps such a CSV column as Python ints) stopped train and score with "internal
    error: OverflowError" instead of being refused as the infinity it becomes."""
    frame = pd.read_csv(GERMAN, dtype=str, keep_default_na=False)
    frame.to_csv(tmp_path / "clean.csv", index=False)
    frame.loc[7, "credit_amount"] = "9" * 400
    frame.to_csv(tmp_path / "bad.csv", index=False)
    r = run("train", tmp_path / "bad.csv", "--target", "creditability", "--no-report", "--out", tmp_path / "bad")
    assert r.returncode == 2, r.stderr
    assert "bad.csv', column 'credit_amount', row 8: 1 infinite value(s)" in r.stderr
    r = run("train", tmp_path / "clean.csv", "--target", "creditability", "--no-report", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    r = run("score", tmp_path / "o" / "model", tmp_path / "bad.csv", "--out", tmp_path / "s.csv")
    assert r.returncode == 2, r.stderr
    assert "bad.csv', column 'credit_amount', row 8: 1 infinite value(s)" in r.stderr
    assert "internal error" not in r.stderr and not (tmp_path / "s.csv").exists()


def test_empty_and_undecodable_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    r = run("train", tmp_path / "empty.csv", "--target", "y")
    assert r.returncode == 2 and "empty" in r.stderr
    (tmp_path / "bin.csv").write_bytes(b"a,b\n\xff\xfe\x00\x81\x81,1\n" * 3)
    r = run("train", tmp_path / "bin.csv", "--target", "b")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_scoring_data_lacking_model_columns(trained, tmp_path):
    pd.read_csv(UCI).drop(columns=["PAY_0"]).head(50).to_csv(tmp_path / "x.csv", index=False)
    r = run("score", trained / "model", tmp_path / "x.csv", "--out", tmp_path / "s.csv")
    assert r.returncode == 2
    assert "PAY_0" in r.stderr
    assert not (tmp_path / "s.csv").exists()


def test_tampered_bundle_is_refused(trained, tmp_path):
    import shutil

    shutil.copytree(trained / "model", tmp_path / "m")
    p = tmp_path / "m" / "binning.json"
    p.write_text(p.read_text().replace("0", "1", 1))
    r = run("score", tmp_path / "m", UCI, "--out", tmp_path / "s.csv")
    assert r.returncode == 2 and "SHA-256" in r.stderr


def test_demo_runs_on_the_bundled_data(tmp_path):
    r = run("demo", "--out", "demo", cwd=tmp_path)  # as the README writes it
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "demo" / "model" / "manifest.json").exists()
    scores = pd.read_csv(tmp_path / "demo" / "scores.csv")
    assert len(scores) == 30000
    # docs audit: the grade mix was wrapped at 80 columns in the middle of its JSON
    mix = next(line for line in r.stdout.splitlines() if "grade mix: " in line).split("grade mix: ")[1]
    assert json.loads(mix) == scores["grade"].value_counts().sort_index().to_dict()


def test_train_output_folder_given_for_the_bundle_suggests_dir_model(trained, tmp_path):
    r = run("score", trained, UCI, "--out", tmp_path / "s.csv")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "not a creditflow model bundle" in r.stderr
    assert f"did you mean {trained / 'model'}?" in " ".join(r.stderr.split())
    r = run("score", tmp_path, UCI, "--out", tmp_path / "s.csv")  # no bundle inside: no suggestion
    assert r.returncode == 2 and "did you mean" not in r.stderr


def _rehashed(bundle: Path, dest: Path, name: str, change) -> Path:
    """A copy of a real bundle with one document edited and the manifest digests recomputed."""
    import hashlib
    import shutil

    shutil.copytree(bundle, dest)
    doc = json.loads((dest / name).read_text(encoding="utf-8"))
    change(doc)
    (dest / name).write_text(json.dumps(doc), encoding="utf-8")
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"][name] = hashlib.sha256((dest / name).read_bytes()).hexdigest()
    (dest / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return dest


REHASHED_EDITS = {
    "key removed": ("model.json", lambda d: d.pop("scaling"), "missing key 'scaling'"),
    "nested key removed": ("binning.json", lambda d: d["variables"][0].pop("kind"), "missing key 'variables[0].kind'"),
    "wrong type": ("model.json", lambda d: d.__setitem__("intercept", "abc"), "key 'intercept': must be a finite number"),
    "not a mapping": ("model.json", lambda d: d.__setitem__("scaling", 600), "key 'scaling': must be a mapping"),
    "points edited": ("model.json", lambda d: d["points"][0].__setitem__("points", 99), "key 'points': the points table"),
    # values that fail only later, inside the model, once blamed on the key read last (variables[22].kind)
    "short woe list": ("binning.json", lambda d: d["variables"][0].__setitem__("woe", d["variables"][0]["woe"][:2]),
                       "key 'variables[0].woe': has 2 values but the variable has"),
    "text in splits": ("binning.json", lambda d: d["variables"][0]["splits"].__setitem__(0, "abc"),
                       "key 'variables[0].splits[0]': must be a finite number, not str 'abc'"),
    "pdo text": ("model.json", lambda d: d["scaling"].__setitem__("pdo", "abc"),
                 "key 'scaling.pdo': must be a finite number, not str 'abc'"),
    "unknown kind": ("binning.json", lambda d: d["variables"][1].__setitem__("kind", "ordinal"),
                     "key 'variables[1].kind': must be one of ['numeric', 'categorical'], not str 'ordinal'"),
    # documents read only when scoring with reasons or serving: checked on load all the same
    "reason reference text": ("reasons.json", lambda d: d["values"].__setitem__("AGE", "x"),
                              "key 'values.AGE': must be a finite number of points, not str 'x'"),
    "reason reference kind": ("reasons.json", lambda d: d.__setitem__("reference", "foo"),
                              "key 'reference': must be one of max, p95, mean, cutoff"),
    "schema fields": ("schema.json", lambda d: d.__setitem__("fields", "x"), "key 'fields': must be a list"),
}


@pytest.mark.parametrize("case", sorted(REHASHED_EDITS))
def test_rehashed_edited_bundle_names_the_file_and_the_key(trained, tmp_path, case):
    from creditflow.bundle import load_bundle
    from creditflow.data.errors import BundleError

    name, change, expected = REHASHED_EDITS[case]
    edited = _rehashed(trained / "model", tmp_path / "m", name, change)
    with pytest.raises(BundleError) as err:
        load_bundle(edited)
    assert err.value.file == str(edited / name)
    assert expected in err.value.message
    assert err.value.message.count("key '") == 1  # the faulty key only, no other one blamed
    r = run("score", edited, UCI, "--out", tmp_path / "s.csv")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "internal error" not in r.stderr
    text = " ".join(r.stderr.split())
    assert str(edited / name) in text and expected in text


def test_an_edited_manifest_is_refused(trained, tmp_path):
    import shutil

    from creditflow.bundle import load_bundle
    from creditflow.data.errors import BundleError

    def edited(name: str, change) -> Path:
        dest = tmp_path / name
        shutil.copytree(trained / "model", dest)
        manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
        change(manifest)
        (dest / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        return dest

    cases = {
        "version": (lambda m: m.__setitem__("model_version", "deadbeefdeadbeef"), "model_version 'deadbeefdeadbeef'"),
        "no version": (lambda m: m.pop("model_version"), "model_version None is not that of the documents"),
        "outside": (lambda m: m["files"].__setitem__("../outside.json", m["files"]["model.json"]),
                    "lists '../outside.json', which is not a document of this folder"),
        "format": (lambda m: m.__setitem__("format_version", "abc"), "no valid format_version ('abc')"),
    }
    for name, (change, expected) in cases.items():
        with pytest.raises(BundleError, match=re.escape(expected)):
            load_bundle(edited(name, change))
    # a valid document edited and its digest recomputed: the version no longer matches the documents
    valid = _rehashed(trained / "model", tmp_path / "protected", "reasons.json",
                      lambda d: d.__setitem__("protected", ["PAY_0"]))
    r = run("score", valid, UCI, "--out", tmp_path / "s.csv")
    assert r.returncode == 2 and "is not that of the documents: the manifest was edited" in r.stderr


def test_loads_while_the_bundle_is_replaced_see_one_bundle_or_the_other(tmp_path):
    import threading

    from creditflow.bundle import load_bundle, save_bundle
    from creditflow.data import read_table
    from creditflow.models.scorecard import Scorecard

    data = read_table(GERMAN, "creditability", bad="bad")
    cards = [Scorecard(binning={"max_bins": b}).fit(data.train) for b in (3, 6)]
    live = tmp_path / "live"
    versions = {load_bundle(save_bundle(c, tmp_path / f"v{i}")).model_version for i, c in enumerate(cards)}
    save_bundle(cards[0], live)
    errors: list[BaseException] = []

    def deploy(card) -> None:
        try:
            for _ in range(15):
                save_bundle(card, live, overwrite=True)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    writers = [threading.Thread(target=deploy, args=(c,)) for c in cards]  # two deploys at once, too
    for w in writers:
        w.start()
    seen = set()
    while any(w.is_alive() for w in writers):
        seen.add(load_bundle(live).model_version)
    for w in writers:
        w.join()
    assert not errors, errors
    assert seen <= versions and load_bundle(live).model_version in versions


def test_encoding_option_reads_a_table_neither_utf8_nor_gbk(trained, tmp_path):
    src = pd.read_csv(UCI).head(3000)
    src.to_csv(tmp_path / "utf16.csv", index=False, encoding="utf-16")
    r = run("train", tmp_path / "utf16.csv", "--target", UCI_TARGET, "--id", "ID", "--out", tmp_path / "o")
    assert r.returncode == 2 and "pass --encoding" in r.stderr and "utf16.csv" in r.stderr
    r = run("train", tmp_path / "utf16.csv", "--target", UCI_TARGET, "--id", "ID", "--encoding", "utf-16",
            "--no-report", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "o" / "model" / "metadata.json").read_text())["training"]["rows"]["train"] == 2100
    r = run("score", trained / "model", tmp_path / "utf16.csv", "--out", tmp_path / "s.csv")
    assert r.returncode == 2 and "pass --encoding" in r.stderr
    r = run("score", trained / "model", tmp_path / "utf16.csv", "--encoding", "utf-16", "--out", tmp_path / "s.csv")
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(tmp_path / "s.csv")["ID"].tolist() == src["ID"].tolist()
    r = run("score", trained / "model", tmp_path / "utf16.csv", "--encoding", "no-such-codec", "--out", tmp_path / "t.csv")
    assert r.returncode == 2 and "cannot decode as no-such-codec" in r.stderr and not (tmp_path / "t.csv").exists()


def test_train_out_that_is_an_existing_file_exits_2(tmp_path):
    (tmp_path / "afile").write_text("keep me")
    for out in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--out", out)
        assert r.returncode == 2, r.stderr
        assert "--out must be a directory" in r.stderr and "afile" in r.stderr
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "afile").read_text() == "keep me"
    r = run("demo", "--out", tmp_path / "afile")
    assert r.returncode == 2 and "--out must be a directory" in r.stderr


def test_splits_file_gives_each_rows_sample_and_an_existing_bundle_needs_force(trained, tmp_path):
    # A validator could not tell which rows were train/test without copying the split code; and a second
    # train --out into the champion's folder replaced its bundle without a word.
    from sklearn.metrics import roc_auc_score

    splits = pd.read_csv(trained / "splits.csv")
    data = pd.read_csv(UCI)
    assert list(splits.columns) == ["row", "ID", "sample"] and splits["ID"].tolist() == data["ID"].tolist()
    assert splits["sample"].value_counts().to_dict() == {"train": 21000, "test": 9000}
    r = run("score", trained / "model", UCI, "--out", tmp_path / "s.csv", "--no-reasons")
    assert r.returncode == 0, r.stderr
    scored = pd.read_csv(tmp_path / "s.csv")
    test = (splits["sample"] == "test").to_numpy()
    auc = roc_auc_score(data[UCI_TARGET][test], scored["probability"][test])
    assert auc == pytest.approx(json.loads((trained / "metrics.json").read_text())["splits"]["test"]["auc"], abs=1e-12)
    out = tmp_path / "champion"
    assert run("train", GERMAN, "--target", "creditability", "--out", out, "--no-report").returncode == 0
    before = (out / "model" / "manifest.json").read_text()
    r = run("train", GERMAN, "--target", "creditability", "--out", out, "--no-report", "--model", "gbdt")
    assert r.returncode == 2 and "already holds a model bundle (scorecard" in r.stderr and "--force" in r.stderr
    assert (out / "model" / "manifest.json").read_text() == before
    r = run("train", GERMAN, "--target", "creditability", "--out", out, "--no-report", "--model", "gbdt", "--force")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "model" / "manifest.json").read_text())["model_type"] == "gbdt"


def test_out_that_is_a_bundle_itself_is_refused_even_with_force(tmp_path):
    # `train --out champ/model` (the bundle, not its folder) wrote a second bundle to champ/model/model and
    # metrics.json, splits.csv and the report into the champion's bundle, exit 0 (demo too, with scores.csv)
    champ = tmp_path / "champ"
    assert run("train", GERMAN, "--target", "creditability", "--out", champ, "--no-report").returncode == 0
    before = sorted(p.name for p in (champ / "model").iterdir())
    for args in (["train", GERMAN, "--target", "creditability", "--no-report", "--out", champ / "model"],
                 ["train", GERMAN, "--target", "creditability", "--no-report", "--force", "--out", champ / "model"],
                 ["train", GERMAN, "--target", "creditability", "--no-report", "--out", champ / "model" / "v2"],
                 ["demo", "--out", champ / "model"]):
        r = run(*args)
        text = " ".join(r.stderr.split())
        assert r.returncode == 2 and f"file '{champ / 'model'}'" in text, r.stderr
        assert "model bundle" in text and f"give its folder {champ}" in text and "Traceback" not in text
    assert sorted(p.name for p in (champ / "model").iterdir()) == before

    from creditflow.data.errors import CreditflowError
    from creditflow.data.io import read_table
    from creditflow.workflow import train

    data = read_table(GERMAN, target="creditability")
    with pytest.raises(CreditflowError, match="is a model bundle itself"):
        train(data, champ / "model", force=True)
    assert sorted(p.name for p in (champ / "model").iterdir()) == before


def test_train_force_over_a_linked_bundle_replaces_the_link_and_keeps_the_release(tmp_path):
    # out/model -> releases/v1 (a deploy by symbolic link): --force trained, then crashed at the save with
    # "internal error: NotADirectoryError" (exit 1), writing nothing
    release = tmp_path / "releases" / "v1"
    assert run("train", GERMAN, "--target", "creditability", "--out", release.parent, "--no-report").returncode == 0
    (tmp_path / "releases" / "model").rename(release)
    before = (release / "manifest.json").read_text()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model").symlink_to(release, target_is_directory=True)
    r = run("train", GERMAN, "--target", "creditability", "--out", tmp_path / "out", "--no-report", "--model", "gbdt",
            "--force")
    assert r.returncode == 0, r.stderr
    model = tmp_path / "out" / "model"
    assert not model.is_symlink() and json.loads((model / "manifest.json").read_text())["model_type"] == "gbdt"
    assert (release / "manifest.json").read_text() == before  # the release it pointed to is left as it was
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["metrics.json", "model", "splits.csv"]


def test_unknown_excluded_column_is_refused(tmp_path):
    r = run("train", UCI, "--target", UCI_TARGET, "--exclude", "SEXX", "--exclude", "AGE", "--out", tmp_path / "o")
    assert r.returncode == 2
    text = " ".join(r.stderr.split())
    assert "column 'SEXX'" in text and "exclude" in text
    assert "UCI_Credit_Card.csv" in text and "Traceback" not in text
    assert not (tmp_path / "o").exists()


def test_excluded_column_stays_out_of_the_model(tmp_path):
    r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--exclude", "personal_status_and_sex",
            "--no-report", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "o" / "model" / "metadata.json").read_text())
    assert "personal_status_and_sex" not in meta["training"]["columns"]
    assert meta["training"]["source"] == str(GERMAN)


def test_scoring_a_table_without_the_id_column_warns(trained, tmp_path):
    src = pd.read_csv(UCI).sample(300, random_state=2)
    src.drop(columns=["ID"]).to_csv(tmp_path / "noid.csv", index=False)
    src.to_csv(tmp_path / "withid.csv", index=False)
    r = run("score", trained / "model", tmp_path / "noid.csv", "--out", tmp_path / "a.csv")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stderr.split())
    assert "warning: file" in text and "noid.csv' has no column 'ID'" in text and "input's order" in text
    a = pd.read_csv(tmp_path / "a.csv")
    assert "ID" not in a.columns
    r = run("score", trained / "model", tmp_path / "withid.csv", "--out", tmp_path / "b.csv")
    assert r.returncode == 0 and "warning" not in r.stderr
    b = pd.read_csv(tmp_path / "b.csv")
    assert a["score"].tolist() == b["score"].tolist()  # the same rows in the same order


def test_unknown_model_kind_is_one_line(tmp_path):
    r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--model", "xgboost", "--out", tmp_path / "o")
    assert r.returncode == 2
    assert r.stderr.startswith("error: unknown model kind 'xgboost'") and len(r.stderr.splitlines()) == 1


def test_model_parameters_from_the_command_line(tmp_path):
    r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--no-report", "--out", tmp_path / "o",
            "--param", "coef_sign=any", "-p", "binning.max_bins=3", "-p", "selection__min_iv=0.03",
            "-p", "user_splits.age_in_years=[30]")
    assert r.returncode == 0, r.stderr
    params = json.loads((tmp_path / "o" / "model" / "model.json").read_text())["params"]
    assert params["coef_sign"] == "any"
    assert params["binning"] == {"max_bins": 3} and params["selection"] == {"min_iv": 0.03}
    assert params["user_splits"] == {"age_in_years": [30]}
    binning = json.loads((tmp_path / "o" / "model" / "binning.json").read_text())
    assert next(v for v in binning["variables"] if v["name"] == "age_in_years")["splits"] == [30]
    regular = [len(v["groups"]) if v["kind"] == "categorical" else len(v["splits"]) + 1 for v in binning["variables"]]
    assert max(regular) == 3


def test_a_trend_per_variable_from_the_command_line(tmp_path):
    r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--no-report", "--out", tmp_path / "o",
            "-p", 'binning.monotonic={"duration_in_month": "ascending"}', "-p", "binning.monotonic.age_in_years=descending")
    assert r.returncode == 0, r.stderr
    params = json.loads((tmp_path / "o" / "model" / "model.json").read_text())["params"]
    assert params["binning"] == {"monotonic": {"duration_in_month": "ascending", "age_in_years": "descending"}}
    bins = {v["name"]: v for v in json.loads((tmp_path / "o" / "model" / "binning.json").read_text())["variables"]}
    for var, trend in (("duration_in_month", "ascending"), ("age_in_years", "descending")):
        vb = bins[var]
        woe = np.diff(vb["woe"][: len(vb["splits"]) + 1])
        assert vb["trend"] == trend and len(woe) >= 1
        assert (woe > 0).all() if trend == "ascending" else (woe < 0).all()
    # one trend for all, then an exception for one column
    r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--no-report", "--out", tmp_path / "p",
            "-p", "binning.monotonic=none", "-p", "binning.monotonic.age_in_years=descending")
    assert r.returncode == 0, r.stderr
    params = json.loads((tmp_path / "p" / "model" / "model.json").read_text())["params"]
    assert params["binning"] == {"monotonic": {"*": "none", "age_in_years": "descending"}}


def test_train_with_time_drops_a_variable_that_drifts_across_the_training_months(tmp_path):
    frame = pd.read_csv(UCI)
    step = frame["ID"] % 6
    frame.insert(1, "month", [f"2005-{m + 4:02d}" for m in step])
    frame["LIMIT_BAL"] = frame["LIMIT_BAL"] * (1 + 0.4 * step)  # drifts month by month
    frame.to_csv(tmp_path / "uci.csv", index=False)
    r = run("train", tmp_path / "uci.csv", "--target", UCI_TARGET, "--id", "ID", "--time", "month",
            "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    selection = {v["variable"]: v for v in json.loads((tmp_path / "o" / "model" / "selection.json").read_text())["variables"]}
    limit = selection["LIMIT_BAL"]
    assert limit["step"] == "stability" and limit["csi"] > 0.25 and not limit["selected"]
    assert limit["reason"].startswith(f"CSI {limit['csi']:.3f} > 0.25 in period 2005-")
    assert selection["PAY_0"]["csi"] < 0.01 and selection["SEX"]["csi"] is None  # SEX left on IV, before the step
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert limit["reason"].replace(">", "&gt;") in html and "variables above selection.max_csi = 0.25 were dropped" in html
    # switched off: no step, no column
    r = run("train", tmp_path / "uci.csv", "--target", UCI_TARGET, "--id", "ID", "--time", "month", "--no-report",
            "--out", tmp_path / "p", "-p", "selection.max_csi=null")
    assert r.returncode == 0, r.stderr
    selection = json.loads((tmp_path / "p" / "model" / "selection.json").read_text())["variables"]
    assert all("csi" not in v and v["step"] != "stability" for v in selection)


@pytest.mark.parametrize(("param", "expected"), [
    ("coefsign=any", "scorecard has no parameter 'coefsign'; its parameters are C, binning"),
    ("shape.max_bins=6", "scorecard has no parameter 'shape'"),
    ("binning=5", "parameter 'binning': expected BinningSettings or dict"),
    ("selection.max_corr=2", "selection.max_corr must be between 0 and 1"),
    ("binning.max_bins=0", "binning.max_bins must be between 2 and 100, not 0"),
    ("binning.bins=3", "binning has no setting 'bins'"),
    ("C=-1", "C (the inverse regularisation strength) must be positive"),
    ("coef_sign", "a model parameter is KEY=VALUE"),
    ("random_state=3", "scorecard has no parameter 'random_state'"),
    ("C.x=1", "parameter 'C' is not a mapping"),
    ('binning.monotonic={"purpose": "ascending"}', "gives 'purpose' the trend ascending, but it is categorical"),
    ("binning.monotonic.nope=ascending", "binning.monotonic names 1 column(s) not in the data: ['nope']"),
    ("binning.monotonic.age_in_years=up", "binning.monotonic['age_in_years'] must be auto, ascending"),
    ('monotone={"age_in_years": "descending"}', "a trend per column of this card is binning.monotonic.COLUMN=TREND"),
    # before, a value that starts like JSON but fails to parse was read as text, and refused for its type
    ('special_values={"age_in_years":[-999', "--param special_values: the value is not valid JSON (Expecting"),
    ("user_splits.age_in_years=[30,", "--param user_splits.age_in_years: the value is not valid JSON"),
])
def test_bad_model_parameter_exits_2(param, expected, tmp_path):
    r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--param", param, "--out", tmp_path / "o")
    assert r.returncode == 2
    assert expected in " ".join(r.stderr.split()) and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_a_special_value_among_the_ordinary_values_is_warned_of_at_train(tmp_path):
    """Before, -p special_values={"age_in_years":[30]} (an ordinary age) was taken without a word; now train
    prints one warning line naming the column, value and share, and goes on."""
    r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--no-report", "--out", tmp_path / "o",
            "-p", 'special_values={"age_in_years":[30]}')
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stderr.split())
    assert "warning: column 'age_in_years': special value 30 lies among its other values (19 to 75) and holds" in text
    assert "Traceback" not in r.stderr and "SpecialValueWarning" not in r.stderr


def test_an_identifier_column_given_as_a_feature_is_left_out_with_a_warning(tmp_path):
    frame = pd.read_csv(GERMAN)
    frame.insert(0, "application_no", [f"A{i:05d}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "g.csv", index=False)
    r = run("train", tmp_path / "g.csv", "--target", "creditability", "--bad", "bad", "--no-report",
            "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stderr.split())
    assert "warning: column 'application_no' left out of the model: identifier-like: 700 distinct values in 700 rows" in text
    assert "--id" in text
    selection = json.loads((tmp_path / "o" / "model" / "selection.json").read_text())["variables"]
    assert next(v for v in selection if v["variable"] == "application_no")["step"] == "identifier"


def test_score_id_option_and_a_stale_report(tmp_path):
    frame = pd.read_csv(GERMAN)
    frame.insert(0, "application_no", [f"A{i:05d}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "g.csv", index=False)
    r = run("train", tmp_path / "g.csv", "--target", "creditability", "--bad", "bad", "--out", tmp_path / "o")
    assert r.returncode == 0 and "validation report:" in r.stdout
    # the card takes personal_status_and_sex: said on the console and in the report's findings
    text = " ".join(r.stderr.split())
    assert text.count("personal_status_and_sex looks like a protected characteristic (sex)") == 1  # not twice
    assert "ProtectedVariableWarning" not in text
    assert "personal_status_and_sex (sex)" in (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    # trained without --id: `score --id` carries the column; a name that is not a column is refused
    r = run("score", tmp_path / "o" / "model", tmp_path / "g.csv", "--id", "application_no", "--out", tmp_path / "s.csv")
    assert r.returncode == 0, r.stderr
    scored = pd.read_csv(tmp_path / "s.csv")
    assert scored.columns[0] == "application_no" and scored["application_no"].tolist() == frame["application_no"].tolist()
    r = run("score", tmp_path / "o" / "model", tmp_path / "g.csv", "--id", "app_no", "--out", tmp_path / "t.csv")
    assert r.returncode == 2 and "no column 'app_no' to carry as the id" in r.stderr and "g.csv" in r.stderr
    assert not (tmp_path / "t.csv").exists()
    # retrained in the same folder without a report: the old report is not announced as this model's
    r = run("train", tmp_path / "g.csv", "--target", "creditability", "--bad", "bad", "--no-report",
            "--out", tmp_path / "o", "-p", "coef_sign=any", "--force")
    assert r.returncode == 0, r.stderr
    assert "validation report:" not in r.stdout
    assert "is from an earlier run" in " ".join(r.stderr.split())


@pytest.mark.parametrize(("param", "expected"), [
    ("shape.max_bins=abc", "shape.max_bins must be a whole number, not 'abc'"),
    ("shape.max_bins=1e400", "shape.max_bins must be a whole number, not inf"),
    ("shape.max_bins=2.5", "shape.max_bins must be a whole number, not 2.5"),
    ("shape.max_bins=1", "max_bins must be between 2 and 256"),
    ("boosting.max_bag_rows=many", "boosting.max_bag_rows must be a whole number or None, not 'many'"),
    ("boosting.learning_rate=NaN", "boosting.learning_rate must be a number, not nan"),
    ("shape.monotone=3", "shape.monotone must be text, not 3"),
    ("interactions=true", "interactions must be a whole number >= 0, not True"),
    ("monotone=ascending", "monotone must map columns to trends"),
    ("monotone.purpose=ascending", "'purpose' is categorical"),
    ("shape.max_bins=" + "1" * 400, "shape.max_bins must be a whole number, not 1111"),
    ("boosting.smoothing_rounds=-1", "smoothing_rounds must be at least 0"),
    ("boosting.inner_steps=1e9", "inner_steps must be at most 1,000"),
    ("blend_max_rows=-5", "blend_max_rows must be a whole number >= 0"),
    ("scaling.base_score=1e20", "base_score must be between -1,000,000 and 1,000,000"),
    ("scaling.pdo=1e308", "pdo must be between 1 and 1000 points"),
    ("scaling.pdo=1e-300", "pdo must be between 1 and 1000 points"),
])
def test_bad_boosted_parameter_exits_2(param, expected, tmp_path):
    r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--model", "boosted-scorecard",
            "--param", param, "--out", tmp_path / "o")
    assert r.returncode == 2, r.stderr
    assert expected in " ".join(r.stderr.split()) and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("params", "expected"), [
    # before, the later one won silently
    (["shape.max_bins=5", "shape.max_bins=6"], "--param shape.max_bins is given twice, as 5 and as 6"),
    (["monotone.duration_in_month=ascending", "monotone.duration_in_month=descending"],
     "--param monotone.duration_in_month is given twice, as 'ascending' and as 'descending'"),
    # before, the entry won over the whole value in either order
    (["shape.max_bins=5", 'shape={"max_bins": 8}'], "--param shape.max_bins is given twice, as 5 (by shape.max_bins) "
                                                     "and as 8 (by shape)"),
    # before, the whole mapping dropped the entry given before it
    (["monotone.duration_in_month=ascending", 'monotone={"age_in_years": "descending"}'],
     "--param monotone is given whole after monotone.duration_in_month, which it would silently replace"),
    # before, the second whole value replaced the first
    (['shape={"max_bins": 5}', 'shape={"min_bin_share": 0.1}'], "--param shape is given whole twice"),
])
def test_contradictory_boosted_parameters_exit_2(params, expected, tmp_path):
    args = [a for p in params for a in ("-p", p)]
    r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--model", "boosted-scorecard", *args,
            "--out", tmp_path / "o")
    assert r.returncode == 2, r.stderr
    assert expected in " ".join(r.stderr.split()) and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_parameters_that_combine_are_still_taken():
    from creditflow.workflow import model_params

    assert model_params("boosted-scorecard", ['monotone={"PAY_2": "ascending"}', "monotone.PAY_0=ascending",
                                              "shape.max_bins=5", 'shape={"min_bin_share": 0.1}',
                                              "shape.max_bins=5"]) == \
        {"monotone": {"PAY_2": "ascending", "PAY_0": "ascending"}, "shape": {"min_bin_share": 0.1, "max_bins": 5}}
    assert model_params("scorecard", ["binning.monotonic=none", "binning.monotonic.age_in_years=descending"]) == \
        {"binning": {"monotonic": {"*": "none", "age_in_years": "descending"}}}
    # a whole mapping after an entry it holds as given drops nothing: taken (it was refused as a contradiction)
    assert model_params("boosted-scorecard", ["monotone.PAY_0=ascending",
                                              'monotone={"PAY_0": "ascending", "AGE": "descending"}']) == \
        {"monotone": {"PAY_0": "ascending", "AGE": "descending"}}


def test_a_monotone_constraint_that_flattens_a_variable_is_warned(tmp_path):
    r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--model", "boosted-scorecard",
            "--no-report", "-p", "monotone.duration_in_month=descending", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stderr.split())
    assert "warning: column 'duration_in_month' left out of the model: the monotone constraint (descending)" in text
    selection = json.loads((tmp_path / "o" / "model" / "selection.json").read_text())["variables"]
    assert next(v for v in selection if v["variable"] == "duration_in_month")["step"] == "monotone"


def test_rows_with_too_many_or_too_few_fields_are_refused_not_shifted(trained, tmp_path):
    lines = UCI.read_text(encoding="utf-8").splitlines()[:200]
    n = len(lines[0].split(","))
    cases = {"extra field in the first row": (1, lines[1] + ",7", n + 1),  # pandas would take column 1 as the index
             "short row": (4, lines[4].rsplit(",", 2)[0], n - 2)}
    for what, (row, text, fields) in cases.items():
        bad = [*lines]
        bad[row] = text
        path = tmp_path / "bad.csv"
        path.write_text("\n".join(bad) + "\n", encoding="utf-8")
        for args in (("score", trained / "model", path, "--out", tmp_path / "s.csv"),
                     ("train", path, "--target", UCI_TARGET, "--out", tmp_path / "t")):
            r = run(*args)
            text_err = " ".join(r.stderr.split())
            assert r.returncode == 2, (what, args[0], r.stderr)
            assert f"row {row}" in text_err and f"has {fields} field(s) but the header has {n}" in text_err, text_err
        assert not (tmp_path / "s.csv").exists()
    # a separator closing every line is an export habit, not a fault
    path = tmp_path / "trailing.csv"
    path.write_text("\n".join(line + "," for line in lines) + "\n", encoding="utf-8")
    r = run("score", trained / "model", path, "--out", tmp_path / "s.csv")
    assert r.returncode == 0, r.stderr
    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run("score", trained / "model", clean, "--out", tmp_path / "c.csv").returncode == 0
    a, b = pd.read_csv(tmp_path / "s.csv"), pd.read_csv(tmp_path / "c.csv")
    pd.testing.assert_series_equal(a["score"], b["score"])


def test_scoring_warns_of_a_blank_model_column_and_never_overwrites_its_input(trained, tmp_path):
    frame = pd.read_csv(UCI, nrows=300)
    frame["PAY_0"] = None
    path = tmp_path / "blank.csv"
    frame.to_csv(path, index=False)
    r = run("score", trained / "model", path, "--out", tmp_path / "s.csv")
    assert r.returncode == 0 and "column 'PAY_0' is blank on every row" in " ".join(r.stderr.split())
    assert "is missing in" not in r.stderr  # one warning for an all-blank column
    before = path.read_bytes()
    r = run("score", trained / "model", path, "--out", path)
    assert r.returncode == 2 and "would be overwritten" in r.stderr and path.read_bytes() == before


def test_scoring_warns_of_missing_values_no_training_row_had(trained, tmp_path):
    """Blank PAY_0 on some rows: scored at the Missing bin as before, but said (the service refuses them)."""
    from creditflow.workflow import score_table

    frame = pd.read_csv(UCI, nrows=300)
    full = score_table(trained / "model", frame)
    frame.loc[:40, "PAY_0"] = None
    path = tmp_path / "some_blank.csv"
    frame.to_csv(path, index=False)
    scored = score_table(trained / "model", path)
    assert scored.attrs["untrained_missing"] == {"PAY_0": 41} and not scored.attrs["all_missing"]
    assert (scored["score"].iloc[41:] == full["score"].iloc[41:]).all()
    r = run("score", trained / "model", path, "--out", tmp_path / "s.csv")
    text = " ".join(r.stderr.split())
    assert r.returncode == 0 and "column 'PAY_0' is missing in 41 row(s)" in text, r.stderr
    assert "but in no training row" in text and "Missing bin's points" in text and "422" in text
    pd.testing.assert_series_equal(pd.read_csv(tmp_path / "s.csv")["score"], scored["score"], check_names=False)
    assert "is missing in" not in run("score", trained / "model", UCI, "--out", tmp_path / "u.csv").stderr


def test_seed_and_grades_out_of_range_exit_2(tmp_path):
    for args, expected in ((("--seed", "-1"), "seed must be a whole number from 0 to 4294967295"),
                           (("-p", 'grades=[["A",700],["A",600]]'), "grade names must differ"),
                           (("-p", 'grades=[["A",1000],["C",350]]'), "above the highest score")):
        r = run("train", GERMAN, "--target", "creditability", *args, "--out", tmp_path / "x")
        assert r.returncode == 2 and expected in " ".join(r.stderr.split()), r.stderr


def test_a_time_column_of_plain_text_is_flagged(tmp_path):
    r = run("train", GERMAN, "--target", "creditability", "--time", "purpose", "--no-report", "--out", tmp_path / "x")
    assert r.returncode == 0, r.stderr
    assert "time column 'purpose' holds neither dates nor numbers" in " ".join(r.stderr.split())


def test_score_points_columns_add_up_to_the_score(trained, tmp_path):
    r = run("score", trained / "model", UCI, "--points", "--no-reasons", "--out", tmp_path / "p.csv")
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(tmp_path / "p.csv")
    cols = [c for c in out.columns if c.startswith("points_")]
    assert len(cols) >= 5
    total = out["base_points"] + out[cols].sum(axis=1)
    assert (total.clip(350, 950) == out["score"]).all()


def test_repeated_ids_and_numbers_stored_as_text_are_warned_of(tmp_path):
    frame = pd.read_csv(UCI).head(2000)
    frame = pd.concat([frame, frame.head(3)], ignore_index=True)  # rows 2001-2003 repeat ids 1-3
    frame["AGE"] = frame["AGE"].astype(str)  # as a Parquet string column would hold it
    frame["ID"] = frame["ID"].astype(float)
    frame.loc[[10, 11], "ID"] = None  # blank ids are not repeats of each other
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    r = run("train", tmp_path / "t.parquet", "--target", UCI_TARGET, "--id", "ID", "--no-report", "--out",
            tmp_path / "o")
    text = " ".join(r.stderr.split())
    assert r.returncode == 0, r.stderr
    assert "id column 'ID': 3 repeated id(s), e.g. '1.0' in rows 1 and 2001" in text
    assert "column 'AGE' is stored as text but holds only numbers" in text


def test_a_dictionary_that_explains_no_column_is_warned_of(tmp_path):
    r = run("train", GERMAN, "--target", "creditability", "--dictionary", YINLIAN_DICT, "--no-report", "--out",
            tmp_path / "o")
    assert r.returncode == 0, r.stderr
    assert "explains none of the columns" in " ".join(r.stderr.split())


def test_a_dictionary_that_differs_by_case_or_explains_few_model_variables_is_pointed_out(tmp_path):
    """Before, a dictionary naming STATUS_OF_EXISTING_CHECKING_ACCOUNT (exported upper-case) left the data's
    status_of_existing_checking_account without a meaning, and model variables missing from the dictionary
    went unmentioned; now names that differ only by case are matched (with a note), and train warns of the
    model variables left without a meaning."""
    pd.DataFrame({"variable": ["STATUS_OF_EXISTING_CHECKING_ACCOUNT", "duration_in_month"],
                  "meaning": ["checking account", "duration"]}).to_csv(tmp_path / "d.csv", index=False)
    r = run("train", GERMAN, "--target", "creditability", "--bad", "bad", "--dictionary", tmp_path / "d.csv",
            "--no-report", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stderr.split())
    assert "names 1 column(s) with another case than" in text
    assert "(STATUS_OF_EXISTING_CHECKING_ACCOUNT as status_of_existing_checking_account): matched regardless" in text
    assert re.search(r"gives no meaning for \d+ model variable\(s\): ", text)
    meanings = json.loads((tmp_path / "o" / "model" / "dictionary.json").read_text())["meanings"]
    assert meanings["status_of_existing_checking_account"] == "checking account"


def test_dates_written_as_text_among_the_features_are_warned_of(tmp_path):
    frame = pd.read_csv(GERMAN)
    frame["opened"] = pd.date_range("2023-01-01", periods=len(frame), freq="D").strftime("%Y-%m-%d")
    frame.to_csv(tmp_path / "g.csv", index=False)
    r = run("train", tmp_path / "g.csv", "--target", "creditability", "--no-report", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stderr.split())
    assert "column 'opened' holds dates as text" in text
    assert text.count("holds dates as text") == 1  # the German text columns are no dates


def test_score_writes_ids_as_written(trained, tmp_path):
    src = pd.read_csv(UCI).head(200)
    src["ID"] = [f"{i:08d}" for i in range(1, 201)]  # zero-padded ids
    src.to_csv(tmp_path / "zeros.csv", index=False)
    long = src.assign(ID=[str(6222021234567890000 + i) for i in range(200)])
    long.loc[3, "ID"] = None  # a blank made pandas read 19-digit ids as floats: all alike
    long.to_csv(tmp_path / "long.csv", index=False)
    for name, expected in (("zeros", src["ID"]), ("long", long["ID"])):
        r = run("score", trained / "model", tmp_path / f"{name}.csv", "--out", tmp_path / f"{name}_s.csv")
        assert r.returncode == 0, r.stderr
        out = pd.read_csv(tmp_path / f"{name}_s.csv", dtype={"ID": str}, encoding="utf-8-sig")
        assert out["ID"].tolist() == expected.tolist()


def test_a_column_coded_unlike_training_is_refused_unless_allowed(tmp_path):
    frame = pd.read_csv(GERMAN)
    frame.to_csv(tmp_path / "g.csv", index=False)
    r = run("train", tmp_path / "g.csv", "--target", "creditability", "--bad", "bad", "--no-report",
            "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    codes = frame.head(100).copy()
    codes["purpose"] = codes["purpose"].str.upper()  # every value unseen in training
    codes.to_csv(tmp_path / "upper.csv", index=False)
    r = run("score", tmp_path / "o" / "model", tmp_path / "upper.csv", "--out", tmp_path / "s.csv")
    assert r.returncode == 2 and "column 'purpose', row 1: every one of its 100 values is a category unseen" in r.stderr
    assert not (tmp_path / "s.csv").exists()
    r = run("score", tmp_path / "o" / "model", tmp_path / "upper.csv", "--out", tmp_path / "s.csv", "--allow-unseen")
    assert r.returncode == 0 and "unseen" in r.stderr
    codes.loc[5, "purpose"] = frame.loc[5, "purpose"]  # one value seen: a new category among known ones
    codes.to_csv(tmp_path / "some.csv", index=False)
    r = run("score", tmp_path / "o" / "model", tmp_path / "some.csv", "--out", tmp_path / "s2.csv")
    assert r.returncode == 0, r.stderr


def test_the_sheet_option_reads_another_excel_sheet(tmp_path):
    path = tmp_path / "g.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame({"说明": ["German credit"]}).to_excel(xl, sheet_name="说明", index=False)
        pd.read_csv(GERMAN).to_excel(xl, sheet_name="data", index=False)
    r = run("train", path, "--target", "creditability", "--no-report", "--out", tmp_path / "o")
    assert r.returncode == 2
    assert "read sheet '说明'; the workbook's other sheets: ['data']" in " ".join(r.stderr.split())
    r = run("train", path, "--target", "creditability", "--sheet", "data", "--no-report", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    r = run("score", tmp_path / "o" / "model", path, "--out", tmp_path / "s.csv")
    assert r.returncode == 2 and "--sheet NAME" in " ".join(r.stderr.split())
    r = run("score", tmp_path / "o" / "model", path, "--sheet", "data", "--out", tmp_path / "s.csv")
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path / "s.csv")) == 1000


def test_the_model_version_does_not_depend_on_the_blas_thread_count(tmp_path):
    """BLAS sums in a thread-dependent order: coefficients differed in the 16th digit, and so the version."""
    import os

    versions = []
    for threads in ("1", "2"):
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads}
        r = subprocess.run([*CLI, "train", str(UCI), "--target", UCI_TARGET, "--id", "ID", "--exclude", "SEX",
                            "--no-report", "--out", str(tmp_path / threads)], capture_output=True, text=True,
                           timeout=300, env=env)
        assert r.returncode == 0, r.stderr
        versions.append(json.loads((tmp_path / threads / "model" / "manifest.json").read_text())["model_version"])
    assert versions[0] == versions[1]


def test_parquet_string_ids_keep_their_type_in_the_scores(trained, tmp_path):
    src = pd.read_csv(UCI).head(100).astype({"ID": str})
    src.to_parquet(tmp_path / "in.parquet", index=False)
    r = run("score", trained / "model", tmp_path / "in.parquet", "--out", tmp_path / "s.parquet")
    assert r.returncode == 0, r.stderr
    out = pd.read_parquet(tmp_path / "s.parquet")
    assert out["ID"].tolist() == src["ID"].tolist()  # text as stored, not turned into numbers


def test_param_categorical_reads_the_codes_as_categorical_does(tmp_path):
    """--param categorical=[...] (the cluster's spelling) and --categorical gave the same bins but another input
    schema (number against text), so the service accepted different request types."""
    pd.read_csv(UCI).head(3000).to_csv(tmp_path / "u.csv", index=False)
    types = []
    for name, args in (("flag", ["--categorical", "PAY_0"]), ("param", ["--param", 'categorical=["PAY_0"]'])):
        r = run("train", tmp_path / "u.csv", "--target", UCI_TARGET, "--id", "ID", *args, "--no-report",
                "--out", tmp_path / name)
        assert r.returncode == 0, r.stderr
        fields = json.loads((tmp_path / name / "model" / "schema.json").read_text())["fields"]
        types.append({f["name"]: f["type"] for f in fields}.get("PAY_0"))
    assert types[0] == types[1] == "string"


def test_categorical_with_cluster_names_the_param_that_works_and_one_machine_takes_it_on_parquet(tmp_path):
    """`train --cluster --categorical COL` said "store the column as text in the Parquet files" though it was
    text already; the way that works, --param 'categorical=[...]', was not named. One machine takes
    --categorical on Parquet too (the docs said CSV only)."""
    frame = pd.read_csv(UCI).head(2000)
    frame["PAY_AMT2"] = frame["PAY_AMT2"].astype(str)
    frame.loc[7, "PAY_AMT2"] = "abc"  # text in a column of numbers: codes, once declared
    frame.to_parquet(tmp_path / "u.parquet", index=False)
    r = run("train", tmp_path / "u.parquet", "--target", UCI_TARGET, "--id", "ID", "--categorical", "PAY_AMT2",
            "--out", tmp_path / "c", "--cluster", "local:2")
    text = " ".join(r.stderr.split())
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "--categorical is not read with --cluster" in text and "--param 'categorical=[\"PAY_AMT2\"]'" in text
    assert "store the column as text" not in text and not (tmp_path / "c").exists()
    r = run("train", tmp_path / "u.parquet", "--target", UCI_TARGET, "--id", "ID", "--categorical", "PAY_AMT2",
            "--no-report", "--out", tmp_path / "one")
    assert r.returncode == 0, r.stderr
    fields = json.loads((tmp_path / "one" / "model" / "schema.json").read_text())["fields"]
    assert {f["name"]: f["type"] for f in fields}.get("PAY_AMT2") == "string"


def test_long_commands_show_what_they_are_doing_on_a_terminal(trained, tmp_path):
    """score, report and monitor on a 2,500,000-row table work for a minute or more: on a terminal a spinner names
    the step and its time (TTY_COMPATIBLE=1 makes rich treat the captured stderr as one); in a pipe, nothing."""
    import os

    env = {**os.environ, "TTY_COMPATIBLE": "1", "COLUMNS": "200"}
    commands = {
        "scoring": ["score", trained / "model", UCI, "--out", tmp_path / "s.csv"],
        "reporting on": ["report", trained / "model", UCI, "--out", tmp_path / "r.html"],
        "monitoring": ["monitor", trained / "model", UCI, "--out", tmp_path / "m.html"],
    }
    for step, args in commands.items():
        r = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode in (0, 3, 4), r.stderr
        assert f"{step} {UCI}" in r.stderr, (step, r.stderr)
    plain = run("score", trained / "model", UCI, "--out", tmp_path / "s2.csv")  # not a terminal
    assert plain.returncode == 0 and "scoring" not in plain.stderr


def test_gbdt_training_names_its_candidates_and_folds_not_a_binning_bar(tmp_path):
    """train --model gbdt reports candidates and folds to the progress display: it used to show them as a
    'binning' bar over the table's columns (candidate 1/4 ━━ 1/20), which never filled and named the wrong step."""
    import os

    env = {**os.environ, "TTY_COMPATIBLE": "1", "COLUMNS": "200"}
    r = subprocess.run([*CLI, "train", str(GERMAN), "--target", "creditability", "--out", str(tmp_path / "g"),
                        "--no-report", "--model", "gbdt"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "training gbdt" in r.stderr and "candidate 1/" in r.stderr and "fold 2/" in r.stderr, r.stderr
    assert "binning" not in r.stderr


def test_an_output_file_that_is_a_directory_is_refused_before_the_work_and_leaves_nothing(trained, tmp_path):
    """monitor --json DIR and report --xlsx DIR used to fail only when writing, after the whole run (minutes on a
    big table), with the HTML report already written beside the error; score --out DIR after scoring every row."""
    folder, book = tmp_path / "a_folder", tmp_path / "a_book.xlsx"
    folder.mkdir()
    book.mkdir()
    cases = [
        (["monitor", trained / "model", UCI, "--out", tmp_path / "m.html", "--json", folder], "--json", folder, "m.html"),
        (["report", trained / "model", UCI, "--out", tmp_path / "r.html", "--xlsx", book], "--xlsx", book, "r.html"),
        (["score", trained / "model", UCI, "--out", folder], "--out", folder, None),
    ]
    for args, option, path, html in cases:
        r = run(*args)
        assert r.returncode == 2, r.stderr
        assert html is None or not (tmp_path / html).exists(), f"{html} left behind by a failed {args[0]}"
        assert f"{option} is an existing directory" in r.stderr and path.name in r.stderr, r.stderr
    assert list(folder.iterdir()) == [] and list(book.iterdir()) == []


def test_score_refuses_an_output_format_before_reading_the_table(trained, tmp_path):
    """score --out scores.txt was refused only when writing, after every row was scored (68 s for 2,500,000 rows):
    now first, so the table is not even read (here it does not exist, and the output is what is named)."""
    r = run("score", trained / "model", tmp_path / "not_there.csv", "--out", tmp_path / "scores.txt")
    assert r.returncode == 2
    assert "scores.txt" in r.stderr and "unsupported output format" in r.stderr, r.stderr
