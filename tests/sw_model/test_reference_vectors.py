"""The float device law reproduces the authors' own code (shared/data/reference)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from memres.sw_model import device

REF = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "reference"


def _rows(name):
    path = REF / name
    if not path.exists():
        pytest.skip(f"reference vectors not found at {path}")
    with path.open() as f:
        return list(csv.DictReader(f))


def _params():
    p = json.loads((REF / "params.json").read_text())["nc2021_dynamic_memristor"]["params"]
    return p["r"], p["G0"], p["alpha"], p["Kp"], p["Kn"]


def _replay(rows):
    """Drive the law from each sequence's initial state; compare every pulse."""
    r, g0, alpha, kp, kn = _params()
    g_err = i_err = 0.0
    g = None
    prev_key = None
    for row in rows:
        key = (row.get("sequence"), row["device"])
        if key != prev_key:
            g = float(row["G_before"])
            assert g == g0, "every sequence starts from G0"
            prev_key = key
        assert float(row["G_before"]) == g
        g, i = device.pulse(np.float64(g), np.float64(row["V"]), r, g0, alpha, kp, kn)
        g_ref, i_ref = float(row["G_after"]), float(row["I"])
        g_err = max(g_err, abs(g - g_ref))
        i_err = max(i_err, abs(i - i_ref) / max(1.0, abs(i_ref)))
        g = g_ref  # follow the reference state exactly (it is what the next call gets)
    return g_err, i_err


@pytest.mark.parametrize("name", ["nc2021_dm_single.csv", "nc2021_dm_random5x200.csv"])
def test_float_law_matches_reference_to_1e12(name):
    rows = _rows(name)
    g_err, i_err = _replay(rows)
    assert g_err <= 1e-12
    assert i_err <= 1e-12


def test_reference_replay_detects_a_wrong_law():
    """The comparison is sharp: a law with (1 - r) G0 dropped is far off."""
    rows = _rows("nc2021_dm_single.csv")
    r, g0, alpha, kp, kn = _params()
    worst = 0.0
    for row in rows:
        g = float(row["G_before"])
        v = float(row["V"])
        lam = device.switching_rate(v, alpha)
        g_bad = r * g + lam * (device.target(v) - g)
        worst = max(worst, abs(g_bad - float(row["G_after"])))
    assert worst > 1e-3


def test_batched_states_match_reference_exactly():
    """The 5-device file run as one vectorised batch (as the authors ran it)."""
    rows = _rows("nc2021_dm_random5x200.csv")
    r, g0, alpha, kp, kn = _params()
    v = np.array([float(x["V"]) for x in rows]).reshape(5, 200)
    g_ref = np.array([float(x["G_after"]) for x in rows]).reshape(5, 200)
    g = np.full(5, g0)
    for t in range(200):
        g, _ = device.pulse(g, v[:, t], r, g0, alpha, kp, kn)
        np.testing.assert_allclose(g, g_ref[:, t], rtol=0, atol=1e-12)
