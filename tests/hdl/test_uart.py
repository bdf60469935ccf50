"""memres.hdl.uart against a bit-level UART model in Amaranth's simulator.

The model (:func:`uart_waveform`, :func:`decode_uart`) is also used by
test_link.py and by its cocotb test on Verilator.
"""

import random

import pytest
from amaranth.sim import Simulator

from memres.hdl.uart import BaudError, UartRx, UartTx, baud_divisor

CLK = 12e6


# --------------------------------------------------------------------------- bit-level model


def uart_waveform(data: bytes, bit_cycles: float, gaps=None, stop_bits=None) -> list[tuple[int, int]]:
    """8N1 line levels for *data* as (level, clocks) runs; *bit_cycles* may be fractional
    (a transmitter whose baud rate differs from the receiver's).  ``gaps[i]`` idle clocks
    before byte i; ``stop_bits[i]`` = 0 makes byte i a framing error."""
    runs, t = [], 0.0
    for i, b in enumerate(data):
        gap = gaps[i] if gaps else 0
        if gap:
            runs.append((1, gap))
        stop = 1 if stop_bits is None else stop_bits[i]
        bits = [0] + [(b >> k) & 1 for k in range(8)] + [stop]
        for level in bits:
            n = round(t + bit_cycles) - round(t)
            t += bit_cycles
            runs.append((level, n))
        if stop == 0:   # a framing error: hold low a little, then release
            runs.append((1, 1))
    return runs


def decode_uart(samples: list[int], divisor: int) -> list[int]:
    """Bytes found in a line sampled once per clock (mid-bit sampling, stop bit checked)."""
    out, i, n = [], 1, len(samples)
    while i < n:
        if samples[i - 1] == 1 and samples[i] == 0:
            mid = [i + divisor // 2 + k * divisor for k in range(10)]
            if mid[-1] >= n:
                break
            bits = [samples[j] for j in mid]
            assert bits[0] == 0, f"start bit at clock {i} is not low in its middle"
            assert bits[9] == 1, f"framing error in the byte starting at clock {i}"
            out.append(sum(bit << k for k, bit in enumerate(bits[1:9])))
            i = mid[9]
        else:
            i += 1
    return out


async def drive_line(ctx, pin, runs):
    for level, clocks in runs:
        ctx.set(pin, level)
        await ctx.tick().repeat(clocks)
    ctx.set(pin, 1)


def record(pin, samples: list):
    """A process appending the pin's level every clock."""
    async def process(ctx):
        async for _, _, value in ctx.tick().sample(pin):
            samples.append(value)
    return process


# --------------------------------------------------------------------------- divisor


def test_divisor_and_baud_error_check():
    assert baud_divisor(12e6, 115200) == 104
    assert baud_divisor(12e6, 3e6) == 4
    assert baud_divisor(25e6, 1e6) == 25
    with pytest.raises(BaudError, match=r"3e\+06 baud at 25 MHz: divisor 8 gives 3125000.0 baud, \+4.17% off"):
        baud_divisor(25e6, 3e6)
    with pytest.raises(BaudError, match="at least 4"):
        baud_divisor(12e6, 4e6)
    with pytest.raises(BaudError):
        UartRx(25e6, 3e6)


# --------------------------------------------------------------------------- receiver


def run_rx(runs, divisor=4, ready=lambda rng: 1, seed=0, tail=100):
    dut = UartRx(divisor * 1e6, 1e6)
    rng = random.Random(seed)
    got, events = [], {"framing_error": 0, "overrun": 0}

    async def line(ctx):
        await ctx.tick().repeat(5)
        await drive_line(ctx, dut.rx, runs)
        await ctx.tick().repeat(tail)

    async def sink(ctx):
        while True:
            ctx.set(dut.o.ready, ready(rng))
            _, _, valid, rdy, payload, fe, ov = await ctx.tick().sample(
                dut.o.valid, dut.o.ready, dut.o.payload, dut.framing_error, dut.overrun)
            if valid and rdy:
                got.append(payload)
            events["framing_error"] += fe
            events["overrun"] += ov

    sim = Simulator(dut)
    sim.add_clock(1 / (divisor * 1e6))
    sim.add_testbench(line)
    sim.add_testbench(sink, background=True)
    sim.run()
    return got, events


@pytest.mark.parametrize("divisor, skew", [(4, 1.0), (16, 1.0), (16, 1.02), (16, 0.98), (104, 1.019)])
def test_rx_receives_random_bytes_within_baud_tolerance(divisor, skew):
    rng = random.Random(divisor)
    data = bytes(rng.randrange(256) for _ in range(max(6, 400 // divisor)))
    gaps = [rng.choice([0, 0, 1, 3, 17]) for _ in data]
    got, events = run_rx(uart_waveform(data, divisor * skew, gaps), divisor)
    assert bytes(got) == data
    assert events == {"framing_error": 0, "overrun": 0}


def test_rx_framing_error_drops_the_byte_and_recovers():
    data = b"\x55\xAA\x00\x42"
    got, events = run_rx(uart_waveform(data, 4, gaps=[0, 0, 0, 2], stop_bits=[1, 0, 1, 1]))
    assert bytes(got) == b"\x55\x00\x42"
    assert events["framing_error"] == 1


def test_rx_break_is_one_framing_error():
    runs = [(0, 200), (1, 8)] + uart_waveform(b"\x33", 4)
    got, events = run_rx(runs)
    assert bytes(got) == b"\x33" and events["framing_error"] == 1


def test_rx_ignores_a_glitch_shorter_than_half_a_bit():
    runs = [(0, 1), (1, 20)] + uart_waveform(b"\x81", 8)
    got, events = run_rx(runs, divisor=8)
    assert bytes(got) == b"\x81" and events["framing_error"] == 0


def test_rx_overrun_keeps_the_first_byte_and_flags_the_rest():
    got, events = run_rx(uart_waveform(b"\x01\x02\x03", 4), ready=lambda rng: 0)
    assert got == [] and events["overrun"] == 2


def test_rx_with_random_backpressure_fast_enough_loses_nothing():
    data = bytes(range(40))
    got, events = run_rx(uart_waveform(data, 4), ready=lambda rng: int(rng.random() < 0.3))
    assert bytes(got) == data and events["overrun"] == 0


# --------------------------------------------------------------------------- transmitter


@pytest.mark.parametrize("divisor, gap", [(4, 0.0), (4, 0.7), (13, 0.3)])
def test_tx_sends_bytes_that_the_model_decodes(divisor, gap):
    dut = UartTx(divisor * 1e6, 1e6)
    rng = random.Random(divisor)
    data = bytes(rng.randrange(256) for _ in range(50))
    samples, accepted = [], []

    async def source(ctx):
        for b in data:
            while rng.random() < gap:
                ctx.set(dut.i.valid, 0)
                await ctx.tick().repeat(rng.randrange(1, 30))
            ctx.set(dut.i.payload, b)
            ctx.set(dut.i.valid, 1)
            while True:
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                if ready:
                    accepted.append(len(samples))
                    break
        ctx.set(dut.i.valid, 0)
        await ctx.tick().repeat(12 * divisor)

    sim = Simulator(dut)
    sim.add_clock(1 / (divisor * 1e6))
    sim.add_process(record(dut.tx, samples))
    sim.add_testbench(source)
    sim.run()
    assert samples[0] == 1 and samples[-1] == 1
    assert bytes(decode_uart(samples, divisor)) == data
    if gap == 0:  # back to back: exactly 10 bit times per byte, no idle time
        assert set(b - a for a, b in zip(accepted, accepted[1:])) == {10 * divisor}


def test_tx_into_rx_loopback():
    divisor = 5
    tx, rx = UartTx(divisor * 1e6, 1e6), UartRx(divisor * 1e6, 1e6)
    from amaranth.hdl import Module
    m = Module()
    m.submodules.tx, m.submodules.rx = tx, rx
    m.d.comb += rx.rx.eq(tx.tx)
    data = bytes(random.Random(5).randrange(256) for _ in range(64))
    got = []

    async def source(ctx):
        for b in data:
            ctx.set(tx.i.payload, b)
            ctx.set(tx.i.valid, 1)
            await ctx.tick().until(tx.i.ready)
        ctx.set(tx.i.valid, 0)
        await ctx.tick().repeat(15 * divisor)

    async def sink(ctx):
        ctx.set(rx.o.ready, 1)
        async for _, _, valid, payload in ctx.tick().sample(rx.o.valid, rx.o.payload):
            if valid:
                got.append(payload)

    sim = Simulator(m)
    sim.add_clock(1 / (divisor * 1e6))
    sim.add_testbench(source)
    sim.add_testbench(sink, background=True)
    sim.run()
    assert bytes(got) == data
