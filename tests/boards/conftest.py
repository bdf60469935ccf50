"""Fixtures of the board tests: a small trained FSDD model and a tiny configuration."""

import json
from pathlib import Path

import pytest
from boards_common import SMALL, WAVS


@pytest.fixture(scope="session")
def small_model(fsdd_subset, tmp_path_factory) -> Path:
    """A small FSDD model (N=8, ML=2, C=32, K=10) trained on the subset; its file."""
    from memres.sw_model import workflow
    from memres.sw_model.config import config_from_dict
    model = workflow.train("fsdd", config_from_dict(SMALL), data_dir=fsdd_subset)
    return model.save(tmp_path_factory.mktemp("model") / "small.npz")


@pytest.fixture(scope="session")
def wavs(fsdd_subset) -> list[Path]:
    return [fsdd_subset / "recordings" / name for name in WAVS]


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> Path:
    """The SMALL reservoir as a configuration file (built with 8 inputs and 4 outputs: fits the UP5K)."""
    path = tmp_path_factory.mktemp("config") / "tiny.json"
    path.write_text(json.dumps(SMALL))
    return path
