# amaranth: UnusedElaboratable=no
"""ReadoutCrossbar and SerialReadoutCrossbar against IntReadout (y = x W + b per frame), with back-pressure
and run-time loads."""

import dataclasses

import numpy as np
import pytest

from memres.hdl import HardwareParamError, ReadoutCrossbar, SerialReadoutCrossbar
from memres.hdl.top import variants
from hdl_reference import feature_beats, frame_sums, make_params, random_readout, random_sequences
from hdl_sim import StreamChecker, StreamDriver, simulate


def check_readout(p, ro, seqs, rng, gap=0.3, stall=0.3, dut=None, loads=()):
    """Drive feature beats (and load beats), compare every output beat: a frame's y[K] (parallel) or
    its y[k] one per beat, k = 0 .. K-1 (serial)."""
    dut = dut or variants(p)[0](p, ro.w, ro.b)
    expected = np.concatenate(frame_sums(p, ro, seqs))
    firsts = [t == 0 for s in seqs for t in range(len(s))]
    lasts = [t == len(s) - 1 for s in seqs for t in range(len(s))]
    drivers = [StreamDriver(dut.i, feature_beats(p, seqs), rng, gap)]
    if loads:
        drivers.append(StreamDriver(dut.load, loads, rng, gap))
    per_frame = p.n_outputs if p.serial else 1
    chk = StreamChecker(dut.o, len(expected) * per_frame, rng, stall)
    simulate(dut, drivers, [chk])
    for t, exp in enumerate(expected):
        beats = chk.beats[t * per_frame:(t + 1) * per_frame]
        got = [b.y for b in beats] if p.serial else [beats[0].y[k] for k in range(p.n_outputs)]
        assert got == [int(v) for v in exp], f"frame {t}"
        for b in beats:
            assert (b.first, b.last) == (firsts[t], lasts[t]), f"frame {t} flags"
    return dut


def _variant(p, readout):
    return dataclasses.replace(p, readout=readout)


@pytest.mark.parametrize("readout", ["parallel", "serial"])
@pytest.mark.parametrize("lanes, n, ml, c, sf", [(1, 5, 2, 3, True), (2, 6, 3, 4, False), (4, 6, 2, 5, True)])
def test_readout_matches_model_random(lanes, n, ml, c, sf, readout):
    rng = np.random.default_rng(lanes * 7 + n)
    p = _variant(make_params(n, ml, c, lanes=lanes, state_features=sf), readout)
    check_readout(p, random_readout(p, rng), random_sequences(p, rng, 3, 4), rng)


def test_serial_readout_single_output():
    """K = 1: accumulator 0 is read in the clock it is written (transparent read port)."""
    rng = np.random.default_rng(3)
    p = _variant(make_params(4, 2, 3, 1, lanes=2, state_features=False), "serial")
    check_readout(p, random_readout(p, rng), random_sequences(p, rng, 3, 4), rng, gap=0.0, stall=0.5)


@pytest.mark.parametrize("readout", ["parallel", "serial"])
def test_readout_extreme_weights_and_features(readout):
    """Weights and biases at their limits (all +max, all -max, random signs) on saturating inputs."""
    rng = np.random.default_rng(5)
    p = _variant(make_params(4, 2, 3, lanes=2, reservoir={"input_scale": 4.0, "alpha": 50.0}), readout)
    ro = random_readout(p, rng, extreme=True)
    ro.w[:, 0], ro.b[0] = p.weight_max, p.bias_max
    ro.w[:, 1], ro.b[1] = -p.weight_max, -p.bias_max
    check_readout(p, ro, random_sequences(p, rng, 2, 3, "full"), rng)


@pytest.mark.parametrize("readout", ["parallel", "serial", "serial-spram"])
def test_readout_load_port_replaces_the_readout(readout):
    """Weights baked at zero, then every W[j, k] and b[k] written through the load port.

    ``serial-spram``: the weights in the SPRAM's behavioural model, which starts empty (as the
    iCE40's SPRAM after configuration): the loads are what fills it."""
    rng = np.random.default_rng(9)
    p = _variant(make_params(6, 2, 3, lanes=2, state_features=True), readout.split("-")[0])
    if readout.endswith("spram"):
        p = dataclasses.replace(p, weight_ram="spram-sim")
    ro = random_readout(p, rng)
    dut = variants(p)[0](p, np.zeros_like(ro.w) if p.weight_ram == "block" else ro.w, np.zeros_like(ro.b))
    loads = []
    for j in range(p.n_features):
        node, dev = divmod(j, p.n_devices)
        for k in range(p.n_outputs):
            loads.append({"value": int(ro.w[j, k]), "k": k, "device": dev, "node": node, "bias": 0})
    loads += [{"value": int(ro.b[k]), "k": k, "device": 0, "node": 0, "bias": 1} for k in range(p.n_outputs)]
    # Out-of-range values saturate; out-of-range addresses are ignored (written first, then overwritten).
    loads = [{"value": 10 ** 6, "k": 0, "device": 0, "node": 0, "bias": 0}] + loads
    if p.passes < 1 << len(dut.load.p.node):      # a pass beyond the readout
        loads += [{"value": 5, "k": k, "device": 0, "node": p.passes, "bias": 0} for k in range(p.n_outputs)]
    if p.n_outputs < 1 << len(dut.load.p.k):      # k beyond the outputs (the next row's word when serial)
        loads += [{"value": 7, "k": p.n_outputs, "device": 0, "node": 0, "bias": b} for b in (0, 1)]
    seqs = random_sequences(p, rng, 2, 3)
    # The loads win against frames that have not started, so every frame sees the loaded readout.
    check_readout(p, ro, seqs, rng, gap=0.0, dut=dut, loads=loads)


@pytest.mark.parametrize("crossbar", [ReadoutCrossbar, SerialReadoutCrossbar])
def test_readout_refuses_weights_beyond_the_contract(crossbar):
    p = make_params(4, 2, 3)
    w = np.zeros((p.n_features, p.n_outputs), dtype=np.int64)
    w[0, 0] = p.weight_max + 1
    with pytest.raises(HardwareParamError, match="weight"):
        crossbar(p, w, np.zeros(p.n_outputs))
    with pytest.raises(HardwareParamError, match="shape"):
        crossbar(p, w[1:], np.zeros(p.n_outputs))


def test_readout_variants_share_one_signature():
    """The two crossbars have the same members (i, o, load) and directions; o carries a frame's K sums
    (parallel) or one y[k] (serial)."""
    p = make_params(4, 2, 3)
    ro = random_readout(p, np.random.default_rng(1))
    a, b = ReadoutCrossbar(p, ro.w, ro.b), SerialReadoutCrossbar(p, ro.w, ro.b)
    assert [(n, m.flow) for n, m in a.signature.members.items()] == \
        [(n, m.flow) for n, m in b.signature.members.items()]
    assert a.o.p.shape() == p.frame_sum_layout and b.o.p.shape() == p.output_sum_layout


def test_spram_readout_starts_empty_and_needs_the_weights_written():
    """Weights in SPRAM are not initialised by the design: unloaded, the sums are the biases alone."""
    rng = np.random.default_rng(10)
    p = dataclasses.replace(make_params(6, 2, 3, lanes=2), readout="serial", weight_ram="spram-sim")
    ro = random_readout(p, rng)
    empty = dataclasses.replace(ro, w=np.zeros_like(ro.w))
    check_readout(p, empty, random_sequences(p, rng, 2, 3), rng, dut=SerialReadoutCrossbar(p, ro.w, ro.b))


def test_spram_needs_the_serial_readout():
    with pytest.raises(HardwareParamError, match="serial"):
        dataclasses.replace(make_params(4, 2, 3), weight_ram="spram")
    with pytest.raises(HardwareParamError, match="weight_ram"):
        dataclasses.replace(make_params(4, 2, 3), readout="serial", weight_ram="flash")
