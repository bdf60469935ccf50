"""memres.pygen.protocol: frame encoding, payload packing and the incremental Decoder under abuse.

The properties pinned here (hypothesis): the decoder never hangs and its buffer
stays bounded whatever it is fed; it never yields a message from a corrupt
frame (single bit flips, truncations, wrong lengths, unknown types); after any
junk it finds the next valid frame; encoding then decoding is the identity.
"""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memres.pygen.protocol import (COUNTERS, HEADER_BYTES, OVERHEAD_BYTES, SYNC, Decoder, LinkFormat, LinkFormatError,
                            Message, MsgType, Status, board_decoder, crc16, encode)

FMT = LinkFormat(n_inputs=32, input_bits=8, n_outputs=10, result_width=20)
MAX = 64
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

payloads = st.binary(max_size=MAX)
messages = st.tuples(st.integers(0, 255), payloads).map(lambda t: Message(*t))
junk = st.binary(max_size=200)


def chunked(data: bytes, sizes: list[int]):
    """Split *data* into chunks of the given sizes (cycled), to feed a decoder piecewise."""
    pos, i = 0, 0
    while pos < len(data):
        n = max(1, sizes[i % len(sizes)]) if sizes else len(data)
        yield data[pos:pos + n]
        pos += n
        i += 1


def decode_all(dec: Decoder, data: bytes, sizes=(), idle=True) -> list[Message]:
    out = []
    for chunk in chunked(data, list(sizes)):
        out += dec.feed(chunk)
        assert dec.buffered <= dec.max_payload + OVERHEAD_BYTES
    if idle:
        out += dec.idle()
        assert dec.buffered == 0
    return out


def flip(frame: bytes, bit: int) -> bytes:
    b = bytearray(frame)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


# --------------------------------------------------------------------------- CRC and framing


def test_crc16_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


@SETTINGS
@given(st.binary(max_size=200), st.integers(0, 200))
def test_crc16_is_amaranths_catalog_crc_and_continues(raw, split):
    """One definition: amaranth.lib.crc's CRC-16/CCITT-FALSE, checked against binascii's independent one."""
    import binascii

    from amaranth.lib import crc

    from memres.hdl.wire import CRC16, CRC16_AFTER_SYNC
    assert repr(CRC16.algorithm) == repr(crc.catalog.CRC16_CCITT_FALSE) and CRC16.residue() == 0
    assert crc16(raw) == binascii.crc_hqx(raw, 0xFFFF)
    assert crc16(raw[split:], crc16(raw[:split])) == crc16(raw)
    assert CRC16_AFTER_SYNC.compute(raw) == crc16(SYNC + raw)   # what the deframer's Processor runs


def test_payloads_are_the_wire_layouts():
    """The host's bytes are the layouts' values: a Const of the layout, little-endian."""
    from amaranth.lib import data
    layout = FMT.payload_layout(MsgType.RESULT)
    payload = FMT.pack_result([-1] + [0] * 9, 3, last=True)
    value = data.Const(layout, int.from_bytes(payload, "little"))
    assert layout.size == 8 * len(payload) and value.flags.last == 1 and value.decision == 3 and value.y[0] == -1
    assert payload[:2] == b"\x01\x03" and payload[2:5] == b"\xff\xff\xff"


def test_frame_layout_and_zero_residue():
    frame = encode(MsgType.INPUT_FRAME, b"\x01\x02\x03")
    assert frame[:2] == SYNC and frame[2] == 0x01 and frame[3:5] == b"\x03\x00"
    assert frame[5:8] == b"\x01\x02\x03" and len(frame) == OVERHEAD_BYTES + 3
    assert int.from_bytes(frame[-2:], "big") == crc16(frame[:-2])
    assert crc16(frame) == 0   # how both sides check a frame


def test_encode_refuses_bad_type_and_oversize_payload():
    with pytest.raises(ValueError, match="256"):
        encode(256, b"")
    with pytest.raises(ValueError, match="70000 bytes"):
        encode(1, bytes(70000))


@SETTINGS
@given(st.lists(messages, max_size=8), st.lists(st.integers(1, 50), max_size=6))
def test_round_trip_in_any_chunking(msgs, sizes):
    dec = Decoder(max_payload=MAX)
    data = b"".join(encode(m.type, m.payload) for m in msgs)
    assert decode_all(dec, data, sizes, idle=False) == msgs
    assert dec.counts.dropped == 0 and dec.counts.frames_ok == len(msgs)


# --------------------------------------------------------------------------- corruption


@SETTINGS
@given(messages, st.data(), st.booleans())
def test_any_single_bit_flip_is_never_decoded(msg, data, rescan):
    frame = encode(msg.type, msg.payload)
    bad = flip(frame, data.draw(st.integers(0, 8 * len(frame) - 1)))
    dec = Decoder(max_payload=MAX, rescan=rescan)
    assert decode_all(dec, bad) == []
    # ... and the next good frame is still found.
    dec = Decoder(max_payload=MAX, rescan=rescan)
    good = encode(MsgType.STATUS, b"ok")
    got = decode_all(dec, bad + good)
    if rescan:
        assert got == [Message(MsgType.STATUS, b"ok")]
    else:  # a flipped length bit may make the bad frame swallow the good one
        assert got in ([], [Message(MsgType.STATUS, b"ok")])


@SETTINGS
@given(messages, st.data())
def test_truncated_frame_is_dropped_when_the_line_goes_idle(msg, data):
    frame = encode(msg.type, msg.payload)
    cut = data.draw(st.integers(2, len(frame) - 1))
    dec = Decoder(max_payload=MAX)
    assert dec.feed(frame[:cut]) == []
    assert dec.idle() == []
    assert dec.counts.truncated >= 1 and dec.counts.frames_ok == 0
    assert dec.feed(frame) == [msg]


@SETTINGS
@given(messages, st.data())
def test_truncated_frame_followed_by_a_frame_without_a_gap(msg, data):
    """The truncated frame swallows the start of the next; rescanning still finds it."""
    frame = encode(msg.type, msg.payload)
    cut = data.draw(st.integers(2, len(frame) - 1))
    dec = Decoder(max_payload=MAX)
    assert decode_all(dec, frame[:cut] + frame) == [msg]


def test_oversize_length_is_dropped_at_the_header_without_waiting():
    dec = Decoder(max_payload=16)
    big = encode(0x01, bytes(17))
    good = encode(0x01, bytes(16))
    assert dec.feed(big[:HEADER_BYTES]) == []
    assert dec.counts.bad_length == 1 and dec.buffered == 0
    assert dec.feed(big[HEADER_BYTES:] + good) == [Message(1, bytes(16))]


def test_format_decoder_checks_type_and_exact_length():
    dec = board_decoder(FMT)
    u = list(range(32))
    frames = [encode(0x77, b"xyz"),                                       # unknown type
              encode(MsgType.INPUT_FRAME, FMT.pack_input_frame(u)[:-1]),  # one byte short
              encode(MsgType.RESULT, bytes(FMT.payload_bytes(MsgType.RESULT))),  # wrong direction
              FMT.encode_input_frame(u, first=True)]
    got = dec.feed(b"".join(frames))
    assert [FMT.unpack_input_frame(m.payload) for m in got] == [(u, True, False)]
    assert dec.counts.as_dict() == {"frames_ok": 1, "bad_crc": 0, "truncated": 0,
                                    "unknown_type": 2, "bad_length": 1}


# --------------------------------------------------------------------------- junk and resync

def corrupted(frames: list[bytes], draw) -> bytes:
    """One of: a frame with a bit flipped, a frame cut short, or random junk."""
    kind = draw(st.sampled_from(["flip", "cut", "junk", "fake-header"]))
    frame = draw(st.sampled_from(frames))
    if kind == "flip":
        return flip(frame, draw(st.integers(0, 8 * len(frame) - 1)))
    if kind == "cut":
        return frame[:draw(st.integers(0, len(frame) - 1))]
    if kind == "fake-header":   # a header claiming a long payload, with junk after it
        return SYNC + bytes([frame[2]]) + draw(st.integers(0, MAX)).to_bytes(2, "little") + draw(junk)
    return draw(junk)


@SETTINGS
@given(st.lists(messages, min_size=1, max_size=5), st.data(), st.lists(st.integers(1, 40), max_size=5))
def test_resyncs_after_any_junk_and_never_yields_from_junk(msgs, data, sizes):
    frames = [encode(m.type, m.payload) for m in msgs]
    stream = b"".join(corrupted(frames, data.draw) + f for f in frames)
    dec = Decoder(max_payload=MAX)
    # Junk could, in principle, hold a valid frame by itself; hypothesis cannot forge a CRC.
    assert decode_all(dec, stream, sizes) == msgs


@SETTINGS
@given(st.binary(min_size=0, max_size=3000), st.lists(st.integers(1, 300), max_size=5), st.booleans())
def test_random_bytes_bounded_buffer_and_work(data, sizes, rescan):
    dec = Decoder(max_payload=MAX, rescan=rescan)
    t0 = time.perf_counter()
    decode_all(dec, data, sizes)
    assert time.perf_counter() - t0 < 1.0


def test_worst_case_work_is_bounded():
    """Overlapping fake headers (each rescanned over a max-size window) still finish quickly."""
    fake = SYNC + bytes([1]) + MAX.to_bytes(2, "little")
    data = fake * 2000 + encode(1, b"end")
    dec = Decoder(max_payload=MAX)
    t0 = time.perf_counter()
    assert decode_all(dec, data, [997]) == [Message(1, b"end")]
    assert time.perf_counter() - t0 < 2.0


def test_gateware_model_does_not_rescan():
    """rescan=False (the gateware): bytes of a dropped frame are not looked at again."""
    good = encode(MsgType.STATUS, b"ok")
    fake = SYNC + bytes([MsgType.STATUS]) + (len(good) + 3).to_bytes(2, "little")
    assert decode_all(Decoder(max_payload=MAX, rescan=True), fake + good + b"zzzzz") == [(MsgType.STATUS, b"ok")]
    assert decode_all(Decoder(max_payload=MAX, rescan=False), fake + good + b"zzzzz") == []


# --------------------------------------------------------------------------- payloads

formats = st.builds(LinkFormat, n_inputs=st.integers(1, 40), input_bits=st.integers(1, 16),
                    n_outputs=st.integers(1, 20), result_width=st.integers(1, 40),
                    counter_bits=st.integers(8, 32))


@SETTINGS
@given(formats, st.data())
def test_payload_round_trips(fmt, data):
    u = data.draw(st.lists(st.integers(0, (1 << fmt.input_bits) - 1), min_size=fmt.n_inputs,
                           max_size=fmt.n_inputs))
    first, last = data.draw(st.booleans()), data.draw(st.booleans())
    p = fmt.pack_input_frame(u, first, last)
    assert len(p) == fmt.payload_bytes(MsgType.INPUT_FRAME)
    assert fmt.unpack_input_frame(p) == (u, first, last)

    half = 1 << (fmt.result_width - 1)
    y = data.draw(st.lists(st.integers(-half, half - 1), min_size=fmt.n_outputs, max_size=fmt.n_outputs))
    decision = data.draw(st.integers(0, fmt.n_outputs - 1))
    p = fmt.pack_result(y, decision, last)
    assert len(p) == fmt.payload_bytes(MsgType.RESULT)
    assert fmt.unpack_result(p) == (y, decision, last)

    counters = {n: data.draw(st.integers(0, (1 << fmt.counter_bits) - 1)) for n in COUNTERS}
    status = Status(counters, bytes(range(8)), "0.1.0")
    p = fmt.pack_status(status)
    assert len(p) == fmt.payload_bytes(MsgType.STATUS)
    assert fmt.unpack_status(p) == status

    addr, value = data.draw(st.integers(0, 0xFFFF)), data.draw(st.integers(-(1 << 31), (1 << 31) - 1))
    assert fmt.unpack_weight_write(fmt.pack_weight_write(addr, value)) == (addr, value)


def test_input_codes_are_bit_packed_lsb_first():
    fmt = LinkFormat(n_inputs=3, input_bits=4, n_outputs=2, result_width=8)
    assert fmt.pack_input_frame([0x1, 0x2, 0x3], first=True, last=True) == bytes([0x03, 0x21, 0x03])


def test_packing_refuses_values_that_do_not_fit():
    with pytest.raises(ValueError, match=r"u\[1\] = 256"):
        FMT.pack_input_frame([0, 256] + [0] * 30)
    with pytest.raises(ValueError, match=r"y\[0\] = 524288"):
        FMT.pack_result([1 << 19] + [0] * 9, 0)
    with pytest.raises(ValueError, match="32 codes, not 3"):
        FMT.pack_input_frame([1, 2, 3])
    with pytest.raises(ValueError, match="longer than 16"):
        FMT.version_field("x" * 17)


def test_format_validation_names_the_value():
    with pytest.raises(LinkFormatError, match="input_bits .* not 0"):
        LinkFormat(4, 0, 2, 8)
    with pytest.raises(LinkFormatError, match="result_bytes .* not 1"):
        LinkFormat(4, 8, 2, 12, result_bytes=1)
    with pytest.raises(LinkFormatError, match="addr_bits must be a multiple of 8, not 12"):
        LinkFormat(4, 8, 2, 8, addr_bits=12)


def test_sizes_and_throughput_of_the_reference_format():
    assert FMT.frame_bytes(MsgType.INPUT_FRAME) == 7 + 1 + 32
    assert FMT.frame_bytes(MsgType.RESULT) == 7 + 1 + 1 + 10 * 3
    assert FMT.frames_per_second(115200) == pytest.approx(288.0)
    assert FMT.frames_per_second(3_000_000) == pytest.approx(7500.0)


def test_from_layouts_reads_the_core_layouts():
    from memres.hdl.link import frame_layout, result_layout
    fmt = LinkFormat(7, 5, 3, 13)
    assert LinkFormat.from_layouts(frame_layout(fmt), result_layout(fmt)) == fmt
