"""Shared pytest fixtures."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fsdd_root() -> Path:
    """The read-only FSDD copy in ``shared/`` beside the repository (skips if absent).

    Resolved from the repository root, so it also works in a clone elsewhere
    as long as ``shared/`` sits next to it.
    """
    root = Path(__file__).resolve().parents[1].parent / "shared/data/fsdd"
    if not (root / "recordings").is_dir():
        pytest.skip(f"FSDD not available at {root}")
    return root
