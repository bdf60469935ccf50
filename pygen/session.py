"""The board session: the framed protocol spoken to one board over a serial port.

:class:`BoardClient` streams INPUT_FRAMEs (first/last flags, at most
:data:`WINDOW` outstanding, ``docs/link.md``) and collects one RESULT per
frame; the decision is the one of the last frame. :meth:`BoardClient.check`
asks for STATUS first and refuses a board whose configuration hash,
generator version or protocol version differ from the model's. A lost frame
(a RESULT missing) is seen from the counts, the board is resynchronised
(quiet line, STATUS) and the sequence is sent again from its first frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from memres.hdl.board import bias_address, weight_address
from memres.pygen.protocol import COUNTERS, PROTOCOL_VERSION, LinkFormat, MsgType, Status, encode, host_decoder
from memres.sw_model.errors import MemresError

__all__ = ["WINDOW", "BoardError", "BoardMismatch", "FrameLost", "BoardClient", "Decision", "counter_delta"]

#: INPUT_FRAMEs in flight at most (the board holds three; docs/link.md "Flow control").
WINDOW = 3


class BoardError(MemresError, ValueError):
    """A problem talking to the board; the message says what and what to do."""


class BoardMismatch(BoardError):
    """The board runs another configuration, generator version or protocol than the model."""


class FrameLost(BoardError):
    """A RESULT did not come: a frame was dropped on the way (the counters say why)."""


@dataclass
class Decision:
    """One classified sequence."""
    decision: int
    y: list[list[int]]           # y[k] of every frame, in order
    decisions: list[int]         # running decision after every frame
    latency_s: float             # last frame written -> its RESULT decoded
    seconds: float               # first frame written -> last RESULT decoded
    retries: int = 0

    @property
    def frames(self) -> int:
        return len(self.y)


@dataclass
class BoardClient:
    """Talks the framed protocol to one board over a port with ``write(bytes)`` and ``read(timeout)``.

    Parameters
    ----------
    port : SerialPort or alike
    fmt : LinkFormat
        ``hdl.board.link_format(params)`` of the board's core.
    timeout : float
        Seconds without progress after which a RESULT counts as lost.
    quiet : float
        Seconds of silence that mean the board has nothing more to send.
    """

    port: object
    fmt: LinkFormat
    timeout: float = 1.0
    quiet: float = 0.05
    decoder: object = field(init=False)

    def __post_init__(self):
        self.decoder = host_decoder(self.fmt)

    def _messages(self, timeout: float) -> list:
        # No Decoder.idle() here: on a slow (simulated) line a pause inside a frame is no truncation,
        # and the host decoder finds the next good frame behind a broken one anyway (it rescans).
        data = self.port.read(timeout)
        return self.decoder.feed(data) if data else []

    def drain(self) -> None:
        """Read until the line has been quiet for ``quiet`` seconds; forget what came."""
        while self.port.read(self.quiet):
            pass
        self.decoder = host_decoder(self.fmt)

    def status(self) -> Status:
        """Send STATUS_REQUEST and return the STATUS (RESULTs arriving meanwhile are dropped)."""
        self.port.write(encode(MsgType.STATUS_REQUEST))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for msg in self._messages(deadline - time.monotonic()):
                if msg.type == MsgType.STATUS:
                    return self.fmt.unpack_status(msg.payload)
        raise BoardError(f"no STATUS from {getattr(self.port, 'path', 'the board')} within {self.timeout:g} s: "
                            f"is the bitstream loaded, the port right (the iCEBreaker's UART is the second "
                            f"/dev/ttyUSB of its pair) and the baud rate the one it was built for?")

    def check(self, config_hash: str, version: str) -> Status:
        """STATUS, refusing a board built for another configuration, generator or protocol."""
        self.drain()
        st = self.status()
        problems = []
        if st.protocol != PROTOCOL_VERSION:
            problems.append(f"protocol {st.protocol}, this host speaks {PROTOCOL_VERSION}")
        if st.config_hash.hex() != config_hash:
            problems.append(f"configuration hash {st.config_hash.hex()}, the model's is {config_hash}")
        if st.version != version:
            problems.append(f"generator version {st.version!r}, this memres is {version!r}")
        if problems:
            raise BoardMismatch("the board runs another design: " + "; ".join(problems)
                                + ". Build and program a bitstream from this model (memres build / memres program).")
        return st

    def classify(self, codes: np.ndarray) -> Decision:
        """Stream one sequence (T, C) of input codes; raise :class:`FrameLost` if a RESULT is missing."""
        codes = np.asarray(codes)
        n = len(codes)
        if n == 0:
            raise ValueError("a sequence needs at least one frame")
        frames = [self.fmt.encode_input_frame(codes[t].tolist(), first=t == 0, last=t == n - 1) for t in range(n)]
        results, sent = [], 0
        t0 = t_last = time.perf_counter()
        progress = time.monotonic()
        while len(results) < n:
            while sent < n and sent - len(results) < WINDOW:
                self.port.write(frames[sent])
                sent += 1
                t_last = time.perf_counter()
            for msg in self._messages(0.02):
                if msg.type != MsgType.RESULT:
                    continue
                r = self.fmt.unpack_result(msg.payload)
                results.append(r)
                progress = time.monotonic()
                if r.last and len(results) < n:
                    raise FrameLost(f"the sequence's last RESULT came after {len(results)} of {n} frames")
                if len(results) == n and not r.last:
                    raise FrameLost(f"{n} RESULTs came but the last was not flagged last")
            if time.monotonic() - progress > self.timeout:
                raise FrameLost(f"no RESULT for {self.timeout:g} s after {len(results)} of {n} frames")
        t_end = time.perf_counter()
        return Decision(results[-1].decision, [list(r.y) for r in results], [r.decision for r in results],
                        t_end - t_last, t_end - t0)

    def classify_retrying(self, codes: np.ndarray, retries: int = 2) -> Decision:
        """:meth:`classify`; after a lost frame resynchronise and send the sequence again from its start."""
        for attempt in range(retries + 1):
            try:
                d = self.classify(codes)
                d.retries = attempt
                return d
            except FrameLost:
                if attempt == retries:
                    raise
                self.drain()
        raise AssertionError("unreachable")

    def write_readout(self, params, w: np.ndarray, b: np.ndarray) -> int:
        """Load readout weights and biases through WEIGHT_WRITE; returns the number of writes.

        Checked afterwards with STATUS: every write must have been counted as
        a good frame and none overrun.
        """
        before = self.status().counters
        writes = [(weight_address(params, j, k), int(w[j, k])) for j in range(w.shape[0]) for k in range(w.shape[1])]
        writes += [(bias_address(params, k), int(b[k])) for k in range(len(b))]
        for addr, value in writes:
            self.port.write(encode(MsgType.WEIGHT_WRITE, self.fmt.pack_weight_write(addr, value)))
        after = self.status().counters
        wrap = 1 << self.fmt.counter_bits
        ok = (after["frames_ok"] - before["frames_ok"]) % wrap
        if ok != len(writes) + 1 or after["overrun"] != before["overrun"]:
            raise BoardError(f"the board took {ok - 1} of {len(writes)} weight writes "
                                f"(overrun {(after['overrun'] - before['overrun']) % wrap}); try a lower baud rate")
        return len(writes)


def counter_delta(before: Status, after: Status, bits: int) -> dict[str, int]:
    return {name: (after.counters[name] - before.counters[name]) % (1 << bits) for name in COUNTERS}
