"""Fuzzing the inputs a user hands memres: configurations, WAV files and model files.

Each input is either accepted or refused with the project's one error class
(:class:`MemresError`, a one-line message); anything else (a traceback) fails
the test. ``benchmarks/fuzz_inputs.py`` runs the same generators for longer
and counts the outcomes.
"""

import io
import json
import struct
import zipfile

import numpy as np
import pytest
import scipy.io.wavfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memres.sw_model.config import ConfigError, ModelConfig, config_from_dict, load_config
from memres.sw_model.datasets.fsdd import DatasetError, read_wav
from memres.sw_model.errors import MemresError
from memres.sw_model.model_file import ModelFileError, TrainedModel, load_model
from memres.sw_model.readout import IntReadout

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                      st.text(max_size=8))
json_tree = st.recursive(json_leaf, lambda c: st.one_of(st.lists(c, max_size=4),
                                                        st.dictionaries(st.text(max_size=8), c, max_size=4)),
                         max_leaves=20)
DEFAULT = ModelConfig().to_dict()
FIELDS = [(s, k) for s in ("reservoir", "fixed", "readout") for k in DEFAULT[s]] + \
         [("frontend", k) for k in ("n_channels", "sample_rate", "frame_rate", "fmin", "fmax", "floor_db", "bogus")]


# --- configurations -------------------------------------------------------------------

@FUZZ
@given(json_tree)
def test_any_json_tree_is_a_config_or_a_config_error(tree):
    try:
        config_from_dict(tree)
    except ConfigError:
        pass


@FUZZ
@given(st.sampled_from(FIELDS), json_tree)
def test_one_field_replaced_by_anything(field, value):
    section, key = field
    data = json.loads(json.dumps(DEFAULT))
    data.setdefault(section, {})[key] = value
    try:
        cfg = config_from_dict(data)
    except ConfigError as e:
        assert "\n" not in str(e)
        return
    # Accepted: the model can be built from it without overflow.
    assert cfg.hash()


def test_deeply_nested_config_file_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="deep.json"):
        load_config(path)


@pytest.mark.parametrize("tau", [[{"a": 1}, 2], [[1], 2], [None, 3], ["x"]])
def test_tau_lists_of_non_numbers_name_the_element(tau):
    with pytest.raises(ConfigError, match=r"reservoir\.tau\[0\]"):
        config_from_dict({"reservoir": {"n_devices": 2, "tau": tau}})


@pytest.mark.parametrize("field, value", [("kp", 1e300), ("v_max", 1e300), ("input_scale", 2**63 - 1),
                                          ("v_min", -1e300), ("alpha", 1e300), ("dt_ns", 1e300)])
def test_physical_parameters_beyond_representation_are_refused(field, value):
    with pytest.raises(ConfigError, match=f"reservoir.{field}"):
        config_from_dict({"reservoir": {field: value}})


def test_tiny_ridge_lambdas_are_refused():
    with pytest.raises(ConfigError, match="readout.lambdas"):
        config_from_dict({"readout": {"lambdas": [1e-300]}})


def test_frontend_settings_are_validated_for_every_task():
    with pytest.raises(ConfigError, match="frontend.bogus"):
        config_from_dict({"frontend": {"bogus": 1}})
    with pytest.raises(ConfigError, match="frontend"):
        config_from_dict({"frontend": {"n_channels": 4}})


def test_config_errors_name_the_file(tmp_path):
    path = tmp_path / "garbage.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="garbage.json"):
        load_config(path)


# --- WAV files --------------------------------------------------------------------------

def _wav_bytes(rate=8000, n=4000, channels=1):
    buf = io.BytesIO()
    x = (np.sin(np.arange(n) / 7.0) * 8000).astype(np.int16)
    scipy.io.wavfile.write(buf, rate, x if channels == 1 else np.stack([x] * channels, axis=1))
    return buf.getvalue()


GOOD_WAV = _wav_bytes()


@FUZZ
@given(st.data())
def test_damaged_wav_is_read_or_refused(tmp_path_factory, data):
    raw = bytearray(GOOD_WAV)
    kind = data.draw(st.sampled_from(["truncate", "flip", "rate", "size"]))
    if kind == "truncate":
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, min(len(raw) - 1, 64)))
            raw[i] = data.draw(st.integers(0, 255))
    elif kind == "rate":
        raw[24:28] = struct.pack("<I", data.draw(st.integers(0, 2**32 - 1)))
    else:
        raw[40:44] = struct.pack("<I", data.draw(st.integers(0, 2**32 - 1)))
    path = tmp_path_factory.mktemp("wav") / "x.wav"
    path.write_bytes(bytes(raw))
    try:
        x = read_wav(path)
    except DatasetError as e:
        assert "x.wav" in str(e)
        return
    assert x.ndim == 1 and x.size <= 60 * 8000 and np.all(np.abs(x) <= 1.0)


def test_a_riff_size_that_ends_before_the_data_chunk_is_refused(tmp_path):
    """Found by the fuzz test above: scipy's reader stops at the RIFF size and then fails with an
    UnboundLocalError (no fmt chunk read) instead of an error of its own."""
    raw = bytearray(GOOD_WAV)
    raw[4:6] = b"\x00\x00"
    path = tmp_path / "x.wav"
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="RIFF header ends the file"):
        read_wav(path)


def test_a_one_hertz_header_is_refused_before_allocating(tmp_path):
    raw = bytearray(GOOD_WAV)
    raw[24:28] = struct.pack("<I", 1)
    (tmp_path / "slow.wav").write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="slow.wav.*sample rate 1 Hz"):
        read_wav(tmp_path / "slow.wav")


def test_a_wav_cut_in_half_is_refused(tmp_path):
    (tmp_path / "half.wav").write_bytes(GOOD_WAV[: 44 + (len(GOOD_WAV) - 44) // 2])
    with pytest.raises(DatasetError, match="half.wav is truncated"):
        read_wav(tmp_path / "half.wav")


def test_a_truncated_header_is_refused(tmp_path):
    (tmp_path / "head.wav").write_bytes(GOOD_WAV[:30])
    with pytest.raises(DatasetError, match="head.wav"):
        read_wav(tmp_path / "head.wav")


# --- model files ------------------------------------------------------------------------

def _model(n_inputs=1):
    rng = np.random.default_rng(0)
    cfg = ModelConfig().replace(reservoir={"n_devices": 4, "n_virtual": 2})
    return TrainedModel(task="henon", config=cfg, n_inputs=n_inputs, n_outputs=1,
                        w_float=rng.normal(size=(8, 1)), b_float=np.zeros(1),
                        readout_int=IntReadout(rng.integers(-127, 128, (8, 1)), np.array([5]), 0.25),
                        preprocessing={"lo": [0.0]}, task_params={"seed": 3}, metrics={"x": 1})


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    return _model().save(tmp_path_factory.mktemp("m") / "m.npz").read_bytes()


def _same(a: TrainedModel, b: TrainedModel) -> bool:
    return (a.config == b.config and a.n_inputs == b.n_inputs and a.n_outputs == b.n_outputs
            and np.array_equal(a.w_float, b.w_float) and np.array_equal(a.readout_int.w, b.readout_int.w)
            and np.array_equal(a.readout_int.b, b.readout_int.b) and a.readout_int.scale == b.readout_int.scale)


@FUZZ
@given(st.data())
def test_randomly_damaged_model_files_are_refused_or_intact(tmp_path_factory, model_bytes, data):
    raw = bytearray(model_bytes)
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "cut", "zero"]))
        if op == "cut" and len(raw) > 1:
            raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
        elif raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = 0 if op == "zero" else data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("dmg") / "m.npz"
    path.write_bytes(bytes(raw))
    try:
        back = load_model(path)
    except ModelFileError as e:
        assert "pickle" not in str(e) and "\n" not in str(e)
        return
    assert _same(back, _model())        # accepted only if nothing that matters changed


def _rewrite_meta(path, out, **changes):
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    with np.load(path) as z:
        meta = json.loads(z["meta"].tobytes())
    meta.update(changes)
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8))
    members["meta.npy"] = buf.getvalue()
    with zipfile.ZipFile(out, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


@pytest.mark.parametrize("changes", [{"n_inputs": 7}, {"config": {**_model().config.to_dict(),
                                                                   "reservoir": {**_model().config.to_dict()["reservoir"],
                                                                                 "alpha": 0.5}}},
                                     {"int_scale": 3.0}])
def test_an_edited_header_is_refused(tmp_path, changes):
    path = _model().save(tmp_path / "m.npz")
    _rewrite_meta(path, tmp_path / "edited.npz", **changes)
    with pytest.raises(ModelFileError, match="edited"):
        load_model(tmp_path / "edited.npz")


def test_a_header_that_is_a_json_list_is_refused(tmp_path):
    arrays = {"meta": np.frombuffer(b"[1, 2]", dtype=np.uint8)}
    np.savez(tmp_path / "list.npz", **arrays)
    with pytest.raises(ModelFileError, match="JSON list"):
        load_model(tmp_path / "list.npz")


def test_an_object_array_gives_no_pickle_advice(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "obj.npz", "w") as z:
        z.write(tmp_path / "obj.npy", "meta.npy")
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "obj.npz")
    assert "pickle" not in str(e.value)


def test_a_failed_save_keeps_the_previous_model(tmp_path, monkeypatch):
    path = _model().save(tmp_path / "m.npz")
    before = path.read_bytes()

    def broken(f, **arrays):
        f.write(b"partial")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError):
        _model().save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]      # no temporary file left behind


@pytest.mark.parametrize("where", ["dir", "under-file"])
def test_bad_output_paths_are_refused_before_work(tmp_path, where):
    if where == "dir":
        target = tmp_path
    else:
        (tmp_path / "f").write_text("x")
        target = tmp_path / "f" / "m.npz"
    with pytest.raises(MemresError):
        _model().save(target)


def test_a_read_only_folder_is_refused(read_only_folder, model_bytes, tmp_path):
    """The model is saved in a process where the folder is read-only (also as root: see conftest)."""
    src = tmp_path / "m.npz"
    src.write_bytes(model_bytes)
    code = ("import sys\nfrom memres.sw_model.model_file import load_model\n"
            "from memres.sw_model.errors import MemresError\n"
            f"try:\n    load_model({str(src)!r}).save({str(read_only_folder.path / 'm.npz')!r})\n"
            "except MemresError as e:\n    print(type(e).__name__, e)\n    sys.exit(3)\n")
    r = read_only_folder.run(["python", "-c", code])
    assert r.returncode == 3 and "not writable" in r.stdout, r.stdout + r.stderr
    assert list(read_only_folder.path.iterdir()) == []
