"""Input codes of a WAV file for ``memres run``, and what the integer model decides for them."""

from __future__ import annotations

import numpy as np

from memres.sw_model.datasets.fsdd import read_wav
from memres.sw_model.errors import MemresError
from memres.sw_model.fixed import FixedReservoir, quantise_inputs
from memres.sw_model.frontend import Normaliser, cochleagram
from memres.sw_model.speech import frontend_config

__all__ = ["FeatureError", "wav_codes", "expected_decision"]


class FeatureError(MemresError, ValueError):
    """The model cannot turn a WAV file into input codes (e.g. it was not trained on audio)."""


def wav_codes(model, path) -> np.ndarray:
    """Input codes (T, C) of a WAV file, exactly as training computed them.

    Cochleagram (``sw_model.frontend``, the model's front-end settings) ->
    the model's saved Normaliser -> ``quantise_inputs`` at the model's input width.
    """
    if model.task != "fsdd":
        raise FeatureError(f"memres run classifies audio; this model was trained for {model.task!r}")
    fe = frontend_config(model.config)
    u = Normaliser.from_dict(model.preprocessing).transform(cochleagram(read_wav(path, fe.sample_rate), fe))
    return quantise_inputs(u, model.config.fixed.input_bits).astype(np.int64)


def expected_decision(model, codes: np.ndarray) -> tuple[int, np.ndarray]:
    """The integer model's sequence decision and per-frame readouts y (T, K) for the same codes."""
    res = FixedReservoir(model.config.reservoir, model.config.fixed, model.n_inputs)
    feats = res.run_batch(np.asarray(codes, dtype=np.int64)[None])[0]
    ro = model.readout_int
    y = feats @ ro.w + ro.b
    return int(np.argmax(y.sum(axis=0))), y
