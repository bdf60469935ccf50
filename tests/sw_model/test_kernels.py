"""The numba kernels against the numpy reference: float to rounding, integer bit for bit."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memres.sw_model import kernels
from memres.sw_model.config import config_from_dict
from memres.sw_model.fixed import FixedReservoir, quantise_inputs
from memres.sw_model.reservoir import FloatReservoir

ROOT = Path(__file__).resolve().parents[2]

needs_numba = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed (or MEMRES_NUMBA=0)")


def test_numba_is_the_default_when_it_imports():
    cfg = config_from_dict({}).reservoir
    assert FloatReservoir(cfg, 2).backend == kernels.default_backend()
    assert kernels.default_backend() == ("numba" if kernels.AVAILABLE else "numpy")
    with pytest.raises(ValueError, match="backend"):
        FloatReservoir(cfg, 2, backend="fortran")


@st.composite
def configurations(draw):
    """A random reservoir + fixed-point configuration, input width and batch of sequence lengths."""
    tau_mode = draw(st.sampled_from(["single", "uniform", "log-spaced"]))
    tau = ({"mode": "single", "values_ns": [draw(st.floats(20.0, 5000.0))]} if tau_mode == "single" else
           {"mode": tau_mode, "low_ns": 50.0, "high_ns": draw(st.floats(60.0, 5000.0))})
    v_min = draw(st.floats(-3.0, 0.5))
    res = {
        "n_devices": draw(st.integers(1, 9)), "n_virtual": draw(st.integers(1, 5)),
        "alpha": draw(st.floats(1e-3, 2.0)), "dt_ns": draw(st.floats(0.1, 10.0)), "tau": tau,
        "v_min": v_min, "v_max": v_min + draw(st.floats(0.5, 4.0)), "input_scale": draw(st.floats(0.1, 3.0)),
        "g0": draw(st.floats(0.0, 1.0)), "kp": draw(st.floats(0.0, 2.0)), "kn": draw(st.floats(0.0, 2.0)),
        "idle_ns": draw(st.sampled_from([0.0, 3.0, 40.0])), "tau_spread": draw(st.sampled_from([0.0, 0.2])),
        "state_features": draw(st.booleans()), "seed": draw(st.integers(0, 1000)),
    }
    state_bits = draw(st.integers(6, 20))
    lut_bits = draw(st.integers(6, 20))
    fixed = {"input_bits": draw(st.integers(2, 12)), "pulse_bits": draw(st.integers(3, 12)),
             "gain_bits": draw(st.integers(4, 20)), "state_bits": state_bits,
             "decay_bits": draw(st.integers(6, 20)), "lut_bits": lut_bits,
             "current_bits": draw(st.integers(2, min(20, state_bits + lut_bits)))}
    n_inputs = draw(st.integers(1, 7))
    lengths = draw(st.lists(st.integers(1, 25), min_size=1, max_size=6))
    return {"reservoir": res, "fixed": fixed}, n_inputs, lengths, draw(st.integers(0, 2 ** 32 - 1))


def _seqs(n_inputs, lengths, seed):
    rng = np.random.default_rng(seed)
    # Include exact 0 and 1 frames (silence, saturation) beside random ones.
    return [np.where(rng.random((t, 1)) < 0.1, np.round(rng.random((t, n_inputs))), rng.random((t, n_inputs)))
            for t in lengths]


def _float_equal(a, b):
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * scale)


@needs_numba
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations())
def test_float_kernel_matches_numpy(case):
    d, n_inputs, lengths, seed = case
    cfg = config_from_dict(d).reservoir
    seqs = _seqs(n_inputs, lengths, seed)
    fast, ref = FloatReservoir(cfg, n_inputs, backend="numba"), FloatReservoir(cfg, n_inputs, backend="numpy")
    got, want = dict(fast.run(seqs, batch_size=4)), dict(ref.run(seqs, batch_size=4))
    for i in range(len(seqs)):
        _float_equal(got[i], want[i])
    padded = np.zeros((len(seqs), max(lengths), n_inputs))
    for i, s in enumerate(seqs):
        padded[i, :len(s)] = s
    (fa, sa), (fb, sb) = fast.run_batch(padded, record_states=True), ref.run_batch(padded, record_states=True)
    _float_equal(fa, fb)
    _float_equal(sa, sb)


@needs_numba
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations())
def test_integer_kernel_is_bit_exact(case):
    d, n_inputs, lengths, seed = case
    cfg = config_from_dict(d)
    seqs = [quantise_inputs(s, cfg.fixed.input_bits) for s in _seqs(n_inputs, lengths, seed)]
    fast = FixedReservoir(cfg.reservoir, cfg.fixed, n_inputs, backend="numba")
    ref = FixedReservoir(cfg.reservoir, cfg.fixed, n_inputs, backend="numpy")
    got, want = dict(fast.run(seqs, batch_size=4)), dict(ref.run(seqs, batch_size=4))
    for i in range(len(seqs)):
        assert got[i].dtype == np.int64
        np.testing.assert_array_equal(got[i], want[i])
    padded = np.zeros((len(seqs), max(lengths), n_inputs), dtype=np.int64)
    for i, s in enumerate(seqs):
        padded[i, :len(s)] = s
    (fa, sa), (fb, sb) = fast.run_batch(padded, record_states=True), ref.run_batch(padded, record_states=True)
    np.testing.assert_array_equal(fa, fb)
    np.testing.assert_array_equal(sa, sb)


@needs_numba
def test_read_noise_draws_the_same_stream():
    cfg = config_from_dict({"reservoir": {"n_devices": 5, "n_virtual": 3, "read_noise": 0.05}}).reservoir
    u = np.random.default_rng(3).random((3, 8, 4))
    fast, ref = FloatReservoir(cfg, 4, backend="numba"), FloatReservoir(cfg, 4, backend="numpy")
    for _ in range(2):  # the noise generator advances alike from call to call
        _float_equal(fast.run_batch(u), ref.run_batch(u))


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=needs_numba)])
@pytest.mark.parametrize("integer", [False, True])
def test_sequence_sums_equal_cumsum_of_the_features(backend, integer):
    cfg = config_from_dict({"reservoir": {"n_devices": 4, "n_virtual": 3, "state_features": True,
                                          "idle_ns": 5.0}})
    rng = np.random.default_rng(0)
    seqs = [rng.random((t, 3)) for t in (7, 1, 12, 4, 9)]
    if integer:
        seqs = [quantise_inputs(s, cfg.fixed.input_bits) for s in seqs]
        res = FixedReservoir(cfg.reservoir, cfg.fixed, 3, backend=backend)
    else:
        res = FloatReservoir(cfg.reservoir, 3, backend=backend)
    ends = np.array([[1, 3, 7], [1, 1, 1], [2, 12, 12], [4, 4, 4], [3, 6, 9]])
    got = res.sequence_sums(seqs, ends, batch_size=2)
    assert got.dtype == (np.int64 if integer else np.float64) and got.shape == (5, 3, res.n_features)
    feats = dict(res.run(seqs))
    for i in range(5):
        np.testing.assert_array_equal(got[i], np.cumsum(feats[i], axis=0)[ends[i] - 1])
    with pytest.raises(ValueError, match="ends"):
        res.sequence_sums(seqs, ends + 1)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_prefix_sums_kernel_equals_cumsum_bit_for_bit(dtype):
    """The kernel behind classify.SequenceSums.set against the numpy path (np.cumsum), exactly."""
    from memres.sw_model.classify import SequenceSums, prefix_ends
    rng = np.random.default_rng(5)
    for t in (1, 2, 3, 5, 43, 200):
        # wide dynamic range, so that a different order of additions would change float bits
        feats = rng.standard_normal((t, 37)) * 10.0 ** rng.integers(-8, 8, (t, 37))
        if dtype is np.int64:
            feats = rng.integers(-(1 << 40), 1 << 40, (t, 37))
        ends = prefix_ends(t)
        got, ref = np.full((4, 37), 7, dtype=dtype), np.full((4, 37), 7, dtype=dtype)
        kernels.prefix_sums(feats, ends, got, backend="numba")
        kernels.prefix_sums(feats, ends, ref, backend="numpy")
        assert got.tobytes() == ref.tobytes() == np.cumsum(feats, axis=0)[ends - 1].astype(dtype).tobytes()
        sums = SequenceSums.empty(3, 37, dtype)
        sums.set(1, feats)
        assert sums.sums[1].tobytes() == ref.tobytes() and not sums.sums[[0, 2]].any()
        assert sums.ends[1].tolist() == ends.tolist()
    # a strided view, as the reservoir's run yields slices of a padded batch
    feats = rng.standard_normal((9, 20))
    got = np.zeros((3, 10))
    kernels.prefix_sums(feats[:, ::2], np.array([2, 2, 9]), got, backend="numba")
    np.testing.assert_array_equal(got, np.cumsum(feats[:, ::2], axis=0)[[1, 1, 8]])


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, timeout=300)


def test_without_numba_the_numpy_path_runs():
    # numba made unimportable: the model falls back to numpy and still computes.
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np\n"
        "from sw_model import kernels\n"
        "from sw_model.config import config_from_dict\n"
        "from sw_model.fixed import FixedReservoir\n"
        "from sw_model.reservoir import FloatReservoir\n"
        "assert not kernels.AVAILABLE and kernels.default_backend() == 'numpy'\n"
        "cfg = config_from_dict({'reservoir': {'n_devices': 3, 'n_virtual': 2}})\n"
        "assert FloatReservoir(cfg.reservoir, 2).backend == 'numpy'\n"
        "x = FixedReservoir(cfg.reservoir, cfg.fixed, 2).run_batch(np.ones((1, 4, 2), dtype=np.int64) * 100)\n"
        "assert x.shape == (1, 4, 6) and x.any()\n"
        "print(float(FloatReservoir(cfg.reservoir, 2).run_batch(np.ones((1, 4, 2))).sum()))\n"
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) > 0


def test_integer_suite_passes_on_the_forced_numpy_path():
    # MEMRES_NUMBA=0 forces the numpy path everywhere: the integer-model tests hold there too.
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/sw_model/test_fixed.py", "tests/sw_model/test_device.py"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "MEMRES_NUMBA": "0"})
    assert out.returncode == 0, out.stdout[-3000:]
    assert " passed" in out.stdout


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not available")
def test_a_process_forked_after_a_parallel_kernel_can_run_it_again():
    """Sweeps fork workers after the parent ran a kernel: GNU OpenMP would kill them (numba's default)."""
    import multiprocessing as mp
    cfg = config_from_dict({"reservoir": {"n_devices": 4, "n_virtual": 2}})
    u = [np.random.default_rng(0).random((5, 2))]
    list(FloatReservoir(cfg.reservoir, 2).run(u))          # the parent runs a parallel kernel first
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=_run_kernel_in_child, args=(cfg.to_dict(), u))
    proc.start()
    proc.join(120)
    assert proc.exitcode == 0


def _run_kernel_in_child(cfg_dict, u):
    cfg = config_from_dict(cfg_dict)
    list(FloatReservoir(cfg.reservoir, 2).run(u))
