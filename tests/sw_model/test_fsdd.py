"""Tests of sw_model.datasets.fsdd: listing, splits, WAV reading, download/extraction."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile

from memres.sw_model.datasets import (
    DatasetError,
    Recording,
    download_fsdd,
    extract_recordings,
    list_recordings,
    loso_folds,
    read_wav,
    standard_split,
    validation_split,
)

SPEAKERS = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]


def _fake_recs(speakers=SPEAKERS, takes=range(50)) -> list[Recording]:
    return [
        Recording(Path(f"{d}_{s}_{t}.wav"), d, s, t) for d in range(10) for s in speakers for t in takes
    ]


# --------------------------------------------------------------------------- listing


def test_list_all_recordings(fsdd_root: Path) -> None:
    recs = list_recordings(fsdd_root)
    assert len(recs) == 3000
    assert {r.speaker for r in recs} == set(SPEAKERS)
    assert {r.digit for r in recs} == set(range(10))
    assert {r.take for r in recs} == set(range(50))
    assert recs == sorted(recs, key=lambda r: (r.digit, r.speaker, r.take))
    # parsed fields agree with the file name
    for r in recs[::97]:
        assert r.path.name == f"{r.digit}_{r.speaker}_{r.take}.wav"
    # the folder itself works as well as its parent
    assert list_recordings(fsdd_root / "recordings") == recs


def test_list_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does-not-exist"):
        list_recordings(tmp_path / "does-not-exist")
    (tmp_path / "recordings").mkdir()
    with pytest.raises(DatasetError, match="no FSDD recordings"):
        list_recordings(tmp_path)


def test_list_skips_foreign_names(tmp_path: Path) -> None:
    for name in ["1_ann_3.wav", "0_bob_12.wav", "notes.wav"]:
        (tmp_path / name).write_bytes(b"")
    with pytest.warns(UserWarning, match="notes.wav"):
        recs = list_recordings(tmp_path)
    assert [(r.digit, r.speaker, r.take) for r in recs] == [(0, "bob", 12), (1, "ann", 3)]


def test_recording_from_bad_name() -> None:
    with pytest.raises(DatasetError, match="seven_jackson_1.wav"):
        Recording.from_path("x/seven_jackson_1.wav")


# --------------------------------------------------------------------------- splits


def test_standard_split_sizes_and_disjoint() -> None:
    recs = _fake_recs()
    train, test = standard_split(recs)
    assert (len(train), len(test)) == (2700, 300)
    assert {r.take for r in test} == set(range(5))
    assert {r.take for r in train} == set(range(5, 50))
    assert not set(train) & set(test)
    assert set(train) | set(test) == set(recs)


def test_loso_folds() -> None:
    recs = _fake_recs()
    folds = loso_folds(recs)
    assert [f[0] for f in folds] == sorted(SPEAKERS)
    for spk, train, test in folds:
        assert len(test) == 500 and len(train) == 2500
        assert {r.speaker for r in test} == {spk}
        assert spk not in {r.speaker for r in train}
        assert set(train) | set(test) == set(recs)
    with pytest.raises(DatasetError):
        loso_folds(_fake_recs(speakers=["solo"]))


def test_validation_split_standard_and_loso() -> None:
    recs = _fake_recs()
    train, test = standard_split(recs)
    fit, val = validation_split(train)
    assert (len(fit), len(val)) == (2400, 300)
    assert {r.take for r in val} == set(range(5, 10))
    assert not (set(fit) | set(val)) & set(test)
    assert set(fit) | set(val) == set(train)

    spk, train, test = loso_folds(recs)[0]
    fit, val = validation_split(train)
    assert (len(fit), len(val)) == (2250, 250)
    assert {r.take for r in val} == set(range(5, 10))
    assert spk not in {r.speaker for r in fit + val}

    with pytest.raises(DatasetError):
        validation_split(_fake_recs(takes=range(5, 10)))


# --------------------------------------------------------------------------- WAV reading


def _dominant_freq(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spec)])


def test_read_real_file(fsdd_root: Path) -> None:
    path = fsdd_root / "recordings" / "7_jackson_32.wav"
    x = read_wav(path)
    rate, raw = scipy.io.wavfile.read(path)
    assert rate == 8000 and x.dtype == np.float64 and x.shape == raw.shape
    np.testing.assert_allclose(x, raw / 32768.0)


@pytest.mark.parametrize(
    ("dtype", "scale", "offset"),
    [(np.int16, 32767, 0), (np.int32, 2**31 - 1, 0), (np.uint8, 127, 128), (np.float32, 1.0, 0)],
)
def test_read_sample_types(tmp_path: Path, dtype, scale, offset) -> None:
    t = np.arange(800) / 8000
    ref = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "x.wav"
    scipy.io.wavfile.write(path, 8000, (ref * scale + offset).astype(dtype))
    x = read_wav(path)
    assert x.dtype == np.float64 and x.shape == ref.shape
    np.testing.assert_allclose(x, ref, atol=1.5 / 128 if dtype == np.uint8 else 1e-4)


def test_read_resamples_other_rate(tmp_path: Path) -> None:
    rate, f0, dur = 16000, 440.0, 0.5
    t = np.arange(int(rate * dur)) / rate
    path = tmp_path / "tone16k.wav"
    scipy.io.wavfile.write(path, rate, (0.5 * np.sin(2 * np.pi * f0 * t) * 32767).astype(np.int16))
    x = read_wav(path, rate=8000)
    assert len(x) == int(8000 * dur)
    assert abs(_dominant_freq(x, 8000) - f0) < 8000 / len(x)
    assert np.max(np.abs(x[100:-100])) == pytest.approx(0.5, abs=0.02)


def test_read_stereo_is_averaged(tmp_path: Path) -> None:
    left = np.full(100, 1000, dtype=np.int16)
    right = np.full(100, -3000, dtype=np.int16)
    path = tmp_path / "stereo.wav"
    scipy.io.wavfile.write(path, 8000, np.stack([left, right], axis=1))
    x = read_wav(path)
    assert x.shape == (100,)
    np.testing.assert_allclose(x, -1000 / 32768)


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not a wav file at all")
    with pytest.raises(DatasetError, match="garbage.wav"):
        read_wav(garbage)

    zero = tmp_path / "zero_bytes.wav"
    zero.write_bytes(b"")
    with pytest.raises(DatasetError, match="zero_bytes.wav"):
        read_wav(zero)

    empty = tmp_path / "no_samples.wav"
    scipy.io.wavfile.write(empty, 8000, np.zeros(0, dtype=np.int16))
    with pytest.raises(DatasetError, match="no_samples.wav"):
        read_wav(empty)

    with pytest.raises(DatasetError, match="missing.wav"):
        read_wav(tmp_path / "missing.wav")

    assert issubclass(DatasetError, ValueError)


# --------------------------------------------------------------------------- download


def _make_archive(path: Path) -> list[str]:
    """A miniature GitHub archive: recordings plus files that must not be extracted."""
    names = ["0_george_0.wav", "9_theo_49.wav"]
    top = "free-spoken-digit-dataset-abc"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{top}/README.md", "readme")
        zf.writestr(f"{top}/recordings/", "")
        for i, n in enumerate(names):
            zf.writestr(f"{top}/recordings/{n}", bytes([i]) * 10)
        zf.writestr(f"{top}/recordings/notes.txt", "x")
        zf.writestr(f"{top}/utils/recordings/../evil.wav", "x")
        zf.writestr(f"{top}/acquire/1_x_1.wav", "not in recordings/")
    return names


def test_extract_recordings_only(tmp_path: Path) -> None:
    archive = tmp_path / "fsdd.zip"
    names = _make_archive(archive)
    out = extract_recordings(archive, tmp_path / "data")
    assert out == tmp_path / "data" / "recordings"
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert (out / "9_theo_49.wav").read_bytes() == bytes([1]) * 10
    assert [r.path.name for r in list_recordings(tmp_path / "data")] == names


def test_extract_bad_archives(tmp_path: Path) -> None:
    notzip = tmp_path / "notzip.zip"
    notzip.write_bytes(b"nope")
    with pytest.raises(DatasetError, match="notzip.zip"):
        extract_recordings(notzip, tmp_path)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("README.md", "x")
    with pytest.raises(DatasetError, match="empty.zip"):
        extract_recordings(empty, tmp_path)


def test_download_offline_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetError, match="could not download FSDD.*offline"):
        download_fsdd(tmp_path, progress=False)
    assert not (tmp_path / "recordings").exists()


def test_download_connection_refused(tmp_path: Path) -> None:
    # port 9 (discard) on localhost: refused without touching the network
    with pytest.raises(DatasetError, match="127.0.0.1"):
        download_fsdd(tmp_path, url="http://127.0.0.1:9/fsdd.zip", timeout=2, progress=False)


def test_download_extracts(tmp_path: Path) -> None:
    archive = tmp_path / "served.zip"
    names = _make_archive(archive)
    out = download_fsdd(tmp_path / "dest", url=archive.as_uri(), progress=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    # the temporary download folder is cleaned up
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["recordings"]
