"""A regression model end to end: its test series through the RTL equals the integer model, frame by frame."""

import numpy as np
import pytest

from memres.pygen.verify import model_test_data, verify
from memres.sw_model import workflow
from memres.sw_model.fixed import quantise_inputs
from memres.sw_model.model_file import load_model
from memres.sw_model.regression import make_data
from memres.sw_model.tasks import InputScaler


@pytest.fixture(scope="module")
def henon(tmp_path_factory):
    return workflow.train("henon").save(tmp_path_factory.mktemp("henon") / "henon.npz")


def test_stimulus_is_the_scaled_test_series(henon):
    model = load_model(henon)
    data = model_test_data(model)
    tp = model.task_params
    d = make_data("henon", model.config, n_train=tp["n_train"], n_test=tp["n_test"], seed=tp["seed"])
    want = quantise_inputs(InputScaler.from_dict(model.preprocessing).transform(d.series.u)[d.test_rows],
                           model.config.fixed.input_bits)
    assert len(data["seqs"]) == 1 and np.array_equal(data["seqs"][0], want)


def test_henon_rtl_equals_integer_model(henon, tmp_path):
    r = verify(henon, lanes=4, sim="verilator", sequences=200, random_count=2, out_dir=tmp_path, waves=False)
    assert r["passed"], r["first_mismatch"]
    assert r["stimulus"] == "henon test series + random" and r["runs"][0]["test_sequences"] == 1
    assert r["results"] == r["frames"] >= 200
