"""End to end on FSDD: the RTL's per-frame readout outputs and per-utterance decisions equal the integer model's.

Default run: a small model trained on a subset, a sample of its test
utterances. Slow: the default FSDD model (trained once per session), all 300
test utterances at 8 lanes.
"""

import pytest

from memres.pygen.verify import verify
from memres.sw_model import workflow
from memres.sw_model.config import config_from_dict

SMALL = config_from_dict({"reservoir": {"n_devices": 12, "n_virtual": 3, "alpha": 0.01, "tau": 20000.0,
                                        "state_features": True}})


@pytest.fixture(scope="module")
def small_model(fsdd_subset, tmp_path_factory):
    return workflow.train("fsdd", SMALL, data_dir=fsdd_subset).save(tmp_path_factory.mktemp("model") / "small.npz")


def test_subset_model_rtl_equals_integer_model(small_model, fsdd_subset, tmp_path):
    r = verify(small_model, lanes=4, sequences=25, data_dir=fsdd_subset, sim="verilator", out_dir=tmp_path, waves=False)
    assert r["passed"], r["first_mismatch"]
    assert r["test_utterances"] == 25 and r["matches_integer_model"]
    assert r["runs"][0]["test_sequences"] == 25 and r["results"] == r["frames"]


@pytest.fixture(scope="session")
def default_model(fsdd_root, tmp_path_factory):
    """The default FSDD model (N=200, ML=10, C=32, K=10): several minutes to train, once per session."""
    model = workflow.train("fsdd", data_dir=fsdd_root)
    return model.save(tmp_path_factory.mktemp("fsdd-default") / "fsdd.npz")


@pytest.mark.slow
def test_default_model_all_test_utterances(default_model, fsdd_root, tmp_path):
    r = verify(default_model, lanes=8, data_dir=fsdd_root, sim="verilator", out_dir=tmp_path, waves=False,
               random_count=2)
    assert r["passed"], r["first_mismatch"]
    assert r["test_utterances"] == 300 and r["matches_integer_model"]
    assert r["accuracy"] == pytest.approx(r["model_accuracy"])
