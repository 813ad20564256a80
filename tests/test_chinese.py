"""A Chinese lender's data end to end: column names and categories in Chinese (names with spaces, full-width
parentheses, a leading digit, a slash), files in UTF-8 and GBK, a field dictionary with Chinese headers, and the
YAML files (policy, feature spec) a modeller writes by hand in a Chinese editor."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from creditflow.data.dictionary import read_dictionary
from creditflow.data.errors import DataError
from creditflow.data.io import read_table
from creditflow.policy import PolicyError, policy_from_dict
from creditflow.policy.expr import Condition, ConditionError
from tests.conftest import SHARED_DATA, UCI, UCI_TARGET, YINLIAN

EDUCATION = {1: "硕士", 2: "本科", 3: "高中", 4: "其他", 0: "未知", 5: "未知", 6: "未知"}
MARRIAGE = {1: "已婚", 2: "未婚", 3: "其他", 0: "未知"}


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "creditflow", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def chinese_table(rows: slice = slice(0, 3000)) -> pd.DataFrame:
    """UCI Taiwan with Chinese names and categories, as a Chinese lender's extract has them."""
    df = pd.read_csv(UCI).iloc[rows]
    return pd.DataFrame({
        "用户编号": df["ID"], "额度": df["LIMIT_BAL"], "学历": df["EDUCATION"].map(EDUCATION),
        "婚姻状况": df["MARRIAGE"].map(MARRIAGE), "年龄": df["AGE"], "最近 还款状态": df["PAY_0"],
        "还款状态（8月）": df["PAY_2"], "3个月最大逾期": df[["PAY_0", "PAY_2", "PAY_3"]].max(axis=1),
        "账单金额(9月)": df["BILL_AMT1"], "收入/月": df["PAY_AMT1"], "还款额2": df["PAY_AMT2"],
        "逾期标签": df[UCI_TARGET].map({1: "逾期", 0: "正常"}),
    })


@pytest.fixture(scope="module")
def chinese_bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zh")
    chinese_table().to_csv(tmp / "样本.csv", index=False, encoding="gbk")
    r = _cli("train", tmp / "样本.csv", "--target", "逾期标签", "--id", "用户编号", "--no-report", "--out", tmp / "out")
    assert r.returncode == 0, r.stderr
    return tmp / "out" / "model"


# ------------------------------------------------------------------ policy conditions naming Chinese columns
@pytest.mark.parametrize("text, name", [
    ("3个月最大逾期 >= 3", "3个月最大逾期"),            # a leading digit: was "found '个月最大逾期'"
    ("最近 还款状态 >= 2", "最近 还款状态"),            # a space: was "found '还款状态'"
    ("收入/月 < 100", "收入/月"),                      # a slash: was "unexpected character '/'"
    ("还款状态（8月） >= 2", "还款状态（8月）"),          # full-width parentheses
    ("年龄 > 30 and 账单金额(9月) > 0", "账单金额(9月)"),  # ASCII parentheses after a name
])
def test_a_column_name_that_is_not_an_identifier_is_refused_saying_to_backtick_it(text, name):
    with pytest.raises(ConditionError) as err:
        Condition.parse(text)
    assert f"write it in backticks: `{name}`" in str(err.value)
    Condition.parse(text.replace(name, f"`{name}`"))  # and so written it parses


def test_full_width_punctuation_in_a_condition_names_the_ascii_meant():
    with pytest.raises(ConditionError, match="full-width '（': write the ASCII '\\('"):
        Condition.parse('学历 in （"本科", "硕士"）')
    with pytest.raises(ConditionError, match="full-width '，': write the ASCII ','"):
        Condition.parse('学历 in ("本科"， "硕士")')
    # a name or number that completes a comparison gets no backtick hint
    with pytest.raises(ConditionError) as err:
        Condition.parse("年龄 >= 3 婚姻状况")
    assert "backticks" not in str(err.value)


def test_policy_on_chinese_names_and_categories_decides_as_pandas_counts(chinese_bundle, tmp_path):
    apps = chinese_table(slice(3000, 5000))
    apps.to_csv(tmp_path / "申请.csv", index=False)
    pol = tmp_path / "策略.yaml"
    pol.write_text(
        'version: "zh-1"\ncutoffs: {approve: 560, review: 530}\nrules:\n'
        "  - {code: P01, when: \"学历 in ('本科', '硕士') and 额度 < 20000\", action: review}\n"
        '  - {code: P02, when: "`3个月最大逾期` >= 3", action: reject}\n'
        '  - {code: P03, when: "`最近 还款状态` >= 2 and `还款状态（8月）` >= 2", action: reject}\n'
        '  - {code: P04, when: "`收入/月` < 100 and 婚姻状况 == \'未婚\'", action: review}\n'
        "fields:\n  婚姻状况: {type: string}\n  学历: {type: string}\n", encoding="utf-8")
    r = _cli("policy", "simulate", pol, chinese_bundle, tmp_path / "申请.csv", "--out", tmp_path / "d.csv")
    assert r.returncode == 0, r.stderr
    fired = pd.read_csv(tmp_path / "d.csv", dtype={"rules_fired": str})["rules_fired"].fillna("")
    expect = {
        "P01": apps["学历"].isin(["本科", "硕士"]) & (apps["额度"] < 20000),
        "P02": apps["3个月最大逾期"] >= 3,
        "P03": (apps["最近 还款状态"] >= 2) & (apps["还款状态（8月）"] >= 2),
        "P04": (apps["收入/月"] < 100) & (apps["婚姻状况"] == "未婚"),
    }
    for code, mask in expect.items():
        assert int(fired.str.split(";").apply(lambda c, code=code: code in c).sum()) == int(mask.sum()) > 0, code


def test_a_rule_on_an_undeclared_text_field_suggests_type_string_and_the_close_model_input():
    pol = policy_from_dict({"version": "v", "cutoffs": {"approve": 600, "review": 550},
                            "rules": [{"code": "P1", "when": "学力 == '博士'", "action": "reject"}]})
    with pytest.raises(PolicyError) as err:
        pol.check_against({"学历": "string", "额度": "number"})
    msg = str(err.value)
    assert "did you mean '学历'?" in msg and "{学力: {type: string}}" in msg   # was: {type: number}, a wrong fix


# ---------------------------------------------------------- hand-written YAML: GBK files, a leading backtick
def test_a_policy_or_feature_spec_saved_as_gbk_is_refused_naming_the_line(chinese_bundle, tmp_path):
    pol = tmp_path / "策略.yaml"
    pol.write_text('version: "zh-1"\ncutoffs: {approve: 560, review: 530}\nrules:\n'
                   '  - {code: P02, description: 近3个月逾期, when: "`3个月最大逾期` >= 3", action: reject}\n',
                   encoding="gbk")
    r = _cli("policy", "check", pol, chinese_bundle)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "policy file is not UTF-8 text (line 4; it reads as GBK/GB18030" in r.stderr and "save it as UTF-8" in r.stderr
    spec = tmp_path / "特征.yaml"
    spec.write_text("entity: 客户编号\nevent_time: 账单月\nobservation_date: 观察日\n"
                    "features:\n  - {name: 最大逾期_6m, agg: max, column: 还款状态, windows: [6m]}\n", encoding="gbk")
    events = tmp_path / "账单.csv"
    st = pd.read_csv(SHARED_DATA / "uci_taiwan" / "statements.csv", nrows=600)
    st.columns = ["客户编号", "账单月", "账单金额", "还款金额", "还款状态"]
    st.to_csv(events, index=False)
    r = _cli("features", "--events", events, "--spec", spec, "--as-of", "2005-09-30", "--out", tmp_path / "f.csv")
    # was: "internal error: UnicodeDecodeError: 'utf-8' codec can't decode byte 0xbf in position 8"
    assert r.returncode == 2 and "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "spec file is not UTF-8 text (line 1; it reads as GBK/GB18030" in r.stderr
    spec.write_text(spec.read_text(encoding="gbk"), encoding="utf-8")
    r = _cli("features", "--events", events, "--spec", spec, "--as-of", "2005-09-30", "--out", tmp_path / "f.csv")
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(tmp_path / "f.csv")
    assert out["最大逾期_6m"].tolist() == st.groupby("客户编号")["还款状态"].max().tolist()


def test_a_condition_starting_with_a_backtick_unquoted_in_yaml_says_to_quote_it(chinese_bundle, tmp_path):
    pol = tmp_path / "策略.yaml"
    pol.write_text('version: "zh-1"\ncutoffs: {approve: 560, review: 530}\nrules:\n'
                   "  - code: P02\n    when: `3个月最大逾期` >= 3\n    action: reject\n", encoding="utf-8")
    r = _cli("policy", "check", pol, chinese_bundle)
    err = " ".join(r.stderr.split())
    assert r.returncode == 2 and "must be in quotes in YAML" in err
    pol.write_text(pol.read_text(encoding="utf-8").replace("when: `3个月最大逾期` >= 3", 'when: "`3个月最大逾期` >= 3"'),
                   encoding="utf-8")
    assert _cli("policy", "check", pol, chinese_bundle).returncode == 0


# ------------------------------------------------------------------------------ dictionaries and encodings
@pytest.mark.parametrize("var, meaning", [("字段名称", "字段含义"), ("变量名称", "中文名称"), ("字段代码", "字段说明")])
def test_a_dictionary_with_common_chinese_headers_is_read(tmp_path, var, meaning):
    src = pd.read_csv(SHARED_DATA / "yinlian" / "field_dictionary.csv")
    path = tmp_path / "字段解释.xlsx"
    src.rename(columns={"var": var, "meaning": meaning}).to_excel(path, index=False, sheet_name="字段解释")
    d = read_dictionary(path)
    assert d.meaning("x_001") == "性别" and len(d) == src["meaning"].notna().sum()
    data = read_table(YINLIAN, target="y", id="user_id", dictionary=path)
    assert data.dictionary.meaning("x_002") == "年龄"


def test_a_csv_of_utf8_and_gbk_lines_names_where_each_reading_fails(tmp_path):
    t = chinese_table(slice(0, 200))
    lines = t.to_csv(index=False).encode("utf-8").split(b"\n")
    lines[51] = lines[51].decode("utf-8").encode("gbk")   # a row pasted in from a GBK export
    path = tmp_path / "混合.csv"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError) as err:
        read_table(path, target="逾期标签")
    assert "UTF-8 (first failing at line 52, after '51," in str(err.value)
    gbk = tmp_path / "样本.csv"
    t.to_csv(gbk, index=False, encoding="gbk")
    with pytest.raises(DataError) as err:
        read_table(gbk, target="逾期标签", encoding="utf-8")
    assert "line 1" in str(err.value) and "it reads as GBK/GB18030: leave --encoding out" in str(err.value)
    assert read_table(gbk, target="逾期标签", id="用户编号").X.shape == (200, 10)


def test_a_misspelt_chinese_column_is_refused_naming_the_column_meant(chinese_bundle, tmp_path):
    path = tmp_path / "样本.csv"
    chinese_table(slice(0, 1000)).to_csv(path, index=False)
    with pytest.raises(DataError, match="id column not found \\(did you mean '用户编号'\\?\\)"):
        read_table(path, target="逾期标签", id="用户编码")
    with pytest.raises(DataError, match="categorical column not found \\(did you mean '学历'\\?\\)"):
        read_table(path, target="逾期标签", id="用户编号", categorical=["学力"])
    # ASCII parentheses typed for the header's full-width ones: the same name but for width
    with pytest.raises(DataError, match="\\(did you mean '还款状态（8月）'\\?\\)"):
        read_table(path, target="逾期标签", id="用户编号", exclude=["还款状态(8月)"])
    r = _cli("train", path, "--target", "逾期标签", "--id", "用户编号", "--no-report", "--out", tmp_path / "o",
             "--param", "binning.monotonic.3月最大逾期=ascending")
    assert r.returncode == 2 and "(did you mean '3个月最大逾期'?)" in r.stderr, r.stderr
    r = _cli("score", chinese_bundle, path, "--id", "用户编码", "--out", tmp_path / "s.csv")
    assert r.returncode == 2 and "no column '用户编码' to carry as the id (did you mean '用户编号'?)" in r.stderr, r.stderr
    assert not (tmp_path / "s.csv").exists()


def test_a_feature_filter_on_a_chinese_column_name_without_backticks_says_to_backtick_it(tmp_path):
    st = pd.read_csv(SHARED_DATA / "uci_taiwan" / "statements.csv", nrows=600)
    st.columns = ["客户编号", "账单月", "账单 金额", "还款金额/元", "还款状态"]
    events = tmp_path / "账单.csv"
    st.to_csv(events, index=False)
    spec = tmp_path / "特征.yaml"

    def run(condition: str) -> subprocess.CompletedProcess:
        spec.write_text("entity: 客户编号\nevent_time: 账单月\nobservation_date: 观察日\nfeatures:\n"
                        f"  - {{name: 还款次数_6m, agg: count, filter: \"{condition}\", windows: [6m]}}\n", encoding="utf-8")
        return _cli("features", "--events", events, "--spec", spec, "--as-of", "2005-09-30", "--out", tmp_path / "f.csv")

    # a slash reads as division: the refusal named '还款金额' and '元' as missing columns, never the one meant
    r = run("还款金额/元 > 0")
    assert r.returncode == 2 and "the data has '还款金额/元': write it in backticks, `还款金额/元`" in r.stderr, r.stderr
    # a space or full-width parentheses: was only "invalid syntax" / "invalid character '（' (U+FF08)"
    r = run("账单 金额 > 0")
    assert r.returncode == 2 and "write it in backticks: `账单 金额`" in r.stderr, r.stderr
    r = run("还款金额（元） > 0")
    assert r.returncode == 2 and "write it in backticks: `还款金额（元）`" in r.stderr, r.stderr
    r = run("`还款金额/元` > 0 and `账单 金额` > 0")
    assert r.returncode == 0, r.stderr
    both = (st["还款金额/元"] > 0) & (st["账单 金额"] > 0)
    got = pd.read_csv(tmp_path / "f.csv").set_index("客户编号")["还款次数_6m"]
    assert got.to_dict() == both.groupby(st["客户编号"]).sum().to_dict()


def test_a_hand_written_yaml_saved_as_latin1_is_not_called_gbk():
    """A policy written on a Western Windows ("ANSI" = cp1252: "Gerät", "Prüfung") decodes as GB18030 too, which
    takes most bytes: the message said "it reads as GBK/GB18030", sending the user the wrong way."""
    from creditflow.data.errors import CreditflowError
    from creditflow.data.textfile import utf8_text

    latin = 'version: "v1"\n# Gerät, Prüfung, Müller, Bärbel, Überweisung\ncutoffs: {approve: 560}\n'.encode("cp1252")
    with pytest.raises(CreditflowError) as err:
        utf8_text(latin, "policy.yaml", "policy file", CreditflowError)
    assert "line 2; it looks like Latin-1/cp1252 text" in str(err.value) and "GBK" not in str(err.value)
    gbk = 'version: "v1"\n# 近3个月逾期次数, 收入\ncutoffs: {approve: 560}\n'.encode("gbk")
    with pytest.raises(CreditflowError, match="line 2; it reads as GBK/GB18030"):
        utf8_text(gbk, "policy.yaml", "policy file", CreditflowError)


def test_a_dictionary_giving_one_variable_two_business_logic_texts_is_refused_naming_both_rows(tmp_path):
    # the logic is printed beside the bins and points: a second row reversing the coding ('0-有，1-无' for
    # '0-无或未知，1-有') silently replaced the first
    src = pd.read_csv(SHARED_DATA / "yinlian" / "field_dictionary.csv")
    again = src[src["var"] == "x_004"].assign(logic="0-有，1-无")
    path = tmp_path / "字段解释.csv"
    pd.concat([src, again]).to_csv(path, index=False, encoding="gbk")
    with pytest.raises(DataError, match=r"'x_004' is given two different business logic texts \(rows 6 and 202\)"):
        read_dictionary(path)
    r = _cli("train", YINLIAN, "--target", "y", "--id", "user_id", "--dictionary", path, "--no-report",
             "--out", tmp_path / "out")
    assert r.returncode == 2 and "字段解释.csv" in r.stderr and "row 202" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()
    # the same row twice, or a second row without logic, is still one explanation
    pd.concat([src, src[src["var"] == "x_004"], src[src["var"] == "x_004"].assign(logic=None)]).to_csv(
        path, index=False, encoding="gbk")
    assert read_dictionary(path).logic["x_004"] == "0-无或未知，1-有"


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_a_gbk_file_read_with_a_western_encoding_names_gbk(chinese_bundle, tmp_path, encoding):
    # Latin-1 decodes any byte, so a GBK file read with it gives mojibake names ('ÄêÁä' for '年龄') and every
    # model column is missing: the error said only that, with no word of the encoding
    path = tmp_path / "样本.csv"
    chinese_table(slice(0, 200)).to_csv(path, index=False, encoding="gbk")
    hint = "column names look like GBK read as Latin-1/cp1252 ("
    r = _cli("score", chinese_bundle, path, "--encoding", encoding, "--out", tmp_path / "s.csv")
    assert r.returncode == 2 and "model column(s) missing" in r.stderr and hint in r.stderr, r.stderr
    assert "is '用户编号' in GBK" in r.stderr and "--encoding gbk" in r.stderr
    r = _cli("train", path, "--target", "逾期标签", "--encoding", encoding, "--out", tmp_path / "out")
    assert r.returncode == 2 and "target column not found" in r.stderr and hint in r.stderr, r.stderr
    # a Latin-1 file with accented letters is not called GBK
    from creditflow.data.io import misread_hint

    assert misread_hint(["Größe", "Gerät", "Année", "café"]) is None
    assert misread_hint(["Größe", "Straße", "Bürgschaft"]) is None


def test_numbers_in_full_width_digits_are_refused_naming_the_number_meant(chinese_bundle, tmp_path):
    # a column typed with a Chinese input method's full-width digits ('３２') is not numbers to pandas: where every
    # row was so, train read the column as categories (one per age) and fitted a model without a word
    df = chinese_table(slice(0, 1000))
    wide = str.maketrans("0123456789.-", "０１２３４５６７８９．－")
    df["年龄"] = df["年龄"].astype(str).str.translate(wide)
    path = tmp_path / "全角.csv"
    df.to_csv(path, index=False, encoding="gbk")
    r = _cli("train", path, "--target", "逾期标签", "--id", "用户编号", "--no-report", "--out", tmp_path / "out")
    assert r.returncode == 2 and not (tmp_path / "out").exists(), r.stdout + r.stderr
    assert "column '年龄', row 1: 1000 value(s) are numbers written with full-width digits" in r.stderr
    assert "half-width (ASCII) digits, '24'" in r.stderr, r.stderr
    with pytest.raises(DataError, match="full-width"):
        read_table(path, target="逾期标签", id="用户编号")
    # one such value among numbers: refused as before, now saying what it is, at train and at score
    one = chinese_table(slice(0, 1000)).astype({"年龄": object})
    one.loc[4, "年龄"] = "３２"
    one.to_csv(path, index=False, encoding="gbk")
    for args in (("train", path, "--target", "逾期标签", "--out", tmp_path / "out"),
                 ("score", chinese_bundle, path, "--out", tmp_path / "s.csv")):
        r = _cli(*args)
        assert r.returncode == 2 and "column '年龄', row 5" in r.stderr, r.stderr
        assert "'３２' is written in full-width characters" in r.stderr and "digits, '32'" in r.stderr, r.stderr


def test_a_header_with_a_trailing_full_width_space_is_the_trimmed_column(tmp_path):
    df = chinese_table(slice(0, 300))
    path = tmp_path / "表头.csv"
    df.rename(columns={"年龄": "年龄\u3000"}).to_csv(path, index=False, encoding="gbk")
    data = read_table(path, target="逾期标签", id="用户编号")
    assert "年龄" in data.X.columns and data.X["年龄"].tolist() == df["年龄"].tolist()
    df.assign(**{"年龄\u3000": df["年龄"] + 1}).to_csv(path, index=False, encoding="gbk")
    with pytest.raises(DataError, match="column '年龄'.*names this column more than once"):
        read_table(path, target="逾期标签", id="用户编号")
