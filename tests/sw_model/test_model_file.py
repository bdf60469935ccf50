"""Model files: round trip, and clear errors for corrupt or incompatible files."""

import json

import numpy as np
import pytest

from memres.sw_model.config import ModelConfig
from memres.sw_model.model_file import ModelFileError, TrainedModel, load_model
from memres.sw_model.readout import IntReadout


def _model():
    rng = np.random.default_rng(0)
    return TrainedModel(task="henon", config=ModelConfig().replace(reservoir={"n_devices": 4}),
                        n_inputs=1, n_outputs=1, w_float=rng.normal(size=(40, 1)), b_float=np.zeros(1),
                        readout_int=IntReadout(rng.integers(-127, 128, (40, 1)), np.array([5]), 0.25),
                        preprocessing={"lo": [0.0]}, task_params={"seed": 3}, metrics={"x": 1})


def test_round_trip(tmp_path):
    m = _model()
    path = m.save(tmp_path / "m.model")
    assert path.name == "m.model"
    back = load_model(path)
    assert back.config == m.config and back.task == "henon"
    np.testing.assert_array_equal(back.w_float, m.w_float)
    np.testing.assert_array_equal(back.readout_int.w, m.readout_int.w)
    assert back.readout_int.scale == 0.25 and back.task_params == {"seed": 3}


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "none.npz")
    path = _model().save(tmp_path / "m.npz")
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="cut.npz"):
        load_model(tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match="not a readable memres model"):
        load_model(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match="no 'meta' header"):
        load_model(tmp_path / "other.npz")


def test_newer_format_version_refused(tmp_path):
    path = _model().save(tmp_path / "m.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta["format_version"] = 99
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "v99.npz", **arrays)
    with pytest.raises(ModelFileError, match="version 99"):
        load_model(tmp_path / "v99.npz")
