"""Errors raised for bad input. Each names the file, column and row where it can, and why."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class CreditflowError(ValueError):
    """Bad input: a message a user can act on, without a traceback.

    The CLI turns it into exit status 2, the service into HTTP 422.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.column = column
        self.row = row
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file '{self.file}'")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        text = (", ".join(where) + ": " if where else "") + self.reason
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "column": self.column,
            "row": self.row,
            "reason": self.reason,
            "message": self.message,
        }


class DataError(CreditflowError):
    """The data itself is unusable: unreadable, empty, wrong target, infinities ..."""


class SchemaError(CreditflowError):
    """Data does not match what a model was trained on (missing columns, wrong types)."""


class BundleError(CreditflowError):
    """A model bundle is missing, incomplete or fails its SHA-256 manifest."""


class BundleVersionWarning(UserWarning):
    """A model bundle was written with another release of creditflow (major.minor) or, for the LightGBM
    challenger, another major version of LightGBM than the one loading it: its documents verify, but the
    code that turns them into scores is not the code that wrote them. Score a sample under both before
    relying on the scores. Silence it with ``warnings.filterwarnings("ignore", category=BundleVersionWarning)``."""


class UnseenCategoryWarning(UserWarning):
    """An estimator scored a categorical column of which every value is a category unseen in training (coded
    unlike the training data?). `creditflow score` and `workflow.score_table` refuse such a table unless told
    to allow it; the estimators warn instead, so a pipeline goes on. Silence it with
    ``warnings.filterwarnings("ignore", category=UnseenCategoryWarning)``."""


class SpecialValueWarning(UserWarning):
    """A declared special value looks like an ordinary value of its column: it lies among the column's other
    values, or holds more rows than all of them (a typo, or the wrong column?). The fit goes on, giving it its
    own bin as asked. Silence it with ``warnings.filterwarnings("ignore", category=SpecialValueWarning)``."""


class ProtectedVariableWarning(UserWarning):
    """A model variable looks like a protected characteristic (sex, age, marital status, national origin ...):
    equal-credit law in most markets forbids deciding on it. `workflow.train` warns of each; exclude the column
    unless a compliance review allows it."""


class MissingColumnWarning(UserWarning):
    """An estimator scored a model input that is missing on every row though no training row was (a failed
    join, a column dropped upstream?): each row got its Missing bin's points. `creditflow score` notes it."""


class SmallSampleWarning(UserWarning):
    """A fit on a handful of bads or goods: its bins, WOE and points are mostly noise (a scorecard wants
    hundreds of each). The fit goes on."""


class LeakageWarning(UserWarning):
    """A column separates the target almost perfectly (information value above 2): the target itself, a copy of
    it, or something recorded after the outcome. The fit goes on; drop the column unless you know why."""


def shown(value: object) -> str:
    """A value as an error message quotes it: numpy scalars as the plain Python value (1, not np.int64(1))."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        try:
            value = item()
        except (TypeError, ValueError):
            pass
    return repr(value)


@contextmanager
def located(file: str | None = None, column: str | None = None) -> Iterator[None]:
    """Name the file (and column) in a `CreditflowError` raised inside that does not name them itself:
    a check deep down knows the row, its caller knows the file."""
    try:
        yield
    except CreditflowError as exc:
        exc.file = exc.file or file
        exc.column = exc.column or column
        raise


def caller_level() -> int:
    """`warnings.warn`'s stacklevel for the first frame outside creditflow (the user's call), from its caller:
    2 when the function calling this was called by the user directly."""
    import os
    import sys

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level
