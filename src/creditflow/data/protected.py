"""Spotting model variables that look like protected characteristics, by name or dictionary meaning.

Equal-credit law in most markets (the US ECOA / Regulation B, the EU's and the UK's equality law)
forbids deciding credit on sex, race or ethnicity, religion, marital status, national origin or
disability. creditflow never drops a variable on these grounds by itself: it says so (the `train`
summary, the validation report's findings), and the modeller excludes it or records why it stays.
Age is left out of the list: many laws allow it in an empirically derived scorecard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from creditflow.data.dictionary import FieldDictionary

# characteristic -> whole English words (lower case) and Chinese terms (matched anywhere)
PROTECTED_TERMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sex": (("sex", "gender"), ("性别",)),
    "race or ethnicity": (("race", "racial", "ethnic", "ethnicity"), ("民族", "种族")),
    "religion": (("religion", "religious"), ("宗教", "信仰")),
    "marital status": (("marital", "marriage", "married"), ("婚姻", "婚否")),
    "national origin": (("nationality", "citizenship", "immigrant", "immigration"),
                        ("国籍", "籍贯", "外籍")),
    "disability": (("disability",), ("残疾",)),  # not "disabled": a card or an account is disabled too
}


# two-word English phrases (a plain "foreign" is too broad: foreign currency, foreign key)
PROTECTED_PHRASES: dict[str, tuple[str, ...]] = {
    "national origin": ("foreign worker", "foreign national", "foreign born", "country of birth", "non citizen",
                        "citizen status", "is citizen", "us citizen"),
}


def protected_characteristic(name: str, meaning: str = "") -> str | None:
    """The protected characteristic a variable's name or meaning points at, or None."""
    text = f"{name} {meaning}"
    sequence = [w for w in re.split(r"[^a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower()) if w]
    words, joined = set(sequence), f" {' '.join(sequence)} "
    for what, (english, chinese) in PROTECTED_TERMS.items():
        if words.intersection(english) or any(term in text for term in chinese) \
                or any(f" {p} " in joined for p in PROTECTED_PHRASES.get(what, ())):
            return what
    return None


def protected_variables(variables: Iterable[str], dictionary: FieldDictionary | None = None) -> dict[str, str]:
    """{variable: characteristic} for the variables that look like protected characteristics."""
    d = dictionary or FieldDictionary()
    out = {}
    for v in variables:
        what = protected_characteristic(str(v), d.meaning(str(v)))
        if what:
            out[str(v)] = what
    return out
