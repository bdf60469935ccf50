"""memres.hdl.board: PLL settings, the WEIGHT_WRITE address map and adapter, the board top's LEDs (Amaranth simulator)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from memres.hdl.board import (BOARDS, PllError, ReservoirBoard, WriteAdapter, bias_address, ecp5_pll, ice40_pll,
                       link_format, weight_address)
from memres.hdl.params import CoreParams
from memres.hdl.top import ReservoirCore
from memres.pygen.protocol import MsgType, encode
from memres.sw_model.config import config_from_dict
from memres.sw_model.fixed import FixedReservoir, build_constants

from boards_common import SMALL

CFG = config_from_dict(SMALL)


def params(n_inputs=8, n_outputs=3, lanes=1) -> CoreParams:
    return CoreParams(build_constants(CFG.reservoir, CFG.fixed, n_inputs), n_outputs, lanes)


# --- PLLs ------------------------------------------------------------------------------------

def test_ice40_pll_makes_24_mhz_from_12_like_icepll():
    pll = ice40_pll(12e6, 24e6)
    assert pll.f_out == 24e6
    assert (pll.params["DIVR"], pll.params["DIVF"], pll.params["DIVQ"], pll.params["FILTER_RANGE"]) == (0, 63, 5, 1)


@pytest.mark.parametrize("mhz", [16, 24, 30, 36, 48, 60, 100])
def test_ice40_pll_settings_stay_inside_the_datasheet_ranges(mhz):
    p = ice40_pll(12e6, mhz * 1e6).params
    f_pfd = 12e6 / (p["DIVR"] + 1)
    f_vco = f_pfd * (p["DIVF"] + 1)
    assert 10e6 <= f_pfd <= 133e6 and 533e6 <= f_vco <= 1066e6 and 1 <= p["DIVQ"] <= 6
    assert abs(f_vco / 2 ** p["DIVQ"] / (mhz * 1e6) - 1) <= 0.01


@pytest.mark.parametrize("mhz", [30, 40, 50, 75, 100, 125])
def test_ecp5_pll_settings_stay_inside_the_datasheet_ranges(mhz):
    pll = ecp5_pll(25e6, mhz * 1e6)
    p = pll.params
    pfd = 25e6 / p["CLKI_DIV"]
    assert 3.125e6 <= pfd <= 400e6 and 400e6 <= pll.f_out * p["CLKOP_DIV"] <= 800e6
    assert pll.f_out == pytest.approx(pfd * p["CLKFB_DIV"]) and abs(pll.error) <= 0.01
    assert p["CLKOP_CPHASE"] == (p["CLKOP_DIV"] - 1) // 2


def test_ecp5_pll_makes_100_mhz_exactly():
    assert ecp5_pll(25e6, 100e6).f_out == pytest.approx(100e6)


def test_unreachable_clocks_are_refused_with_the_range():
    with pytest.raises(PllError, match="16 to 275 MHz"):
        ice40_pll(12e6, 10e6)
    with pytest.raises(PllError, match="3.125 to 400 MHz"):
        ecp5_pll(25e6, 500e6)


def test_board_specs_name_their_leds_and_tools():
    assert BOARDS["icebreaker"].f_osc == 12e6 and BOARDS["icebreaker"].programmer == "iceprog"
    assert BOARDS["ulx3s"].f_osc == 25e6 and BOARDS["ulx3s"].programmer == "openFPGALoader"
    for spec in BOARDS.values():
        assert len(spec.decision_leds) >= 4     # K = 10 classes need 4 bits


# --- WEIGHT_WRITE --------------------------------------------------------------------------

def test_link_format_matches_the_core_layouts():
    p = params(32, 10)
    fmt = link_format(p)
    assert (fmt.n_inputs, fmt.input_bits, fmt.n_outputs) == (32, 8, 10)
    assert fmt.result_width == p.result_layout["y"].shape.elem_shape.width
    assert fmt.addr_bits >= (p.n_features + 1).bit_length() + p.decision_bits
    assert fmt.value_bits >= p.load_layout["value"].shape.width


def test_addresses_are_feature_and_output_fields():
    p = params(8, 3)
    assert weight_address(p, 0, 0) == 0
    assert weight_address(p, 5, 2) == (5 << 2) | 2
    assert bias_address(p, 1) == (p.n_features << 2) | 1
    with pytest.raises(ValueError, match="outside the readout"):
        weight_address(p, p.n_features, 0)


def test_write_adapter_maps_addresses_to_node_device_k_and_saturates():
    p = params(8, 3)       # K = 3: the output field (2 bits) can hold an invalid k = 3
    fmt = link_format(p)
    dut = WriteAdapter(p, fmt)
    rng = np.random.default_rng(1)
    width = p.load_layout["value"].shape.width
    vmax = (1 << (width - 1)) - 1
    writes, expect = [], []
    for j in range(p.n_features):
        for k in range(p.n_outputs):
            v = int(rng.integers(-127, 128))
            writes.append((weight_address(p, j, k), v))
            node, device = divmod(j, p.n_devices)
            expect.append((0, node, device, k, v))
    for k in range(p.n_outputs):
        writes.append((bias_address(p, k), -1000 * (k + 1)))
        expect.append((1, None, None, k, -1000 * (k + 1)))
    writes += [((p.n_features + 1) << 2, 5), ((3 << 2) | 3, 5)]             # beyond the readout, k = 3: dropped
    writes.append((weight_address(p, 1, 1), (1 << 31) - 1))                # saturated to the load width
    expect.append((0, 0, 1, 1, vmax))
    got = []

    async def source(ctx):
        for addr, value in writes:
            ctx.set(dut.i.payload.addr, addr)
            ctx.set(dut.i.payload.value, value)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        while len(got) < len(expect):
            ctx.set(dut.o.ready, int(rng.random() < 0.6))
            _, _, valid, ready, pl = await ctx.tick().sample(dut.o.valid, dut.o.ready, dut.o.payload)
            if valid and ready:
                got.append((pl.bias, pl.node, pl.device, pl.k, pl.value))
        for _ in range(40):            # nothing more comes out
            ctx.set(dut.o.ready, 1)
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    sim.run()
    got = [(b, None if b else n, None if b else d, k, v) for b, n, d, k, v in got]
    assert got == expect


# --- the board top --------------------------------------------------------------------------

def uart_levels(data: bytes, divisor: int):
    for byte in data:
        for level in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
            yield level, divisor


def test_board_leds_show_the_sequence_decision_activity_and_drops():
    """A 3-frame sequence over the RX pin lights the decision LEDs with the integer model's decision;
    a corrupted frame lights the 'dropped' LED."""
    p = params(8, 3)
    rng = np.random.default_rng(7)
    w = rng.integers(-127, 128, size=(p.n_features, p.n_outputs))
    b = np.zeros(p.n_outputs, dtype=np.int64)
    codes = rng.integers(0, 256, size=(3, 8))
    feats = FixedReservoir(CFG.reservoir, CFG.fixed, 8).run_batch(codes[None])[0]
    expect = int(np.argmax((feats @ w + b).sum(axis=0)))
    if expect == 0:           # make the decision visible: the LEDs start at 0
        w[:, [0, 1]] = w[:, [1, 0]]
        expect = int(np.argmax((feats @ w + b).sum(axis=0)))
    assert expect != 0
    core = ReservoirCore(p, w, b, trace=False)
    dut = ReservoirBoard(core, clk_freq=1e6, baud=250_000, config_hash="0123456789abcdef", version="test")
    fmt, divisor = dut.fmt, dut.link.divisor
    frames = b"".join(fmt.encode_input_frame(codes[t].tolist(), first=t == 0, last=t == 2) for t in range(3))
    bad = bytearray(fmt.encode_input_frame([0] * 8, first=True))
    bad[7] ^= 0x10
    seen, counts = {}, {"results": 0, "bad_crc": 0}

    async def count_events(ctx):
        async for _, _, events in ctx.tick().sample(dut.link.events):
            for name in counts:
                counts[name] += int(getattr(events, name))

    async def bench(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(20)
        assert ctx.get(dut.leds.decision) == 0 and not ctx.get(dut.leds.dropped)
        for level, n in uart_levels(frames, divisor):
            ctx.set(dut.rx, level)
            await ctx.tick().repeat(n)
        assert ctx.get(dut.leds.activity)
        result_bits = 10 * divisor * fmt.frame_bytes(MsgType.RESULT)
        await ctx.tick().repeat(3 * result_bits + 500)
        seen["decision"] = ctx.get(dut.leds.decision)
        seen["results"] = counts["results"]
        for level, n in uart_levels(bytes(bad) + encode(MsgType.STATUS_REQUEST), divisor):
            ctx.set(dut.rx, level)
            await ctx.tick().repeat(n)
        await ctx.tick().repeat(50)
        seen["dropped"] = ctx.get(dut.leds.dropped)
        seen["bad_crc"] = counts["bad_crc"]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(count_events)
    sim.run()
    assert seen == {"decision": expect, "results": 3, "dropped": 1, "bad_crc": 1}
