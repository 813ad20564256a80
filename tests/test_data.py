"""Reading tables and field dictionaries: encodings, formats, targets, and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditflow.data import DataError, read_dictionary, read_frame, read_table
from creditflow.data.io import encode_target
from creditflow.models.scorecard import Scorecard
from tests.conftest import GERMAN, SHARED_DATA, UCI, UCI_TARGET, YINLIAN, YINLIAN_DICT


def test_field_dictionary_from_xlsx_with_title_row_and_from_csv():
    xlsx = read_dictionary(YINLIAN_DICT)
    csv = read_dictionary(SHARED_DATA / "yinlian" / "field_dictionary.csv")
    assert xlsx.meaning("x_001") == "性别"
    assert xlsx.meanings == csv.meanings
    assert xlsx.categories["x_002"] == "身份信息及财产状况"  # merged category cells carried down
    assert xlsx.label("x_002") == "x_002 (年龄)"


def test_a_merged_logic_cell_explains_every_variable_of_its_block():
    """字段解释.xlsx merges one business-logic cell over the block of variables it explains (D38:D44: "各类银行划分见
    参数表" for the bank-card counts); it was read for the block's first variable only."""
    from openpyxl import load_workbook

    ws = load_workbook(YINLIAN_DICT)["字段解释"]
    block = next(r for r in ws.merged_cells.ranges if str(r) == "D38:D44")
    names = [ws.cell(row, 2).value for row in range(block.min_row, block.max_row + 1)]
    xlsx = read_dictionary(YINLIAN_DICT)
    assert len(names) == 7 and all(xlsx.logic.get(v, "").startswith("各类银行划分见参数表") for v in names), names
    assert xlsx.logic.get("x_001") == "0-男，1-女"  # an unmerged cell is its own row's only
    assert xlsx.meanings == read_dictionary(SHARED_DATA / "yinlian" / "field_dictionary.csv").meanings


def test_a_variable_merged_over_its_code_rows_joins_their_logic(tmp_path):
    """A common layout: the variable and meaning cells merged over one row per code (1=男, 2=女, 9=未知). Filling
    every merged cell made each code row a second explanation of SEX (refused as two logic texts); it is one
    variable whose logic is the codes joined. A header merged over two rows is not read as a variable."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["变量名", "含义", "取值说明"])
    ws.append([None, None, None])
    ws.merge_cells("A1:A2")
    ws.merge_cells("B1:B2")
    for row in (["SEX", "性别", "1=男"], [None, None, "2=女"], [None, None, "9=未知"], ["AGE", "年龄", "周岁"]):
        ws.append(row)
    ws.merge_cells("A3:A5")
    ws.merge_cells("B3:B5")
    wb.save(tmp_path / "d.xlsx")
    d = read_dictionary(tmp_path / "d.xlsx")
    assert d.meanings == {"SEX": "性别", "AGE": "年龄"}
    assert d.logic == {"SEX": "1=男; 2=女; 9=未知", "AGE": "周岁"}


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
    assert u.ids.iloc[0] == 1 and "ID" not in u.X.columns  # whole-number ids stay numbers


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


def test_a_one_two_target_needs_the_bad_value(tmp_path):
    """german_credit's original coding is 1 = good, 2 = bad: neither value may be guessed as bad."""
    frame = pd.read_csv(GERMAN)
    frame["creditability"] = frame["creditability"].map({"good": 1, "bad": 2})
    frame.to_csv(tmp_path / "g12.csv", index=False)
    with pytest.raises(DataError, match=r"cannot tell which of \['1', '2'\] is bad") as err:
        read_table(tmp_path / "g12.csv", "creditability")
    assert "--bad" in err.value.message
    assert read_table(tmp_path / "g12.csv", "creditability", bad=2).bad_rate == pytest.approx(0.3)



def test_the_training_bad_value_decides_before_a_recognised_pair():
    # README: a `--bad` given to `train` is kept in the bundle and `report`, `compare`, `monitor` use it for data
    # coded the same way; a model trained with --bad 0 had its 0/1 test data read as 1 = bad (report: AUC 0.23)
    y = pd.Series([0, 1, 1, 0, 1], name="paid")
    assert encode_target(y, default_bad=0).tolist() == [1, 0, 0, 1, 0]
    assert encode_target(y).tolist() == [0, 1, 1, 0, 1]
    assert encode_target(y, default_bad=2).tolist() == [0, 1, 1, 0, 1]  # not this coding: the pair decides
    assert encode_target(pd.Series(["good", "bad"]), default_bad="good").tolist() == [1, 0]


def test_text_in_a_numeric_column_is_refused_not_binned_as_categories(tmp_path):
    frame = pd.read_csv(UCI).head(2000)
    frame["LIMIT_BAL"] = frame["LIMIT_BAL"].astype(object)
    frame.loc[5, "LIMIT_BAL"] = "abc"
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="non-numeric value.*'abc'") as err:
        read_table(tmp_path / "t.csv", UCI_TARGET)
    assert (err.value.column, err.value.row, err.value.file) == ("LIMIT_BAL", 6, str(tmp_path / "t.csv"))
    # declared categorical, the same column is read as text codes
    ds = read_table(tmp_path / "t.csv", UCI_TARGET, id="ID", categorical=["LIMIT_BAL"])
    assert ds.X["LIMIT_BAL"].iloc[5] == "abc" and isinstance(ds.X["LIMIT_BAL"].dtype, pd.CategoricalDtype)
    # a truly categorical text column is untouched
    g = read_table(GERMAN, "creditability")
    assert g.X["purpose"].iloc[0] == "radio/television"


def test_header_naming_a_column_twice_is_refused(tmp_path):
    text = pd.read_csv(UCI).head(50).to_csv(index=False).replace("PAY_AMT6", "PAY_AMT5", 1)
    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(DataError, match="more than once") as err:
        read_frame(tmp_path / "d.csv")
    assert err.value.column == "PAY_AMT5"


def test_time_column_with_unreadable_or_missing_dates_is_refused(tmp_path):
    frame = pd.read_csv(UCI).head(3000)
    frame["apply_date"] = pd.date_range("2024-01-01", periods=len(frame), freq="h").strftime("%Y-%m-%d")
    frame.loc[7, "apply_date"] = "not a date"
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="not dates.*'not a date'") as err:
        read_table(tmp_path / "t.csv", UCI_TARGET, time="apply_date")
    assert (err.value.column, err.value.row) == ("apply_date", 8)
    frame.loc[7, "apply_date"] = None
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="missing time") as err:
        read_table(tmp_path / "t.csv", UCI_TARGET, time="apply_date")
    assert err.value.row == 8


def test_roles_must_name_distinct_existing_columns():
    with pytest.raises(DataError, match="as the target and the id"):
        read_table(UCI, UCI_TARGET, id=UCI_TARGET)
    with pytest.raises(DataError, match=r"--exclude \(exclude=\) names 1 column\(s\) the table does not have: \[.SEXX.\]") as err:
        read_table(UCI, UCI_TARGET, exclude=["SEXX"])
    assert err.value.column == "SEXX"


def test_too_few_rows_to_split_is_a_clear_error(tmp_path):
    (tmp_path / "tiny.csv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,0\n")
    with pytest.raises(DataError, match="too few rows to split"):
        read_table(tmp_path / "tiny.csv", "y").split()


def test_the_estimators_refuse_text_in_a_numeric_column_too():
    """A DataFrame handed straight to fit gets the same check as a file read with read_table."""
    import creditflow as cf

    u = read_table(UCI, UCI_TARGET, id="ID")
    X = u.X.head(3000).copy()
    X["AGE"] = X["AGE"].astype(object)
    X.loc[10, "AGE"] = "unknown"
    with pytest.raises(DataError, match="otherwise numeric") as err:
        cf.Scorecard().fit(X, u.y[:3000])
    assert (err.value.column, err.value.row) == ("AGE", 11)
    card = cf.Scorecard(categorical=["AGE"]).fit(X, u.y[:3000])  # declared: codes, not a typo
    assert card.binning_.bins_["AGE"].kind == "categorical"


def test_code_columns_are_read_as_written_at_training_and_scoring(tmp_path):
    """Codes '01'..'05' stay codes (not 1..5) when declared categorical, and the model's text inputs
    are read as text when scoring, so a batch without the one non-numeric code is not all Unseen."""
    from creditflow.workflow import score_table, train

    frame = pd.read_csv(UCI).head(6000)
    frame["BRANCH"] = [f"{1 + i % 5:02d}" for i in range(len(frame))]
    frame.loc[7, "BRANCH"] = "HQ"
    frame["BRANCH"] = frame["BRANCH"].where(frame[UCI_TARGET] == 0, "01")  # make it informative
    frame.to_csv(tmp_path / "train.csv", index=False)
    ds = read_table(tmp_path / "train.csv", UCI_TARGET, id="ID", categorical=["BRANCH"])
    assert set(ds.X["BRANCH"].astype(str)) == {"01", "02", "03", "04", "05", "HQ"}
    result = train(ds, tmp_path / "o")
    assert "BRANCH" in result.model.features_
    batch = frame.drop(index=7)
    batch.to_csv(tmp_path / "batch.csv", index=False)
    assert pd.read_csv(tmp_path / "batch.csv")["BRANCH"].dtype != object  # pandas alone would read 1..5
    scored = score_table(tmp_path / "o" / "model", tmp_path / "batch.csv")
    assert scored.attrs["unseen"].get("BRANCH", 0) == 0
    pd.testing.assert_series_equal(scored["score"], score_table(tmp_path / "o" / "model", batch)["score"],
                                   check_index=False)  # a frame's scores keep its index


CSV_READ_AS_BEFORE = {
    "trailing separator on every row": ("a,b,c,\n1,2,3,\n4,5,6,\n", {"a": [1, 4], "c": [3, 6]}),
    "trailing separator on the header only": ("a,b,c,\n1,2,3\n4,5,6\n", {"a": [1, 4], "c": [3, 6]}),
    "two trailing separators": ("a,b,c\n1,2,3,,\n4,5,6, \n", {"a": [1, 4], "c": [3, 6]}),
    "line separator inside a value": ("a,b,c\n1,x\u2028y,3\n4,z,6\n", {"a": [1, 4], "b": ["x\u2028y", "z"]}),
    "long quoted note": ('a,b,c\n1,"' + "n" * 140_000 + '",3\n4,z,6\n', {"a": [1, 4], "c": [3, 6]}),
    "missing values in the last column": ("a,b,c\n1,2,\n4,5,6\n", {"a": [1, 4], "b": [2, 5]}),
}


@pytest.mark.parametrize("case", sorted(CSV_READ_AS_BEFORE))
def test_well_formed_csv_variants_are_read(tmp_path, case, recwarn):
    text, expected = CSV_READ_AS_BEFORE[case]
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    frame = read_frame(path)
    for col, values in expected.items():
        assert frame[col].tolist() == values
    assert not [w for w in recwarn if issubclass(w.category, pd.errors.ParserWarning)]


@pytest.mark.parametrize("text, row, fields", [
    ("a,b,c\n1,2,3,9\n4,5,6\n", 1, 4),  # pandas alone would make column a the index and shift b, c
    ("a,b,c\n1,2,3\n4,5,6,9\n", 2, 4),
    ("a,b,c\n1,2\n4,5,6\n", 1, 2),  # pandas alone would fill c with a missing value
    ('a,b,c\n1,"x,y",3\n4,5\n', 2, 2),  # quoted separators counted as the CSV reads them
])
def test_rows_of_the_wrong_width_are_refused_with_the_row(tmp_path, text, row, fields):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_frame(path)
    assert err.value.row == row and f"has {fields} field(s) but the header has 3" in err.value.message


def test_a_file_it_cannot_split_into_lines_is_a_data_error(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b'a,b,c\r1,"x",3\r4,5,6\r')
    with pytest.raises(DataError, match="cannot parse"):
        read_frame(path)


def test_day_first_dates_are_read_in_one_format_and_ambiguous_ones_refused(tmp_path):
    from creditflow.data.split import period_of

    frame = pd.read_csv(UCI).head(600)
    days = pd.date_range("2024-01-01", "2024-02-29", freq="D")
    frame["apply_date"] = np.resize(days.strftime("%d/%m/%Y"), len(frame))  # day first, days 1-31
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = read_table(tmp_path / "t.csv", UCI_TARGET, id="ID", time="apply_date")
    # read value by value, days up to 12 became months: 12 periods instead of 2
    assert sorted(period_of(data.time).unique()) == ["2024-01", "2024-02"]
    frame["apply_date"] = np.resize(days[days.day <= 12].strftime("%d/%m/%Y"), len(frame))
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="day/month or month/day") as err:
        read_table(tmp_path / "t.csv", UCI_TARGET, time="apply_date")
    assert err.value.column == "apply_date" and err.value.file == str(tmp_path / "t.csv")


def test_a_variable_explained_twice_differently_is_refused(tmp_path):
    path = tmp_path / "dict.csv"
    path.write_text("variable,meaning\nx_001,age\nx_002,income\nx_001,limit\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"'x_001' is explained twice, differently \(rows 1 and 3\)") as err:
        read_dictionary(path)
    assert err.value.row == 3
    path.write_text("variable,meaning\nx_001,age\nx_001,age\n", encoding="utf-8")  # a repeat that agrees is fine
    assert read_dictionary(path).meanings == {"x_001": "age"}


def test_a_title_row_above_the_header_gets_a_hint(tmp_path):
    frame = pd.read_csv(GERMAN).head(50)
    path = tmp_path / "t.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame([["German credit export 2024"]]).to_excel(xl, index=False, header=False)
        frame.to_excel(xl, index=False, startrow=1)
    with pytest.raises(DataError, match="target column not found") as err:
        read_table(path, "creditability")
    assert "looks like a title" in err.value.hint


@pytest.mark.parametrize("values", [
    ["2024-06-01", "2024-07-01"], ["2024/02/01", "2024/03/01"], ["20240201", "20240301"], ["2024-01-05"],
    ["2024-01-02T00:00:00Z", "2024-02-01T10:00:00Z"], ["2024-01", "2024-02"], ["Jan 2024", "Feb 2024"],
])
def test_year_first_and_month_only_dates_are_not_ambiguous(values):
    from creditflow.data.split import parse_dates

    parsed = parse_dates(pd.Series(values))
    assert parsed.notna().all() and parsed.dt.year.eq(2024).all()
    assert parsed.dt.strftime("%m").tolist() == [str(v)[5:7] if str(v)[4] in "-/" else
                                                 (str(v)[4:6] if str(v).isdigit() else
                                                  {"Jan": "01", "Feb": "02"}[str(v)[:3]]) for v in values]


def test_a_typo_in_a_date_column_keeps_its_own_period():
    from creditflow.data.split import period_of

    days = pd.date_range("2024-01-01", "2024-02-29", freq="D").strftime("%d/%m/%Y").tolist() * 5
    periods = period_of(pd.Series([*days, "3l/01/2024"]))  # one typo in 301 rows: still a date column
    assert periods.iloc[-1] == "3l/01/2024"
    assert periods.iloc[:-1].value_counts().to_dict() == {"2024-01": 155, "2024-02": 145}


def test_outputs_never_replace_a_directory_they_did_not_write(tmp_path):
    from creditflow.bundle import save_bundle
    from creditflow.data.output import atomic_path, write_frame

    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep")
    for target in (folder, tmp_path / ".", tmp_path / ".."):
        with pytest.raises(DataError), atomic_path(target) as tmp:
            tmp.write_text("x")
    (folder / "scores.csv").mkdir()
    with pytest.raises(DataError, match="existing directory"):
        write_frame(pd.DataFrame({"a": [1]}), folder / "scores.csv")
    data = read_table(GERMAN, "creditability")
    card = Scorecard().fit(data.train)
    with pytest.raises(DataError, match="holds other files"):
        save_bundle(card, folder)
    assert (folder / "notes.txt").read_text() == "keep"
    (folder / "manifest.json").write_text('{"name": "my web app"}')  # a manifest, but not a bundle's
    with pytest.raises(DataError, match="holds other files"):
        save_bundle(card, folder)
    assert (folder / "notes.txt").read_text() == "keep"
    save_bundle(card, tmp_path / "bundle")
    save_bundle(card, tmp_path / "bundle", overwrite=True)  # an older bundle is replaced when asked
    (tmp_path / "empty").mkdir()
    save_bundle(card, tmp_path / "empty")  # and so is an empty folder
    assert (tmp_path / "empty" / "manifest.json").is_file()


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), OSError(5, "Input/output error")])
def test_a_directory_swap_stopped_between_its_renames_keeps_the_previous_one(tmp_path, monkeypatch, stop):
    import os
    from pathlib import Path

    from creditflow.data import output

    target = tmp_path / "model"
    target.mkdir()
    (target / "manifest.json").write_text("the champion")
    real = os.replace

    def replace(src, dst):  # the previous folder is moved aside; then the new one's rename is stopped
        if Path(src).name == "model" and Path(dst) == target:
            raise stop
        return real(src, dst)

    monkeypatch.setattr(output.os, "replace", replace)
    with pytest.raises(type(stop)), output.atomic_path(target, replaces=lambda p: True) as tmp:
        tmp.mkdir()
        (tmp / "manifest.json").write_text("the challenger")
    assert (target / "manifest.json").read_text() == "the champion"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left behind


def test_latin1_text_is_not_read_as_gbk_silently(tmp_path):
    frame = pd.read_csv(GERMAN).head(300)
    frame["purpose"] = frame["purpose"].replace({"radio/television": "Radio/Fernsehgerät",
                                                 "car (new)": "Neuwagen für Familie"})
    frame.to_csv(tmp_path / "latin1.csv", index=False, encoding="latin-1")
    with pytest.raises(DataError, match="latin-1") as err:
        read_frame(tmp_path / "latin1.csv")
    assert "Fernsehger" in str(err.value) and err.value.file == str(tmp_path / "latin1.csv")
    back = read_frame(tmp_path / "latin1.csv", encoding="latin-1")
    assert set(back["purpose"]) == set(frame["purpose"])
    # Chinese text with a few rare characters (names) is still read as GBK
    names = pd.DataFrame({"name": ["张三", "李四", "王喆", "李彧", "张珺", "陈昇", "刘镕", "赵六", "孙七"], "y": [0, 1] * 4 + [0]})
    names.to_csv(tmp_path / "gbk.csv", index=False, encoding="gbk")
    pd.testing.assert_frame_equal(read_frame(tmp_path / "gbk.csv"), names)
    # traditional characters (mostly outside GB2312), and GB2312's own middle dot and dash
    for text in ("編號,職業,學歷,婚姻狀況,逾期\n1,會計師,碩士,已婚,0\n2,醫師,學士,離婚,1\n3,業務員,專科,單身,0\n",
                 "id,name,note,bad\n1,Aili·Maimaiti,a—b,0\n2,Bob,x,1\n"):
        (tmp_path / "other.csv").write_bytes(text.encode("gbk"))
        assert read_frame(tmp_path / "other.csv").shape[0] == text.count("\n") - 1


def test_big5_text_is_not_read_as_gbk_silently(tmp_path):
    # before, a Big5 file (traditional Chinese, as Taiwan data comes) decoded without error as GB18030 into
    # kana and private-use characters: every filter on its text silently matched nothing
    text = ("客戶號,交易日期,交易金額,類型\n1,2024-01-05,120,消費\n1,2024-01-20,80,還款\n2,2024-02-01,55,消費\n"
            "2,2024-02-11,300,信用卡繳費\n3,2024-02-12,42,轉帳\n")
    (tmp_path / "big5.csv").write_bytes(text.encode("big5"))
    with pytest.raises(DataError, match="read as Big5 .traditional Chinese. it gives '客戶號,交易日期") as err:
        read_frame(tmp_path / "big5.csv")
    assert "--encoding big5" in str(err.value) and err.value.file == str(tmp_path / "big5.csv")
    back = read_frame(tmp_path / "big5.csv", encoding="big5")
    assert list(back.columns) == ["客戶號", "交易日期", "交易金額", "類型"] and back["類型"].tolist()[:2] == ["消費", "還款"]
    # Japanese names (kana) in a GBK file are no Big5 (review)
    (tmp_path / "kana.csv").write_bytes("编号,姓名,逾期\n1,さくら,0\n2,たなか,1\n".encode("gbk"))
    assert read_frame(tmp_path / "kana.csv")["姓名"].tolist() == ["さくら", "たなか"]
    # the same traditional text written in GBK is read as GBK (it is not Big5 that happens to decode)
    (tmp_path / "gbk.csv").write_bytes(text.encode("gbk"))
    assert read_frame(tmp_path / "gbk.csv")["類型"].tolist()[:2] == ["消費", "還款"]


def test_big5_refusal_shows_the_big5_reading_of_the_misread_place(tmp_path):
    # docs audit: the Big5 reading quoted the first 60 characters of the line, so on a long row (german_credit)
    # it stopped before the traditional text and the user could not see that Big5 reads it right
    frame = pd.read_csv(GERMAN).head(200)
    frame["purpose"] = frame["purpose"].where(frame.index % 3 != 0, "汽車貸款")
    frame.to_csv(tmp_path / "big5.csv", index=False, encoding="big5")
    with pytest.raises(DataError, match="read as Big5 .traditional Chinese. it gives '[^']*汽車貸款"):
        read_frame(tmp_path / "big5.csv")


@pytest.mark.parametrize("written, example", [
    (lambda v: f"{v:,.0f}", "'20,000'"),  # thousands separators
    (lambda v: f"{v / 1e4:.0f}%", "%"),  # a percent sign
    (lambda v: f"{v / 1e3:.1f}".replace(".", ","), ","),  # a decimal comma
])
def test_numbers_written_for_people_are_refused_not_binned_as_categories(tmp_path, written, example):
    frame = pd.read_csv(UCI).head(1000)
    frame["LIMIT_BAL"] = frame["LIMIT_BAL"].map(written)
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=f"thousands separators, a percent sign or a decimal comma, e.g. .*{example}") \
            as err:
        read_table(tmp_path / "t.csv", UCI_TARGET, id="ID")
    assert err.value.column == "LIMIT_BAL" and err.value.row == 1


def test_a_placeholder_for_missing_in_many_rows_is_refused_and_a_blank_cell_is_missing(tmp_path):
    frame = pd.read_csv(UCI).head(1000)
    age = frame["AGE"].astype(object)
    for token in ("-", "\\N"):
        frame["AGE"] = age.where(frame.index % 7 != 3, token)  # 14 % of the rows: beyond the 5 % of a typo
        frame.to_csv(tmp_path / "t.csv", index=False)
        with pytest.raises(DataError, match="otherwise numeric") as err:
            read_table(tmp_path / "t.csv", UCI_TARGET, id="ID")
        assert (err.value.column, err.value.row) == ("AGE", 4)
    # cells of spaces are blank: missing values of a numeric column, as in scoring
    frame["AGE"] = age.where(frame.index % 7 != 3, "  ")
    frame.to_csv(tmp_path / "t.csv", index=False)
    ds = read_table(tmp_path / "t.csv", UCI_TARGET, id="ID")
    assert pd.api.types.is_float_dtype(ds.X["AGE"].dtype) and ds.X["AGE"].isna().sum() == (frame.index % 7 == 3).sum()
    # a code column of a few numbers and a text is still categories
    frame["AGE"] = np.resize(np.array(["1", "2", "3", "X"], dtype=object), len(frame))
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert read_table(tmp_path / "t.csv", UCI_TARGET, id="ID").X["AGE"].iloc[3] == "X"


def test_row_numbers_and_unnamed_columns_are_not_features(tmp_path):
    frame = pd.read_csv(UCI).head(1000).sort_values(UCI_TARGET)  # sorted by outcome: a row number would leak it
    frame.to_csv(tmp_path / "index.csv")  # to_csv writes the index under a blank header
    with pytest.raises(DataError, match="no name in the header") as err:
        read_table(tmp_path / "index.csv", UCI_TARGET, id="ID")
    assert err.value.column == "Unnamed: 0"
    with pytest.raises(DataError, match=r"row numbers or ids \(1 to 1000") as err:
        read_table(frame, UCI_TARGET)  # ID not given as the id
    assert err.value.column == "ID" and "--id ID" in str(err.value)
    assert "id= in Python" in str(err.value)  # docs audit: read_table in Python named only the CLI option
    assert "ID" not in read_table(frame, UCI_TARGET, id="ID").X.columns
    german = read_table(GERMAN, "creditability")  # amounts and durations are features, not ids
    assert {"credit_amount", "duration_in_month"} <= set(german.X.columns)


def test_parquet_index_nested_columns_and_duplicate_names(tmp_path):
    frame = pd.read_csv(UCI).head(300)
    frame.set_index("ID").to_parquet(tmp_path / "indexed.parquet")  # pandas stores ID as the index
    ds = read_table(tmp_path / "indexed.parquet", UCI_TARGET, id="ID")
    assert ds.ids.tolist() == frame["ID"].tolist()
    frame.assign(tags=[[1, 2]] * len(frame)).to_parquet(tmp_path / "nested.parquet", index=False)
    with pytest.raises(DataError, match="nested values") as err:
        read_table(tmp_path / "nested.parquet", UCI_TARGET, id="ID")
    assert err.value.column == "tags" and err.value.file == str(tmp_path / "nested.parquet")
    twice = pd.concat([frame, frame[["AGE"]]], axis=1)
    with pytest.raises(DataError, match="duplicate column names: \\['AGE'\\]"):
        read_table(twice, UCI_TARGET, id="ID")


def test_a_stray_header_line_in_the_target_is_named_by_its_row(tmp_path):
    frame = pd.read_csv(UCI).head(200)
    text = frame.to_csv(index=False)
    lines = text.splitlines()
    (tmp_path / "t.csv").write_text("\n".join([*lines[:101], lines[0], *lines[101:]]) + "\n")  # two files joined
    with pytest.raises(DataError, match="the rarest, 'default.payment.next.month'") as err:
        read_table(tmp_path / "t.csv", UCI_TARGET, id="ID")
    assert err.value.row == 101


def test_ids_are_read_as_written(tmp_path):
    frame = pd.read_csv(UCI).head(300)
    frame["ID"] = [f"{i:08d}" for i in range(1, 301)]
    frame.to_csv(tmp_path / "zeros.csv", index=False)
    assert read_table(tmp_path / "zeros.csv", UCI_TARGET, id="ID").ids.iloc[0] == "00000001"
    frame["ID"] = [str(6222021234567890000 + i) for i in range(300)]
    frame.loc[7, "ID"] = None
    frame.to_csv(tmp_path / "long.csv", index=False)
    ids = read_table(tmp_path / "long.csv", UCI_TARGET, id="ID").ids
    assert ids.iloc[0] == "6222021234567890000" and ids.nunique() == 299


def _workbook(path, sheets: dict[str, pd.DataFrame]):
    """Write `sheets` (name -> table) to an .xlsx and return it opened in openpyxl, to add merges or formulas."""
    import openpyxl

    with pd.ExcelWriter(path) as xl:
        for name, frame in sheets.items():
            frame.to_excel(xl, sheet_name=name, index=False)
    return openpyxl.load_workbook(path)


def test_merged_cells_in_an_excel_sheet_are_refused(tmp_path):
    frame = pd.read_csv(GERMAN).head(60)
    path = tmp_path / "m.xlsx"
    wb = _workbook(path, {"notes": pd.DataFrame({"note": ["export"]}), "data": frame})
    letter = chr(ord("A") + frame.columns.get_loc("purpose"))
    wb["data"].merge_cells(f"{letter}5:{letter}9")  # pandas would keep row 4's value, rows 5-8 read as missing
    wb["data"].merge_cells("A1:B1")  # header cells alone are not data
    wb.save(path)
    with pytest.raises(DataError, match=rf"sheet 'data': merged cells {letter}5:{letter}9") as err:
        read_frame(path, sheet="data")
    assert (err.value.file, err.value.column, err.value.row) == (str(path), "purpose", 4)
    assert "unmerge" in err.value.hint


def test_formulas_without_a_calculated_value_are_refused(tmp_path):
    import re
    import zipfile

    frame = pd.read_csv(GERMAN).head(60)
    frame["double_amount"] = frame["credit_amount"] * 2
    path = tmp_path / "f.xlsx"
    wb = _workbook(path, {"Sheet1": frame})
    amount = chr(ord("A") + frame.columns.get_loc("credit_amount"))
    col = len(frame.columns)
    for r in (7, 9):  # written by openpyxl: a formula, never calculated, has no value
        wb.active.cell(r, col, f"={amount}{r}*2")
    wb.save(path)
    with pytest.raises(DataError, match=rf"sheet 'Sheet1', cell {chr(ord('A') + col - 1)}7: formula without a "
                                        "calculated value") as err:
        read_table(path, "creditability")
    assert (err.value.column, err.value.row) == ("double_amount", 6)
    assert "open and save the file in Excel or LibreOffice" in err.value.hint
    # the same formulas with cached values, as Excel saves them, are read as those values
    calculated = tmp_path / "calculated.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(calculated, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = re.sub(rb"(</f>)<v\s*/>|(</f>)<v></v>", rb"\1\2<v>1</v>", data)
            dst.writestr(item, data)
    ds = read_table(calculated, "creditability")
    assert ds.X["double_amount"].tolist()[4:9] == [frame["double_amount"][4], 1, frame["double_amount"][6], 1,
                                                   frame["double_amount"][8]]


def test_the_excel_sheet_is_chosen_and_errors_name_the_sheet_read(tmp_path):
    frame = pd.read_csv(GERMAN).head(60)
    empty = tmp_path / "e.xlsx"
    _workbook(empty, {"说明": pd.DataFrame(), "blank": pd.DataFrame(), "data": frame})
    with pytest.raises(DataError, match="no data rows") as err:
        read_table(empty, "creditability")
    assert "read sheet '说明'; the workbook's other sheets: ['blank', 'data'], of which only 'data' holds data" \
        in err.value.hint and "--sheet" in err.value.hint
    notes = tmp_path / "n.xlsx"
    _workbook(notes, {"说明": pd.DataFrame({"说明": ["数据来源: 信用卡中心"]}), "data": frame})
    with pytest.raises(DataError, match="target column not found") as err:
        read_table(notes, "creditability")
    assert "read sheet '说明'; the workbook's other sheets: ['data']" in err.value.hint
    for sheet in ("data", 1):
        assert read_table(notes, "creditability", sheet=sheet).X.shape == (60, 20)
    with pytest.raises(DataError, match=r"no sheet 'Data'; its sheets are \['说明', 'data'\]"):
        read_frame(notes, sheet="Data")


def test_a_field_dictionary_is_read_from_the_first_sheet_that_has_one(tmp_path):
    path = tmp_path / "d.xlsx"
    _workbook(path, {"说明": pd.DataFrame({"说明": ["本文件为字段解释"]}),
                     "字段解释": pd.DataFrame({"变量名": ["x_001"], "变量解释": ["性别"]})})
    assert read_dictionary(path).meanings == {"x_001": "性别"}
    _workbook(path, {"说明": pd.DataFrame({"说明": ["本文件为字段解释"]}), "more": pd.DataFrame({"a": [1]})})
    with pytest.raises(DataError, match=r"first 20 rows of any sheet \(searched \['说明', 'more'\]\)"):
        read_dictionary(path)


def test_cells_of_spaces_leave_columns_read_as_written_as_text(tmp_path):
    frame = pd.DataFrame({"app_id": [f"{i:08d}" for i in range(1, 401)],
                          "branch": [f"{1 + i % 12:02d}" for i in range(400)], "x": np.arange(400) % 7})
    frame.loc[5, ["app_id", "branch"]] = "  "
    frame.to_csv(tmp_path / "ws.csv", index=False)
    back = read_frame(tmp_path / "ws.csv", text=["branch"], ids=["app_id"])
    assert back["app_id"].iloc[0] == "00000001" and back["branch"].iloc[0] == "01"
    assert back["app_id"].isna().sum() == back["branch"].isna().sum() == 1


def test_parquet_ids_keep_their_type_and_an_index_kept_as_a_column_reads(tmp_path):
    frame = pd.DataFrame({"app_id": [str(1000000 + i) for i in range(50)], "x": np.arange(50.0)})
    frame.set_index("app_id", drop=False).to_parquet(tmp_path / "dup.parquet")
    back = read_frame(tmp_path / "dup.parquet", ids=["app_id"])
    assert list(back.columns) == ["app_id", "x"] and back["app_id"].iloc[0] == "1000000"  # still text


def test_the_formatted_number_error_shows_a_formatted_number(tmp_path):
    frame = pd.read_csv(UCI).head(300)
    amounts = frame["LIMIT_BAL"].map(lambda v: f"{v:,.0f}").astype(object)
    amounts.iloc[0] = "-"  # a placeholder before the first formatted number
    frame["LIMIT_BAL"] = amounts
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="thousands separators.*e.g. '120,000'") as err:
        read_table(tmp_path / "t.csv", UCI_TARGET, id="ID")
    assert err.value.row == 2


def test_text_ids_keep_their_spaces_and_whole_numbers_lose_them(tmp_path):
    (tmp_path / "a.csv").write_text("id,x\n A1,1\nA1,2\n 7,3\n", encoding="utf-8")
    assert read_frame(tmp_path / "a.csv", ids=["id"])["id"].tolist() == [" A1", "A1", " 7"]  # two ids, not one
    (tmp_path / "b.csv").write_text("id,x\n 7,1\n8 ,2\n", encoding="utf-8")
    assert read_frame(tmp_path / "b.csv", ids=["id"])["id"].tolist() == [7, 8]


def test_the_text_read_as_missing_is_pandas_default_set_in_text_columns_too(tmp_path):
    from pandas._libs.parsers import STR_NA_VALUES

    from creditflow.data.io import NA_TEXT, missing_text

    assert NA_TEXT == STR_NA_VALUES  # the readers are given NA_TEXT: the same cells as pandas' default
    tokens = sorted(NA_TEXT - {""})
    path = tmp_path / "t.csv"
    pd.DataFrame({"code": [*tokens, "none", "A1", "007"], "x": range(len(tokens) + 3)}).to_csv(path, index=False)
    for text in (None, ["code"]):
        got = read_frame(path, text=text)["code"]
        assert got.isna().tolist() == [True] * len(tokens) + [False] * 3
    assert all(missing_text(t) for t in NA_TEXT) and missing_text("  ") and not missing_text("none")


def test_a_parquet_directory_is_read_by_column_name_and_a_file_lacking_a_column_is_refused(tmp_path):
    frame = pd.read_csv(GERMAN).head(300)
    frame["branch"] = np.where(frame.index % 3 == 0, "north", "south")
    parts = [frame.iloc[:100], frame.iloc[100:200], frame.iloc[200:]]

    def folder(name, second):
        d = tmp_path / name
        d.mkdir()
        for i, part in enumerate([parts[0], second, parts[2]]):
            part.to_parquet(d / f"part-{i}.parquet", index=False)
        return d

    clean = read_frame(folder("clean", parts[1]))
    # another column order, int64 where the others have double, a text column all missing (Arrow type null)
    as_float = frame.assign(credit_amount=frame["credit_amount"].astype(float))
    read = read_frame(folder("order", parts[1][parts[1].columns[::-1]]))
    pd.testing.assert_frame_equal(read, clean)
    d = tmp_path / "intfloat"
    d.mkdir()
    parts[0].to_parquet(d / "part-0.parquet", index=False)  # int64 in the first file, double in the others
    as_float.iloc[100:].iloc[:100].to_parquet(d / "part-1.parquet", index=False)
    as_float.iloc[200:].assign(credit_amount=as_float["credit_amount"].iloc[200:] + 0.5).to_parquet(
        d / "part-2.parquet", index=False)
    read = read_frame(d)
    assert read["credit_amount"].dtype == np.float64 and read["credit_amount"].iloc[250] % 1 == 0.5
    nulls = parts[1].assign(branch=None)
    read = read_frame(folder("nulltext", nulls))
    assert read["branch"].iloc[100:200].isna().all() and read["branch"].iloc[:100].equals(clean["branch"].iloc[:100])
    # a file lacking a column, or holding one more, is refused with the file and the column
    with pytest.raises(DataError, match="columns differ") as err:
        read_frame(folder("missing", parts[1].drop(columns=["branch"])))
    assert err.value.file.endswith("part-1.parquet") and err.value.column == "branch"
    with pytest.raises(DataError, match="extra \\['note'\\]") as err:
        read_frame(folder("extra", parts[1].assign(note="x")))
    assert err.value.file.endswith("part-1.parquet") and err.value.column == "note"
    with pytest.raises(DataError, match="cast the column") as err:
        read_frame(folder("textnum", parts[1].assign(credit_amount=parts[1]["credit_amount"].astype(str))))
    assert err.value.file.endswith("part-1.parquet") and err.value.column == "credit_amount"


def test_a_hive_folder_and_a_stray_file_in_a_parquet_directory_are_named_with_what_to_do(tmp_path):
    """Before, a hive folder (m=1/x.parquet) was "a directory without Parquet files", which it holds, and a
    notes.txt beside the parts gave Arrow's "Error creating dataset ... Is this a 'parquet' file?" text."""
    frame = pd.read_csv(GERMAN).head(200)
    hive = tmp_path / "hive"
    for m, part in ((1, frame.iloc[:100]), (2, frame.iloc[100:])):
        (hive / f"m={m}").mkdir(parents=True)
        part.to_parquet(hive / f"m={m}" / "x.parquet", index=False)
    with pytest.raises(DataError, match=r"hive-partitioned directories \(e.g. m=1\) are not supported; write the "
                                        "partition key as a column") as err:
        read_frame(hive)
    assert err.value.file == str(hive)
    stray = tmp_path / "stray"
    stray.mkdir()
    frame.iloc[:100].to_parquet(stray / "part-00.parquet", index=False)
    frame.iloc[100:].to_parquet(stray / "part-01.parquet", index=False)
    (stray / "notes.txt").write_text("notes\n")
    with pytest.raises(DataError) as err:
        read_frame(stray)
    text = str(err.value)
    assert err.value.file == str(stray / "notes.txt") and "not a Parquet file (.txt)" in text
    assert "move it out of the directory" in text and "Arrow" not in text and "dataset" not in text
    assert "\n" not in text
    (stray / "notes.txt").rename(stray / "_notes.txt")  # skipped, as the hint says
    pd.testing.assert_frame_equal(read_frame(stray), frame.reset_index(drop=True))
    (stray / "part-02.pq").write_bytes((stray / "part-01.parquet").read_bytes())
    (stray / "part-01.parquet").unlink()  # Parquet files named .pq only: read, not "without Parquet files"
    pd.testing.assert_frame_equal(read_frame(stray), frame.iloc[:200].reset_index(drop=True))


def test_dictionary_names_are_matched_to_columns_regardless_of_case_only_when_unambiguous():
    """Before, X_078 in a dictionary never explained the data's x_078; now such names are matched when the
    pairing is unambiguous, and kept as they are otherwise."""
    from creditflow.data import FieldDictionary

    fd = FieldDictionary(meanings={"X_078": "amount", "AGE": "age", "x_1": "one", "X_1": "ONE", "b": "bee"},
                         logic={"X_078": "sum"})
    got = fd.matched_to(["x_078", "age", "Age", "x_1", "b"])
    assert got.case_matched == {"X_078": "x_078"}
    assert got.meanings == {"x_078": "amount", "AGE": "age", "x_1": "one", "X_1": "ONE", "b": "bee"}
    assert got.logic == {"x_078": "sum"} and got.to_dict()["meanings"] == got.meanings
    assert fd.matched_to(["X_078"]) is fd
