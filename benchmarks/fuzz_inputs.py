"""Count what memres does with damaged inputs: accepted intact, refused with a clear error, or a traceback.

    python benchmarks/fuzz_inputs.py --count 1000

For each kind (configuration, WAV file, model file) it makes ``--count`` damaged inputs from a good one
with a seeded random generator and prints one JSON line per kind:
``{"kind", "count", "accepted", "clear_error", "traceback", "data_loss", "seconds"}``. ``data_loss`` counts
model files that loaded but differ from the original (a damage that was not noticed). The test suite
(tests/fuzz) runs the same kinds of damage with hypothesis, fewer of them.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import scipy.io.wavfile

from memres.sw_model.config import ModelConfig, config_from_dict
from memres.sw_model.datasets.fsdd import read_wav
from memres.sw_model.errors import MemresError
from memres.sw_model.model_file import TrainedModel, load_model
from memres.sw_model.readout import IntReadout


def _random_json(rng, depth=0):
    r = rng.integers(0, 9 if depth < 4 else 6)
    if r == 0:
        return None
    if r == 1:
        return bool(rng.integers(0, 2))
    if r == 2:
        return int(rng.integers(-2**62, 2**62)) * int(rng.choice([1, 256]))
    if r == 3:
        return float(rng.choice([np.inf, -np.inf, 1e300, -1e-300, 0.0, rng.normal() * 10.0 ** int(rng.integers(-5, 5))]))
    if r in (4, 5):
        return "".join(rng.choice(list("abc01 .-"), size=rng.integers(0, 6)))
    if r in (6, 7):
        return [_random_json(rng, depth + 1) for _ in range(rng.integers(0, 4))]
    return {str(_random_json(rng, 3)): _random_json(rng, depth + 1) for _ in range(rng.integers(0, 4))}


def fuzz_configs(rng, count):
    default = ModelConfig().to_dict()
    fields = [(s, k) for s in ("reservoir", "fixed", "readout") for k in default[s]]
    for i in range(count):
        data = json.loads(json.dumps(default))
        if i % 4 == 0:
            data = _random_json(rng)
        else:
            for _ in range(rng.integers(1, 3)):
                s, k = fields[rng.integers(len(fields))]
                data[s][k] = _random_json(rng)
        yield lambda d=data: (config_from_dict(d), True)[1]


def _wav():
    buf = io.BytesIO()
    scipy.io.wavfile.write(buf, 8000, (np.sin(np.arange(4000) / 7.0) * 8000).astype(np.int16))
    return buf.getvalue()


def fuzz_wavs(rng, count, tmp):
    good = _wav()
    for i in range(count):
        raw = bytearray(good)
        kind = i % 4
        if kind == 0:
            raw = raw[:rng.integers(0, len(raw))]
        elif kind == 1:
            for _ in range(rng.integers(1, 8)):
                raw[rng.integers(0, 64)] = rng.integers(0, 256)
        elif kind == 2:
            raw[24:28] = struct.pack("<I", int(rng.integers(0, 2**32)))
        else:
            raw[40:44] = struct.pack("<I", int(rng.integers(0, 2**32)))
        path = tmp / f"w{i}.wav"
        path.write_bytes(bytes(raw))
        yield lambda p=path: (read_wav(p), True)[1]


def _model():
    rng = np.random.default_rng(0)
    cfg = ModelConfig().replace(reservoir={"n_devices": 4, "n_virtual": 2})
    return TrainedModel(task="henon", config=cfg, n_inputs=1, n_outputs=1, w_float=rng.normal(size=(8, 1)),
                        b_float=np.zeros(1), readout_int=IntReadout(rng.integers(-127, 128, (8, 1)), np.array([5]), 0.25))


def fuzz_models(rng, count, tmp):
    ref = _model()
    good = ref.save(tmp / "good.npz").read_bytes()
    for i in range(count):
        raw = bytearray(good)
        for _ in range(rng.integers(1, 6)):
            if rng.integers(0, 3) == 0:
                raw = raw[:rng.integers(1, max(len(raw), 2))]
            else:
                raw[rng.integers(0, len(raw))] = rng.integers(0, 256)
        path = tmp / f"m{i}.npz"
        path.write_bytes(bytes(raw))

        def attempt(p=path):
            m = load_model(p)
            return (m.config == ref.config and m.n_inputs == ref.n_inputs and np.array_equal(m.w_float, ref.w_float)
                    and np.array_equal(m.readout_int.w, ref.readout_int.w))
        yield attempt


def count(kind, cases):
    out = {"kind": kind, "count": 0, "accepted": 0, "clear_error": 0, "traceback": 0, "data_loss": 0}
    t0 = time.perf_counter()
    for case in cases:
        out["count"] += 1
        try:
            intact = case()
        except MemresError as e:
            out["clear_error"] += 1
            assert "\n" not in str(e)
        except Exception:  # noqa: BLE001 - counting them is the point
            out["traceback"] += 1
            if out["traceback"] <= 3:
                traceback.print_exc()
        else:
            out["accepted"] += 1
            out["data_loss"] += int(not intact)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000, help="damaged inputs per kind (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for kind, cases in (("config", fuzz_configs(rng, a.count)), ("wav", fuzz_wavs(rng, a.count, tmp)),
                            ("model", fuzz_models(rng, a.count, tmp))):
            print(json.dumps(count(kind, cases)), flush=True)


if __name__ == "__main__":
    main()
