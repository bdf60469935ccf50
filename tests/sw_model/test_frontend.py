"""Tests of sw_model.frontend: cochleagram, Normaliser, feature loading and cache."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

from memres.sw_model.datasets import DatasetError, list_recordings, read_wav, standard_split
from memres.sw_model.frontend import (
    FrontEndConfig,
    Normaliser,
    causal_centre,
    cepstral_matrix,
    level_free,
    cochleagram,
    default_cache_dir,
    erb_space,
    load_fsdd_features,
)

CFG = FrontEndConfig()


def _tone(freq: float, dur: float = 0.5, rate: int = 8000, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(dur * rate)) / rate)


# --------------------------------------------------------------------------- config


def test_config_validation() -> None:
    for bad in [dict(n_channels=4), dict(n_channels=200), dict(frame_rate=300),
                dict(fmin=0.0), dict(fmax=4000.0), dict(fmin=500.0, fmax=400.0)]:
        with pytest.raises(ValueError):
            FrontEndConfig(**bad)
    assert CFG.hop == 80
    assert FrontEndConfig(n_channels=64).digest() != CFG.digest()
    assert FrontEndConfig().digest() == CFG.digest()


def test_erb_space() -> None:
    f = erb_space(100.0, 3500.0, 32)
    assert f[0] == pytest.approx(100.0) and f[-1] == pytest.approx(3500.0)
    erb_rate = 21.4 * np.log10(1 + 0.00437 * f)
    np.testing.assert_allclose(np.diff(erb_rate), np.diff(erb_rate)[0])


# --------------------------------------------------------------------------- cochleagram


@pytest.mark.parametrize("n_samples", [1, 79, 80, 81, 3999, 4000])
def test_cochleagram_shape(n_samples: int) -> None:
    x = np.random.default_rng(0).standard_normal(n_samples) * 0.1
    c = cochleagram(x, CFG)
    assert c.shape == (max(1, n_samples // CFG.hop), CFG.n_channels)
    assert c.dtype == np.float64
    assert np.all(np.isfinite(c)) and np.all(c >= CFG.floor_db)


def test_cochleagram_silence_is_floor() -> None:
    np.testing.assert_array_equal(cochleagram(np.zeros(800), CFG), CFG.floor_db)


@pytest.mark.parametrize("channel", [2, 10, 20, 30])
def test_pure_tone_peaks_in_nearest_channel(channel: int) -> None:
    fc = CFG.centre_frequencies
    c = cochleagram(_tone(fc[channel]), CFG)
    profile = c[10:].mean(axis=0)  # skip the onset
    assert int(np.argmax(profile)) == channel
    # a tone between two channels peaks in one of them
    mid = np.sqrt(fc[channel] * fc[channel + 1])
    assert int(np.argmax(cochleagram(_tone(mid), CFG)[10:].mean(axis=0))) in (channel, channel + 1)


def test_cochleagram_level_in_db() -> None:
    """Unity gain at the centre: mean rectified sine of amplitude A is A/pi."""
    fc = CFG.centre_frequencies
    c = cochleagram(_tone(fc[16], amp=0.5), CFG)
    assert c[10:, 16].mean() == pytest.approx(20 * np.log10(0.5 / np.pi), abs=0.1)
    # 6 dB per halving of the amplitude
    c2 = cochleagram(_tone(fc[16], amp=0.25), CFG)
    assert (c[10:, 16] - c2[10:, 16]).mean() == pytest.approx(20 * np.log10(2), abs=1e-6)


def test_cochleagram_matches_per_channel_lfilter() -> None:
    x = np.random.default_rng(1).standard_normal(2000) * 0.2
    c = cochleagram(x, CFG)
    for ch in [0, 15, 31]:
        b, a = scipy.signal.gammatone(float(CFG.centre_frequencies[ch]), "iir", fs=CFG.sample_rate)
        y = np.maximum(scipy.signal.lfilter(b, a, x), 0)
        ref = 20 * np.log10(np.maximum(y[: 25 * 80].reshape(25, 80).mean(axis=1), 1e-5))
        np.testing.assert_allclose(c[:, ch], ref, atol=1e-3)


def test_cochleagram_is_causal() -> None:
    x = np.random.default_rng(2).standard_normal(1600) * 0.1
    y = x.copy()
    y[800:] = 0.0  # change only the second half
    np.testing.assert_allclose(cochleagram(x, CFG)[:10], cochleagram(y, CFG)[:10])


def test_cochleagram_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        cochleagram(np.zeros(0), CFG)
    with pytest.raises(ValueError):
        cochleagram(np.zeros((10, 2)), CFG)


# --------------------------------------------------------------------------- Normaliser


def _seqs(seed: int, n: int, offset: float) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(offset, 10.0, size=(rng.integers(5, 40), 4)) for _ in range(n)]


def test_normaliser_uses_training_stats_only() -> None:
    train = _seqs(0, 20, offset=-50.0)
    test = _seqs(1, 5, offset=-30.0)  # shifted: different stats
    norm = Normaliser.fit(train)
    data = np.concatenate(train)
    np.testing.assert_allclose(norm.lo, np.percentile(data, 1.0, axis=0))
    np.testing.assert_allclose(norm.hi, np.percentile(data, 99.9, axis=0))
    # the test sequence is mapped with the training bounds
    lo, hi = np.array(norm.lo), np.array(norm.hi)
    np.testing.assert_allclose(norm.transform(test[0]), np.clip((test[0] - lo) / (hi - lo), 0, 1))
    # fitting on other data (here: including the test set) gives other bounds
    assert Normaliser.fit(train + test) != norm
    # the fitted object depends on nothing but the training data
    assert Normaliser.fit([s.copy() for s in train]) == norm


def test_normaliser_range_and_clip() -> None:
    train = _seqs(3, 200, offset=0.0)
    norm = Normaliser.fit(train)
    out = np.concatenate([norm.transform(s) for s in train])
    n = len(out)
    assert out.min() == 0.0 and out.max() == 1.0
    # per channel, 1 % of the training values fall below lo and 0.1 % above hi
    assert np.all(np.abs(np.mean(out == 0.0, axis=0) - 0.01) <= 1.5 / n)
    assert np.all(np.abs(np.mean(out == 1.0, axis=0) - 0.001) <= 1.5 / n)
    far = norm.transform(np.full((3, 4), 1e6))
    np.testing.assert_array_equal(far, 1.0)


def test_normaliser_constant_channel_and_errors() -> None:
    x = np.zeros((10, 3))
    x[:, 1] = np.arange(10)
    norm = Normaliser.fit([x])
    assert np.all(np.isfinite(norm.transform(x)))
    with pytest.raises(ValueError):
        norm.transform(np.zeros((5, 4)))
    with pytest.raises(ValueError):
        Normaliser.fit([])
    with pytest.raises(ValueError):
        Normaliser.fit([np.zeros((5, 3)), np.zeros((5, 4))])
    with pytest.raises(ValueError):
        Normaliser.fit([x], lower_pct=50, upper_pct=10)


def test_causal_mean_normalisation() -> None:
    train = _seqs(5, 30, offset=-40.0)
    norm = Normaliser.fit(train, mean_frames=8)
    mean = np.concatenate(train).mean(axis=0)
    np.testing.assert_allclose(norm.mean, mean)
    x = train[0]
    # written out: the running mean starts from the training mean with the weight of 8 frames
    running = np.array([(8 * mean + x[:t + 1].sum(axis=0)) / (8 + t + 1) for t in range(len(x))])
    np.testing.assert_allclose(causal_centre(x, norm.mean, 8), x - running)
    # causal: a frame's value does not depend on later frames
    longer = np.concatenate([x, np.full((7, 4), 99.0)])
    np.testing.assert_array_equal(norm.transform(longer)[:len(x)], norm.transform(x))
    # a constant offset of the whole utterance (level, tilt) is removed as the mean adapts
    late = norm.transform(x + 25.0)[-3:] - norm.transform(x)[-3:]
    early = norm.transform(x + 25.0)[:3] - norm.transform(x)[:3]
    assert np.abs(late).max() < np.abs(early).max()
    # the level (mean over the channels) of each frame is removed before the mean, when asked
    lf = Normaliser.fit(train, mean_frames=8, remove_level=True)
    np.testing.assert_allclose(lf.mean, np.concatenate([level_free(t) for t in train]).mean(axis=0))
    np.testing.assert_allclose(lf.transform(x + np.arange(len(x))[:, None]), lf.transform(x))
    assert Normaliser.from_dict(json.loads(json.dumps(lf.to_dict()))) == lf
    # off by default: the identity before the affine map
    plain = Normaliser.fit(train)
    assert plain.mean_frames == 0 and plain.mean == ()
    with pytest.raises(ValueError, match="mean"):
        Normaliser(norm.lo, norm.hi, mean_frames=8)        # the mean is missing


def test_cepstra() -> None:
    d = cepstral_matrix(32, 32)
    np.testing.assert_allclose(d.T @ d, np.eye(32), atol=1e-12)       # orthonormal
    np.testing.assert_allclose(d[:, 0], 1 / np.sqrt(32))               # coefficient 0: the level
    np.testing.assert_allclose(cepstral_matrix(32, 13), d[:, :13])
    rng = np.random.default_rng(2)
    train = [rng.normal(-50.0, 10.0, size=(rng.integers(5, 40), 32)) for _ in range(6)]
    norm = Normaliser.fit(train, mean_frames=3, cepstra=13)
    assert (norm.n_channels, norm.n_in_channels, norm.cepstra, norm.in_channels) == (13, 32, 13, 32)
    # written out: cepstra first, then the causal mean of the cepstra, then the percentile map
    cep = [t @ d[:, :13] for t in train]
    ref = Normaliser.fit(cep, mean_frames=3)
    np.testing.assert_allclose(norm.mean, ref.mean)
    np.testing.assert_allclose(norm.transform(train[0]), ref.transform(cep[0]), atol=1e-12)
    # a level change of the whole utterance moves coefficient 0 only
    shifted = train[0] + 6.0
    np.testing.assert_allclose((shifted @ d[:, :13])[:, 1:], cep[0][:, 1:], atol=1e-9)
    assert Normaliser.from_dict(json.loads(json.dumps(norm.to_dict()))) == norm
    assert "cepstra" not in Normaliser.fit(train).to_dict()       # dictionaries without cepstra unchanged
    with pytest.raises(ValueError, match="expected shape"):
        norm.transform(cep[0])
    with pytest.raises(ValueError, match="cepstra"):
        Normaliser.fit(train, cepstra=33)
    with pytest.raises(ValueError, match="cepstra"):
        Normaliser(norm.lo, norm.hi, cepstra=13, in_channels=8)
    with pytest.raises(ValueError, match="cepstra"):
        FrontEndConfig(n_channels=16, cepstra=20)
    assert FrontEndConfig(cepstra=13).n_inputs == 13 and FrontEndConfig().n_inputs == 32
    assert FrontEndConfig(cepstra=13).digest() == FrontEndConfig().digest()   # same cochleagram cache


def test_normaliser_dict_roundtrip() -> None:
    with_mean = Normaliser.fit(_seqs(4, 5, offset=3.0), mean_frames=5)
    assert Normaliser.from_dict(json.loads(json.dumps(with_mean.to_dict()))) == with_mean
    # dictionaries written before the mean normalisation existed still load (as mean_frames 0)
    old = {k: v for k, v in Normaliser.fit(_seqs(4, 5, offset=3.0)).to_dict().items() if not k.startswith("mean")}
    assert Normaliser.from_dict(old).mean_frames == 0
    norm = Normaliser.fit(_seqs(4, 5, offset=3.0), lower_pct=2.0, upper_pct=98.0)
    d = json.loads(json.dumps(norm.to_dict()))
    assert Normaliser.from_dict(d) == norm
    with pytest.raises(ValueError, match="lo"):
        Normaliser.from_dict({"hi": [1.0], "lower_pct": 1, "upper_pct": 2})


# --------------------------------------------------------------------------- load_fsdd_features + cache


@pytest.fixture(scope="module")
def subset(fsdd_root: Path):
    recs = list_recordings(fsdd_root)
    # 60 files: one per (digit, speaker), with varied takes (some in the test set)
    return [recs[50 * i + (7 * i) % 50] for i in range(60)]


def test_load_features_match_single_file(subset, tmp_path: Path) -> None:
    feats = load_fsdd_features(subset, CFG, cache_dir=tmp_path, progress=False, workers=2)
    assert len(feats) == len(subset)
    for rec, f in list(zip(subset, feats))[::7]:
        np.testing.assert_array_equal(f, cochleagram(read_wav(rec.path), CFG))


def test_cache_hit_identical_and_fast(subset, tmp_path: Path) -> None:
    cold = load_fsdd_features(subset, CFG, cache_dir=tmp_path, progress=False)
    files = list((tmp_path / "frontend").rglob("*.npz"))
    assert len(files) == 1
    t0 = time.perf_counter()
    warm = load_fsdd_features(subset, CFG, cache_dir=tmp_path, progress=False)
    assert time.perf_counter() - t0 < 1.0
    assert len(warm) == len(cold)
    for a, b in zip(cold, warm):
        np.testing.assert_array_equal(a, b)
    # really served from the cache file: edit it and see the edit come back
    with np.load(files[0]) as z:
        data, offsets = z["data"], z["offsets"]
    np.savez(files[0], data=data + 1.0, offsets=offsets)
    edited = load_fsdd_features(subset, CFG, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(edited[5], cold[5] + 1.0)
    # another config is another bucket
    load_fsdd_features(subset[:3], FrontEndConfig(n_channels=16), cache_dir=tmp_path, progress=False)
    assert len(list((tmp_path / "frontend").rglob("*.npz"))) == 2


def test_cache_invalidated_by_file_change(tmp_path: Path, fsdd_root: Path) -> None:
    src = list_recordings(fsdd_root)[:2]
    data = tmp_path / "data"
    data.mkdir()
    for r in src:
        (data / r.path.name).write_bytes(r.path.read_bytes())
    recs = list_recordings(data)
    first = load_fsdd_features(recs, CFG, cache_dir=tmp_path / "cache", progress=False)
    # replace file 0 with file 1's content (different size) -> must be recomputed
    (data / recs[0].path.name).write_bytes(recs[1].path.read_bytes())
    second = load_fsdd_features(recs, CFG, cache_dir=tmp_path / "cache", progress=False)
    assert not np.array_equal(first[0], second[0]) and first[0].shape != second[0].shape
    np.testing.assert_array_equal(second[0], second[1])


def test_cache_dir_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEMRES_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MEMRES_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "memres"


def test_load_features_missing_file_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nowhere.wav"):
        load_fsdd_features([tmp_path / "nowhere.wav"], CFG, cache_dir=tmp_path, progress=False)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="bad.wav"):
        load_fsdd_features([bad] * 40, CFG, cache_dir=tmp_path, progress=False, workers=2)


def test_normaliser_on_real_split(subset, tmp_path: Path) -> None:
    train, test = standard_split(subset)
    feats = load_fsdd_features(train + test, CFG, cache_dir=tmp_path, use_cache=False, progress=False)
    assert not any(tmp_path.iterdir())  # use_cache=False writes nothing
    tr, te = feats[: len(train)], feats[len(train) :]
    norm = Normaliser.fit(tr)
    assert norm.n_channels == CFG.n_channels
    z = [norm.transform(s) for s in te]
    assert all(s.shape == t.shape and s.min() >= 0 and s.max() <= 1 for s, t in zip(z, te))
