"""Every example configuration loads and validates."""

from pathlib import Path

import pytest

from memres.sw_model.config import load_config

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*"))
EXAMPLES = [p for p in EXAMPLES if p.suffix in (".json", ".toml")]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_loads(path):
    cfg = load_config(path)
    assert cfg.reservoir.n_devices >= 1


def test_examples_exist():
    assert len(EXAMPLES) >= 3
