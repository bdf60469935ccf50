"""hdl/spram.py: the SB_SPRAM256KA blocks on Verilator with Yosys' own model equal the behavioural RAM and a reference."""

import json
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from memres.hdl.spram import SPRAM_DEPTH, Spram, spram_blocks
from memres.testbenches.runner import run_cocotb, yosys_cell_model

HERE = Path(__file__).parent


def reference(ops, width, granularity):
    """rdata after each clock (None where undefined: after a write, before the first read)."""
    mem, out, defined = {}, 0, False
    expected = []
    for addr, en, we, wdata in ops:
        if we:
            word = mem.get(addr, 0)
            for i in range(width // granularity):
                if (we >> i) & 1:
                    field = ((1 << granularity) - 1) << (i * granularity)
                    word = (word & ~field) | (wdata & field)
            mem[addr] = word
            defined = False
        elif en:
            out, defined = mem.get(addr, 0), True
        expected.append(out if defined else None)
    return expected


def random_ops(rng, width, depth, granularity, count=600):
    """Writes to a few addresses in each bank, then reads, stalls (no en) and more writes mixed."""
    addrs = np.unique(np.concatenate([rng.integers(0, depth, 40), [0, depth - 1, SPRAM_DEPTH - 1]]))
    addrs = addrs[addrs < depth]
    all_we = (1 << (width // granularity)) - 1
    ops = [(int(a), 0, all_we, int(rng.integers(0, 1 << width))) for a in addrs]
    for _ in range(count):
        kind = rng.random()
        a = int(rng.choice(addrs))
        if kind < 0.15:
            ops.append((a, int(rng.integers(0, 2)), int(rng.integers(1, all_we + 1)), int(rng.integers(0, 1 << width))))
        elif kind < 0.3:
            ops.append((a, 0, 0, 0))               # hold
        else:
            ops.append((a, 1, 0, 0))
    return ops


def test_block_count():
    assert spram_blocks(16, 16384) == 1 and spram_blocks(17, 16384) == 2 and spram_blocks(8, 16385) == 2
    assert spram_blocks(20, 20000) == 4 and spram_blocks(16, 11000, 8) == 2 and spram_blocks(20, 100, 10) == 2


def test_behavioural_equals_reference():
    rng = np.random.default_rng(1)
    width, depth, gran = 20, 20000, 10
    ops = random_ops(rng, width, depth, gran)
    want = reference(ops, width, gran)
    dut = Spram(width, depth, granularity=gran, primitive=False)
    got = []

    async def bench(ctx):
        for addr, en, we, wdata in ops:
            ctx.set(dut.addr, addr)
            ctx.set(dut.en, en)
            ctx.set(dut.we, we)
            ctx.set(dut.wdata, wdata)
            await ctx.tick()
            got.append(ctx.get(dut.rdata))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for i, (g, w) in enumerate(zip(got, want)):
        if w is not None:
            assert g == w, f"op {i}: {g:#x}, reference {w:#x}"


@pytest.mark.parametrize("width, depth, gran", [(16, 1000, 8), (20, 20000, 20)])
def test_primitive_on_verilator_with_yosys_model(width, depth, gran, tmp_path):
    """The Instance design, compiled with Yosys' SB_SPRAM256KA model, reads what the reference says."""
    rng = np.random.default_rng(width + depth)
    ops = random_ops(rng, width, depth, gran)
    dut = Spram(width, depth, granularity=gran, primitive=True)
    src = tmp_path / "spram_top.v"
    src.write_text(verilog.convert(dut, name="spram_top"))
    assert "SB_SPRAM256KA" in src.read_text()
    model = yosys_cell_model("ice40", "SB_SPRAM256KA", tmp_path)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"ops": ops, "expected": reference(ops, width, gran)}))
    result = run_cocotb([src, model], "spram_top", "spram_cocotb", HERE, env={"MEMRES_SPRAM_JOB": str(job)},
                        build_args=["-Wno-BLKSEQ"])
    assert result.passed, result.summary()


def test_broken_reference_is_caught(tmp_path):
    """The Verilator check fails when the expected data are wrong (one read off by one)."""
    width, depth = 16, 1000
    rng = np.random.default_rng(5)
    ops = random_ops(rng, width, depth, width, count=200)
    exp = reference(ops, width, width)
    i = next(i for i, e in enumerate(exp) if e is not None)
    exp[i] ^= 1
    dut = Spram(width, depth, primitive=True)
    src = tmp_path / "spram_top.v"
    src.write_text(verilog.convert(dut, name="spram_top"))
    model = yosys_cell_model("ice40", "SB_SPRAM256KA", tmp_path)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"ops": ops, "expected": exp}))
    result = run_cocotb([src, model], "spram_top", "spram_cocotb", HERE, env={"MEMRES_SPRAM_JOB": str(job)},
                        build_args=["-Wno-BLKSEQ"])
    assert not result.passed
