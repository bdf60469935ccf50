"""The contract read independently: contract_reference.py (docs/fixed_point.md + constants.json, no memres)
against sw_model's integer model and against the RTL, on random configurations and on sequences long
enough that the per-sequence sums saturate (``fixed.max_frames`` = 1)."""

import dataclasses
import json

import numpy as np
import pytest

import contract_reference as ref
from memres.hdl.design import Design
from memres.pygen import generate as gen
from memres.pygen import manifest
from memres.pygen.verify import check_design, write_verilog
from memres.sw_model import classify
from memres.sw_model.config import config_from_dict
from memres.sw_model.fixed import FixedReservoir
from memres.sw_model.model_file import TrainedModel
from memres.sw_model.readout import IntReadout
from memres.testbenches.check import format_mismatch
from memres.testbenches.predict import Expectation, random_design
from memres.testbenches.stimulus import random_sequences


def saturating(d: Design, rng: np.random.Generator, max_frames: int = 1) -> Design:
    """``d`` with ``fixed.max_frames`` small and biases near +-b_lim, so the sequence sums saturate."""
    cfg = d.config.to_dict()
    cfg["fixed"]["max_frames"] = max_frames
    s = dataclasses.replace(d, config=config_from_dict(cfg))
    p = s.params
    b = rng.integers(p.bias_max // 2, p.bias_max + 1, size=p.n_outputs) * rng.choice([-1, 1], size=p.n_outputs)
    b[rng.integers(p.n_outputs)] = p.bias_max      # at least one class runs into +Y_lim
    s.w, s.b = d.w, b.astype(np.int64)
    return s


def constants_of(d: Design) -> dict:
    """The constants file ``memres generate`` writes for this design (as text, read back)."""
    return json.loads(manifest.dumps(manifest.constants_of(d.params, d.w, d.b)))


def sw_model_view(d: Design, seqs):
    """sw_model's integer evaluation: features, per-frame outputs, running sums and decisions_int."""
    res = FixedReservoir(d.config.reservoir, d.config.fixed, d.n_inputs)
    sat = classify.Saturation.of(res.k)
    sums = classify.SequenceSums.empty(len(seqs), res.n_features, np.int64, sat)
    feats = {}
    for i, f in res.run(seqs):
        feats[i] = f
        sums.set(i, f)
    return feats, sums, classify.decisions_int(sums, d.readout), sat


def compare(c: dict, d: Design, seqs) -> int:
    """Assert the reference and sw_model agree on every value; return how many sums saturated."""
    feats, sums, dec_int, sat = sw_model_view(d, seqs)
    assert sat.limit == c["sequence_sum_limit"]
    saturated = 0
    for i, seq in enumerate(seqs):
        assert ref.features(c, seq) == feats[i].tolist(), f"features of sequence {i}"
        y = d.readout(feats[i])
        assert ref.outputs(c, seq) == y.tolist(), f"outputs of sequence {i}"
        r_sums, r_dec = ref.decisions(c, seq)
        s_sums, s_dec = classify.running_decisions(y, sat.limit)
        assert r_sums == s_sums.tolist() and r_dec == s_dec.tolist(), f"running sums of sequence {i}"
        assert [r_dec[e - 1] for e in sums.ends[i]] == dec_int[i].tolist(), f"decisions_int of sequence {i}"
        saturated += sum(abs(v) == sat.limit for row in r_sums for v in row)
    return saturated


@pytest.mark.parametrize("seed", range(8))
def test_reference_agrees_with_sw_model(seed):
    rng = np.random.default_rng(100 + seed)
    d = random_design(seed, max_devices=10, max_virtual=3, max_inputs=6, max_outputs=4)
    if seed % 2:
        d = saturating(d, rng)
        seqs = random_sequences(d, rng, 4, 24)
        seqs[0] = np.concatenate([seqs[0], random_sequences(d, rng, 1, 24)[0]])[:24] if len(seqs[0]) < 8 else seqs[0]
        assert compare(constants_of(d), d, seqs) > 0, "the sums must saturate"
    else:
        compare(constants_of(d), d, random_sequences(d, rng, 4, 10))


def test_saturating_rule_differs_from_the_clamped_total():
    """Beyond max_frames, decisions_int follows the saturating running sum (as the reference does), which is
    not the argmax of the exact total: class 1 saturates at +Y_lim on full-scale frames, then falls below
    class 0 (always 0) on zero frames, while its exact total stays positive."""
    cfg = config_from_dict({"reservoir": {"n_devices": 2, "n_virtual": 1}, "fixed": {"max_frames": 1}})
    d = Design(cfg, 1, 2, 1, np.zeros((2, 2), dtype=np.int64), np.zeros(2, dtype=np.int64))
    p = d.params
    c = constants_of(d)
    u_max = p.k.u_max
    x_full, x_zero = (np.array(ref.features(c, [[u]] * 50)[-1]) for u in (u_max, 0))    # steady states
    w1 = np.sign(x_full - x_zero).astype(np.int64) * p.weight_max
    span = int(w1 @ (x_full - x_zero))                  # y1(full) - y1(zero)
    delta = max(1, span // 10)
    b1 = -int(w1 @ x_zero) - delta                      # y1(zero) = -delta, y1(full) = span - delta
    assert abs(b1) <= p.bias_max and span > delta
    d.w = np.stack([np.zeros(p.n_features, dtype=np.int64), w1], axis=1)
    d.b = np.array([0, b1], dtype=np.int64)
    lim = p.seq_limit
    n1 = -(-6 * lim // (span - delta))
    n2 = 2 * lim // delta + 1
    seq = np.array([[u_max]] * n1 + [[0]] * n2)
    c = constants_of(d)
    _, dec = ref.decisions(c, seq)
    total = np.array(ref.outputs(c, seq)).sum(axis=0)
    assert compare(c, d, [seq]) > 0
    assert total[1] > 0 and int(np.argmax(total)) == 1
    assert dec[-1] == 0


@pytest.mark.parametrize("change", ["mask", "r", "a_lut", "f_lut", "g0", "weights", "limit"])
def test_comparison_catches_a_wrong_constant(change):
    rng = np.random.default_rng(3)
    d = saturating(random_design(3, max_devices=8, max_virtual=3, max_inputs=4, max_outputs=3), rng)
    seqs = random_sequences(d, rng, 3, 16)
    seqs[0] = np.full((16, d.n_inputs), d.params.k.u_max)
    c = constants_of(d)
    compare(c, d, seqs)                      # the true constants agree
    if change == "mask":
        c["mask"][0][0][0] *= -1
    elif change == "r":
        # one LSB of r moves the state by (g - g0) / 2^decay_bits, below one state LSB when decay_bits
        # exceeds state_bits (10 bits here): the change is made one state LSB large
        c["r"][0] -= 1 << max(0, c["fixed"]["decay_bits"] - c["fixed"]["state_bits"])
    elif change in ("a_lut", "f_lut"):
        for q in range(len(c[change])):        # every entry one LSB off (an off-by-one table)
            c[change][q] += 1
    elif change == "g0":
        c["g0"] += 1
    elif change == "weights":
        c["weights"][0][0] += 1 if c["weights"][0][0] < c["weight_max"] else -1
    elif change == "limit":
        c["sequence_sum_limit"] -= 1
    with pytest.raises(AssertionError):
        compare(c, d, seqs)


def test_generated_constants_file_is_all_the_reference_needs(tmp_path):
    """Through the real artefact: memres generate -> constants.json -> the reference."""
    cfg = config_from_dict({"reservoir": {"n_devices": 5, "n_virtual": 3, "state_features": True, "idle_ns": 20.0},
                            "fixed": {"state_bits": 12, "current_bits": 14, "max_frames": 2}})
    model = TrainedModel(task="test", config=cfg, n_inputs=3, n_outputs=2)
    k = model.constants()
    rng = np.random.default_rng(5)
    model.readout_int = IntReadout(w=rng.integers(-127, 128, size=(k.n_features, 2)),
                                   b=rng.integers(-1000, 1000, size=2), scale=1.0)
    m = gen.generate(model.save(tmp_path / "m.npz"), tmp_path / "core")
    c = ref.load(tmp_path / "core" / m["files"]["constants"])
    d = Design(cfg, 3, 2, 1, model.readout_int.w, model.readout_int.b)
    compare(c, d, random_sequences(d, rng, 3, 12))


# --- the RTL (Verilator) ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 6])
def test_reference_agrees_with_rtl_on_saturating_sums(seed, tmp_path):
    """The RTL is checked on every clock against sw_model (memres verify's machinery); the reference agrees
    with those expected results on every frame, here with sums that saturate (max_frames = 1)."""
    rng = np.random.default_rng(200 + seed)
    d = saturating(random_design(seed, max_devices=8, max_virtual=3, max_inputs=4, max_outputs=4), rng)
    seqs = random_sequences(d, rng, 3, 20)
    seqs[0] = np.concatenate([seqs[0]] * (1 + 20 // len(seqs[0])))[:20]
    v = tmp_path / "memres_top.v"
    write_verilog(d, v)
    rep = check_design(d, v, seqs, sim="verilator", run_dir=tmp_path / "run", seed=seed)
    assert rep["passed"], format_mismatch(rep["first_mismatch"])
    assert rep["results_checked"] == sum(map(len, seqs))
    c = constants_of(d)
    assert compare(c, d, seqs) > 0, "the sums must saturate"
    exp = Expectation(d, seqs)
    for i, seq in enumerate(seqs):
        y = ref.outputs(c, seq)
        _, dec = ref.decisions(c, seq)
        assert y == exp.get(i).y.tolist() and dec == list(exp.get(i).decisions)
    assert rep["decisions"] == [ref.decisions(c, s)[1][-1] for s in seqs]


def test_model_file_layout_as_documented(tmp_path):
    """docs/model.md "Model file": the header and the digest recomputed with numpy, json and hashlib alone."""
    import hashlib
    cfg = config_from_dict({"reservoir": {"n_devices": 4, "n_virtual": 2}})
    model = TrainedModel(task="test", config=cfg, n_inputs=2, n_outputs=3)
    model.readout_int = IntReadout(w=np.ones((8, 3), dtype=np.int64), b=np.arange(3), scale=0.25)
    path = model.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    text = arrays.pop("meta").tobytes().decode("utf-8")
    meta = json.loads(text)
    assert (meta["format"], meta["format_version"], meta["int_scale"]) == ("memres-model", 2, 0.25)
    assert sorted(arrays) == ["b_int", "w_int"] and arrays["w_int"].dtype.str == "<i8"
    h = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "digest"}, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode() + a.tobytes())
    assert meta["digest"] == "sha256:" + h.hexdigest()


def test_sequence_sums_take_keeps_the_long_sequences():
    """SequenceSums.take (cross-validation folds, test sets) carries the kept frames to their new rows."""
    sat = classify.Saturation(limit=10, max_frames=2)
    sums = classify.SequenceSums.empty(4, 1, np.int64, sat)
    for i, t in enumerate([1, 3, 2, 5]):
        sums.set(i, np.ones((t, 1), dtype=np.int64))
    assert sorted(sums.frames) == [1, 3]
    for idx in (np.array([3, 0, 1]), np.array([False, True, False, True]), [-1]):
        part = sums.take(idx)
        lengths = [len(part.frames[j]) if j in part.frames else None for j in range(len(part.ends))]
        want = [len(sums.frames[i]) if i in sums.frames else None for i in np.arange(4)[np.asarray(idx)]]
        assert lengths == want
