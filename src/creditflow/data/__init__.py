"""Loading tables and field dictionaries, and the errors raised for bad input."""

from creditflow.data.dictionary import FieldDictionary, read_dictionary
from creditflow.data.errors import BundleError, CreditflowError, DataError, SchemaError
from creditflow.data.io import Dataset, read_frame, read_table
from creditflow.data.output import atomic_path, write_frame

__all__ = [
    "BundleError",
    "CreditflowError",
    "DataError",
    "Dataset",
    "FieldDictionary",
    "SchemaError",
    "atomic_path",
    "write_frame",
    "read_dictionary",
    "read_frame",
    "read_table",
]
