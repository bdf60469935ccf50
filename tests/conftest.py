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


@pytest.fixture(scope="session")
def fsdd_subset(fsdd_root, tmp_path_factory) -> Path:
    """Two speakers, takes 0-19: 400 recordings linked (not copied) into a temporary folder."""
    d = tmp_path_factory.mktemp("fsdd-subset") / "recordings"
    d.mkdir()
    for wav in sorted((fsdd_root / "recordings").glob("*.wav")):
        digit, speaker, take = wav.stem.split("_")
        if speaker in ("george", "jackson") and int(take) < 20:
            (d / wav.name).symlink_to(wav)
    return d.parent
