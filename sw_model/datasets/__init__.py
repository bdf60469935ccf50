"""Datasets used by memres (currently the Free Spoken Digit Dataset)."""

from .fsdd import (
    FSDD_COMMIT,
    FSDD_URL,
    DatasetError,
    Recording,
    download_fsdd,
    extract_recordings,
    list_recordings,
    loso_folds,
    read_wav,
    standard_split,
    validation_split,
)

__all__ = [
    "FSDD_COMMIT",
    "FSDD_URL",
    "DatasetError",
    "Recording",
    "download_fsdd",
    "extract_recordings",
    "list_recordings",
    "loso_folds",
    "read_wav",
    "standard_split",
    "validation_split",
]
