"""hdl.multiplier.RegisteredMultiplier: two enabled clocks of latency, and the ECP5 block it becomes."""

from __future__ import annotations

import random
from types import SimpleNamespace

from amaranth.hdl import Fragment, Instance, signed, unsigned
from amaranth.sim import Simulator

from memres.hdl.multiplier import RegisteredMultiplier


def test_product_two_enabled_clocks_later():
    dut = RegisteredMultiplier(unsigned(16), signed(17))
    rng = random.Random(1)
    ops = [(rng.randrange(1 << 16), rng.randrange(-(1 << 16), 1 << 16)) for _ in range(60)]
    ops[:4] = [(65535, -65536), (65535, 65535), (0, -1), (1, -65536)]     # the extremes

    async def bench(ctx):
        pending = []       # operands loaded, oldest first
        for step, (a, b) in enumerate(ops):
            en = step % 3 != 2                      # stall every third clock: nothing moves
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.en, en)
            await ctx.tick()
            if en:
                pending.append(a * b)
                if len(pending) >= 2:
                    assert ctx.get(dut.p) == pending[-2]
            elif len(pending) >= 2:
                assert ctx.get(dut.p) == pending[-2]    # held while en is low

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def _instances(dut, platform):
    frag = Fragment.get(dut, platform)
    found = []

    def walk(f):
        if isinstance(f, Instance):
            found.append(f)
        for sub, _name, _src in getattr(f, "subfragments", ()):
            walk(sub)
    walk(frag)
    return found


def test_on_an_ecp5_it_is_a_registered_mult18x18d():
    ecp5 = SimpleNamespace(family="ecp5")
    inst = _instances(RegisteredMultiplier(unsigned(16), signed(17)), ecp5)
    assert [i.type for i in inst] == ["MULT18X18D"]
    params = inst[0].parameters
    for reg in ("INPUTA", "INPUTB", "OUTPUT"):
        assert params[f"REG_{reg}_CLK"] == "CLK0"
    assert params["REG_PIPELINE_CLK"] == "NONE"
    assert "CE0" in inst[0].ports and "SRIA0" not in inst[0].ports and "SRIB0" not in inst[0].ports


def test_elsewhere_or_too_wide_it_is_behavioural():
    assert not _instances(RegisteredMultiplier(unsigned(16), signed(17)), None)
    assert not _instances(RegisteredMultiplier(unsigned(16), signed(17)), SimpleNamespace(family="ice40"))
    wide = RegisteredMultiplier(unsigned(18), signed(17))      # 19 bits signed: not one block
    assert not wide.fits_dsp and not _instances(wide, SimpleNamespace(family="ecp5"))
