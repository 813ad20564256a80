"""Reading the YAML files a user writes by hand (policy, feature spec, tag rules): UTF-8 only, refused
with the line of the first byte that is not, and YAML errors with a hint for the usual slips."""

from __future__ import annotations

from pathlib import Path

from creditflow.data.errors import CreditflowError


def utf8_text(data: bytes, path: str | Path, what: str, error: type[CreditflowError]) -> str:
    """`data` decoded as UTF-8 (a leading BOM dropped), or `error` naming the line of the first byte
    that is not UTF-8 and, when the file reads as GBK/GB18030 (Windows Notepad's "ANSI" on a Chinese
    system) or looks like Latin-1/cp1252 (its "ANSI" in the West), saying which."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        from creditflow.data.io import latin_misread

        try:
            chars = {c for c in data.decode("gb18030") if ord(c) > 0x7F}
            found = ("; it looks like Latin-1/cp1252 text (accented letters), as Windows saves 'ANSI' text in the "
                     "West" if latin_misread(chars) is not None else
                     "; it reads as GBK/GB18030, as Windows Notepad saves 'ANSI' text on a Chinese system")
        except UnicodeDecodeError:
            found = ""
        raise error(f"{what} is not UTF-8 text (line {line}{found})", file=str(path),
                    hint="save it as UTF-8") from None
    return text.removeprefix("\ufeff")


def yaml_hint(exc: Exception) -> str | None:
    """A hint for a YAML error a condition or name typically causes, or None."""
    text = str(exc)
    if "found character '`' that cannot start any token" in text:
        return ("a value that starts with a backtick (a `quoted name`) must be in quotes in YAML: "
                "when: \"`收入/月` > 0\"")
    return None
