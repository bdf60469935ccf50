"""The whole host-to-hardware path: ``memres run --sim`` against the board top on Verilator.

The board top (:class:`hdl.board.ReservoirBoard`, exactly what ``memres build``
places) runs under cocotb with the UART modelled bit by bit at the iCEBreaker's
12 MHz; the host code talks to it through a pseudo-terminal like to a real
serial port. Every frame's readout and every decision must equal the integer
model's (``sw_model``) for the same WAV files, also after a corrupted frame.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from amaranth.hdl import Fragment

from memres.hdl.top import core_timing
from memres.pygen import runtime
from memres.pygen.protocol import COUNTERS, MsgType
from memres.pygen.runtime import BoardClient, BoardMismatch, SerialPort, SimBoard, expected_decision, wav_codes
from memres.sw_model import __version__
from memres.sw_model.model_file import load_model

#: 12 MHz / 3 Mbaud = 4 clocks per bit: the fastest exact rate, so the simulation stays quick.
BAUD = 3_000_000


def _skip_without_simulator(e: Exception):
    from memres.testbenches.toolchain import ToolchainError
    if isinstance(e, ToolchainError) or "ToolchainError" in str(e):
        pytest.skip(f"Verilator/cocotb unavailable: {e}")


@pytest.fixture(scope="module")
def model(small_model):
    return load_model(small_model)


@pytest.fixture(scope="module")
def board(small_model, tmp_path_factory):
    """(SimBoard, BoardClient) sharing one serial session for the whole module."""
    try:
        sim = SimBoard(small_model, "icebreaker", baud=BAUD, work_dir=tmp_path_factory.mktemp("sim"))
        sim.__enter__()
    except Exception as e:  # noqa: BLE001
        _skip_without_simulator(e)
        raise
    port = SerialPort(sim.port, BAUD)
    try:
        client = BoardClient(port, sim.fmt, timeout=60, quiet=0.3)
        # The iCEBreaker's serial readout keeps its weights in SPRAM, which the bitstream does not set:
        # they are written at start-up, as `memres run` does.
        assert sim.params.weight_ram == "spram"
        ro = load_model(small_model).readout_int
        client.write_readout(sim.params, ro.w, ro.b)
        yield sim, client
    finally:
        port.close()
        sim.__exit__(None, None, None)


class CorruptingPort:
    """Passes bytes through, but flips one bit in the payload of the ``nth`` INPUT_FRAME written."""

    def __init__(self, port, nth: int):
        self.port, self.nth, self.count = port, nth, 0

    def write(self, data: bytes) -> None:
        if data[2] == MsgType.INPUT_FRAME:
            if self.count == self.nth:
                data = bytearray(data)
                data[9] ^= 0x04
            self.count += 1
        self.port.write(bytes(data))

    def read(self, timeout: float) -> bytes:
        return self.port.read(timeout)


def delta(before, after) -> dict:
    return {n: (after.counters[n] - before.counters[n]) % (1 << 16) for n in COUNTERS}


def test_the_simulated_board_answers_status_with_the_models_hash(board, model):
    sim, client = board
    st = client.check(model.config.hash(), __version__)
    assert st.config_hash.hex() == model.config.hash() and st.version == __version__


def test_the_simulated_board_gives_the_integer_models_decisions(board, model, wavs):
    sim, client = board
    for wav in wavs:
        codes = wav_codes(model, wav)
        decision, y = expected_decision(model, codes)
        d = client.classify(codes)
        assert d.frames == len(codes)
        assert d.y == y.tolist(), f"{wav.name}: per-frame readout differs from the integer model"
        assert d.decisions == [int(np.argmax(s)) for s in np.cumsum(y, axis=0)]
        assert d.decision == decision
        assert d.latency_s > 0


def test_a_corrupted_frame_is_dropped_counted_and_the_next_utterance_is_right(board, model, wavs):
    sim, client = board
    first, second = (wav_codes(model, w) for w in wavs[:2])
    assert len(first) > 12
    client.drain()
    before = client.status()
    faulty = BoardClient(CorruptingPort(client.port, nth=len(first) // 2), sim.fmt, timeout=60, quiet=0.3)
    d = faulty.classify_retrying(first, retries=2)
    assert d.retries == 1                          # the first attempt lost a frame and was resent
    assert d.decision == expected_decision(model, first)[0]
    d2 = faulty.classify(second)
    assert d2.decision == expected_decision(model, second)[0]
    faulty.drain()
    after = faulty.status()
    counts = delta(before, after)
    assert counts["bad_crc"] == 1 and counts["overrun"] == 0 and counts["truncated"] == 0
    # Both attempts at the first utterance and the second one: every good frame got its RESULT.
    assert counts["results"] == (len(first) - 1) + len(first) + len(second)
    assert counts["frames_ok"] == counts["results"] + 1      # + the STATUS_REQUEST


def test_a_board_built_for_another_model_is_refused(board, model):
    sim, client = board
    with pytest.raises(BoardMismatch, match="configuration hash"):
        client.check("0123456789abcdef", __version__)
    with pytest.raises(BoardMismatch, match="generator version"):
        client.check(model.config.hash(), "9.9.9")


def test_weight_writes_replace_the_readout(board, model, wavs):
    """The negated readout loaded over the link gives exactly -y; loading the model's restores it."""
    sim, client = board
    ro = model.readout_int
    codes = wav_codes(model, wavs[2])
    _, y = expected_decision(model, codes)
    assert client.write_readout(sim.params, -ro.w, -ro.b) == ro.w.size + ro.b.size
    assert client.classify(codes).y == (-y).tolist()
    client.write_readout(sim.params, ro.w, ro.b)
    assert client.classify(codes).y == y.tolist()


def test_sim_latency_is_the_boards_device_time(tiny_config, tmp_path):
    """`run --sim` reports the simulated board's latency in device time: the last INPUT_FRAME and its
    RESULT on the UART at the board's divisor, and the core's latency from core_timing at its clock."""
    sim = SimBoard(tiny_config, "icebreaker", baud=BAUD, n_inputs=8, n_outputs=4, work_dir=tmp_path)  # not started
    t = sim.device_timing()
    clk = sim.design.clk_freq
    assert clk == 12e6 and t["clock_hz"] == clk
    assert t["latency_cycles"] == core_timing(sim.params).latency > 0
    assert t["core_latency_s"] == pytest.approx(t["latency_cycles"] / 12e6)
    byte_s = 10 * sim.design.link.divisor / clk          # 8N1: ten bit times a byte
    assert t["input_frame_s"] == pytest.approx(sim.fmt.frame_bytes(MsgType.INPUT_FRAME) * byte_s)
    assert t["result_s"] == pytest.approx(sim.fmt.frame_bytes(MsgType.RESULT) * byte_s)
    assert t["latency_s"] == pytest.approx(t["input_frame_s"] + t["core_latency_s"] + t["result_s"])
    assert t["latency_s"] < 1e-3                          # microseconds at 3 Mbaud, whatever the simulator takes
    Fragment.get(sim.design, None)                        # elaborated, as a run would: nothing is left unused


def test_memres_run_sim_prints_the_decisions_as_json(small_model, model, wavs, capsys):
    parser = argparse.ArgumentParser()
    runtime.add_arguments(parser)
    args = parser.parse_args([str(small_model), "--sim", "--baud", str(BAUD), "--json", "-q",
                              *map(str, wavs[:2])])
    try:
        assert runtime.run(args) == 0
    except Exception as e:  # noqa: BLE001
        _skip_without_simulator(e)
        raise
    out = json.loads(capsys.readouterr().out)
    assert [d["file"] for d in out["decisions"]] == [str(w) for w in wavs[:2]]
    for d, wav in zip(out["decisions"], wavs):
        assert d["decision"] == expected_decision(model, wav_codes(model, wav))[0]
        assert d["latency_s"] > 0 and d["frames"] > 0 and d["retries"] == 0
        # latency_s is the board's (device time), not the simulator's wall time, which is sim_wall_s
        assert d["latency_s"] == out["device_timing"]["latency_s"] and d["sim_wall_s"] > 0
    assert out["counters"]["bad_crc"] == 0 and out["counters"]["results"] == sum(d["frames"] for d in out["decisions"])
