"""`creditflow report`: the validation report of a saved model on labelled data, as HTML and Excel."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import typer

from creditflow.cli.app import (
    command,
    console,
    encoding_option,
    refuse_directory_outputs,
    refuse_overwriting_inputs,
    sheet_option,
    working,
)
from creditflow.data.errors import DataError, located
from creditflow.data.excel import naming_sheet
from creditflow.data.io import Dataset, read_frame, read_table, text_columns


def _load(path: Path, target: str | None, bad: str | None, id: str | None, time_col: str | None,
          dictionary: Path | None, encoding: str | None = None, bundle: Any = None, sheet: str | None = None,
          sheet_option: str = "--sheet") -> Dataset:
    """Read a table for the bundle's model: its inputs (text ones as written), target, and the default
    id / time columns of the bundle when the table has them. `sheet`: of a workbook (default: the first),
    chosen by `sheet_option` (named in the hint of an error)."""
    schema = bundle.files.get("schema.json", {}) if bundle is not None else {}
    at = sheet if sheet is not None else 0
    frame = read_frame(path, encoding=encoding, text=text_columns(schema), sheet=at, sheet_option=sheet_option)
    if target is None:
        raise DataError("no target column given and the bundle does not record one", file=str(path),
                        hint="pass --target COLUMN")
    with located(str(path)), naming_sheet(path, at, sheet_option):  # the columns may be on another sheet
        ds = read_table(frame, target, bad=bad, id=id if id in frame.columns else None,
                        time=time_col if time_col in frame.columns else None, dictionary=dictionary,
                        features=list(bundle.model.features_) if bundle is not None else None,
                        default_bad=_training(bundle)["bad"] if bundle is not None else None)
    ds.source = str(path)
    return ds


def _training(bundle: Any) -> dict:
    meta = bundle.metadata.get("training", {}) if hasattr(bundle, "metadata") else {}
    schema = bundle.files.get("schema.json", {}) if hasattr(bundle, "files") else {}
    return {"target": meta.get("target") or schema.get("target"),
            "id": meta.get("id_column") or schema.get("id_column"),
            "time": meta.get("time_column"), "seed": meta.get("seed", 42), "test_size": meta.get("test_size", 0.3),
            "bad": meta.get("bad")}


@command("report")
def report_cmd(
    model_dir: Path = typer.Argument(..., help="Model bundle directory (DIR/model from train)."),
    data: Path = typer.Argument(..., help="Labelled table to validate on: CSV, Parquet or Excel."),
    oot: Path | None = typer.Option(None, "--oot", help="A second labelled table: the out-of-time sample."),
    target: str | None = typer.Option(None, "--target", help="Target column (default: the one the model was "
                                                             "trained with)."),
    bad: str | None = typer.Option(None, "--bad", help="Value of the target that means bad (needed unless the values are a known pair: 0/1, good/bad, yes/no, 正常/逾期)."),
    id: str | None = typer.Option(None, "--id", help="Id column (default: the training one, when present)."),
    time_col: str | None = typer.Option(None, "--time", help="Time column (default: the training one)."),
    dictionary: Path | None = typer.Option(None, "--dictionary", help="Field dictionary (CSV/XLSX) to label "
                                                                      "variables beyond the model's own."),
    split: bool = typer.Option(False, "--split", help="DATA is the training table: split it into train/test"
                                                      "(/oot) with the bundle's seed, as training did."),
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML report to write (self-contained)."),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="Also write the tables to this Excel workbook."),
    title: str | None = typer.Option(None, "--title", help="Report title."),
    encoding: str | None = encoding_option(),
    sheet: str | None = sheet_option("of DATA "),
    oot_sheet: str | None = typer.Option(None, "--oot-sheet", help="Excel sheet of --oot to read (default: the "
                                                                   "first; --sheet applies to DATA only)."),
) -> None:
    """Write a validation report: data, binning, points, AUC/Gini/KS with CIs, calibration, PSI/CSI, cutoffs."""
    from creditflow.bundle import load_bundle
    from creditflow.report import build_report

    started = time.perf_counter()
    if out.suffix.lower() not in {".html", ".htm"}:
        raise DataError("the report is HTML: give an .html file (and --xlsx FILE.xlsx for the tables)", file=str(out))
    if xlsx is not None and xlsx.suffix.lower() != ".xlsx":
        raise DataError("the workbook must be an .xlsx file", file=str(xlsx))
    if oot_sheet is not None and oot is None:
        raise DataError("--oot-sheet chooses the sheet of the --oot table: give --oot FILE too")
    refuse_overwriting_inputs({"--out": out, "--xlsx": xlsx}, {"the table being reported on": data, "the --oot table": oot})
    refuse_directory_outputs({"--out": out, "--xlsx": xlsx})
    with working(f"reporting on {data}"):
        bundle = load_bundle(model_dir)
        info = _training(bundle)
        tgt, idc, tcol = target or info["target"], id or info["id"], time_col or info["time"]
        main = _load(data, tgt, bad, idc, tcol, dictionary, encoding, bundle, sheet=sheet)
        if split:
            datasets = dict(main.split(test_size=float(info["test_size"]), seed=int(info["seed"])))
        else:
            datasets = {"data": main}
        if oot is not None:  # beside the split's own out-of-time sample, when it has one, not in its place
            datasets["oot" if "oot" not in datasets else f"oot ({oot.name})"] = _load(
                oot, tgt, bad, idc, tcol, dictionary, encoding, bundle, sheet=oot_sheet, sheet_option="--oot-sheet")
        version = getattr(bundle, "model_version", "")
        # the bundle itself, not its model: the reason-code section then uses the bundle's reason settings
        report = build_report(bundle, datasets, title=title,
                              meta={"model bundle": f"{model_dir} (version {version})" if version else str(model_dir)})
        report.to_html(out)
        written = [str(out)]
        if xlsx is not None:
            report.to_excel(xlsx)
            written.append(str(xlsx))
    d = report.metrics["discrimination"]
    for name, m in d.items():
        interval = (f"[{m['auc_low']:.4f}, {m['auc_high']:.4f}]" if math.isfinite(m["auc_low"])
                    else f"(no interval from {m['n_bads']} bad(s) and {m['n_goods']} good(s))")
        console.print(f"{name}: {m['rows']:,} rows, AUC {m['auc']:.4f} {interval}, "
                      f"Gini {m['gini']:.4f}, KS {m['ks']:.4f}", highlight=False)
    console.print(f"report: [bold]{' and '.join(written)}[/] in {time.perf_counter() - started:.1f} s")
