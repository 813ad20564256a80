"""Reading tables and field dictionaries: encodings, formats, targets, and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditflow.data import DataError, read_dictionary, read_frame, read_table
from tests.conftest import GERMAN, SHARED_DATA, UCI, UCI_TARGET, YINLIAN, YINLIAN_DICT


def test_field_dictionary_from_xlsx_with_title_row_and_from_csv():
    xlsx = read_dictionary(YINLIAN_DICT)
    csv = read_dictionary(SHARED_DATA / "yinlian" / "field_dictionary.csv")
    assert xlsx.meaning("x_001") == "性别"
    assert xlsx.meanings == csv.meanings
    assert xlsx.categories["x_002"] == "身份信息及财产状况"  # merged category cells carried down
    assert xlsx.label("x_002") == "x_002 (年龄)"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_encodings_read_the_same(tmp_path, encoding):
    frame = pd.read_csv(YINLIAN).head(200)
    frame.columns = [*frame.columns[:-1], "备注"]
    path = tmp_path / f"{encoding}.csv"
    frame.to_csv(path, index=False, encoding=encoding)
    back = read_frame(path)
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_parquet_and_excel(tmp_path):
    frame = pd.read_csv(GERMAN).head(100)
    frame.to_parquet(tmp_path / "g.parquet")
    frame.to_excel(tmp_path / "g.xlsx", index=False)
    a = read_table(tmp_path / "g.parquet", "creditability")
    b = read_table(tmp_path / "g.xlsx", "creditability")
    assert a.X.shape == b.X.shape == (100, 20)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.y.mean() == pytest.approx((frame["creditability"] == "bad").mean())


def test_target_values_and_bad_value():
    g = read_table(GERMAN, "creditability")  # good/bad recognised
    assert g.bad_rate == pytest.approx(0.3)
    g2 = read_table(GERMAN, "creditability", bad="good")
    assert g2.bad_rate == pytest.approx(0.7)
    with pytest.raises(DataError, match="not found"):
        read_table(GERMAN, "creditability", bad="ugly")
    u = read_table(UCI, UCI_TARGET, bad=1, id="ID")
    assert u.bad_rate == pytest.approx(0.2212)
    assert u.ids.iloc[0] == 1 and "ID" not in u.X.columns


def test_missing_target_values_are_refused(tmp_path):
    frame = pd.read_csv(UCI).head(100)
    frame.loc[5, UCI_TARGET] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError) as err:
        read_table(tmp_path / "t.csv", UCI_TARGET)
    assert err.value.row == 6 and err.value.column == UCI_TARGET


def test_split_is_stratified_and_reproducible():
    u = read_table(UCI, UCI_TARGET, id="ID")
    a = u.split(seed=42)
    b = read_table(UCI, UCI_TARGET, id="ID").split(seed=42)
    assert len(a["train"]) == 21000 and len(a["test"]) == 9000
    pd.testing.assert_series_equal(a["test"].ids, b["test"].ids)
    assert abs(a["train"].bad_rate - a["test"].bad_rate) < 0.001
