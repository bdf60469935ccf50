"""The Free Spoken Digit Dataset (FSDD): file listing, splits, WAV reading, download.

FSDD holds 3,000 mono 8 kHz WAV recordings of the spoken digits 0-9 by six
speakers, 50 takes of each digit each, named ``{digit}_{speaker}_{take}.wav``
(for example ``7_jackson_32.wav``).  It comes from the public repository
Jakobovski/free-spoken-digit-dataset (CC BY-SA 4.0, Zenodo DOI
10.5281/zenodo.1342401); attribute its authors when publishing results on it.

Splits provided here
--------------------
* :func:`standard_split` -- the dataset's own split: takes 0-4 of every speaker
  and digit are the test set (300 files), takes 5-49 the training set (2,700).
* :func:`loso_folds` -- leave one speaker out (6 folds), the harder,
  speaker-independent test.
* :func:`validation_split` -- a validation set *inside* a training set (takes
  5-9), used to choose hyper-parameters such as the ridge regularisation
  without ever touching the test set.
"""

from __future__ import annotations

import re
import shutil
import struct
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from math import gcd
from pathlib import Path, PurePosixPath

import numpy as np
import scipy.io.wavfile
import scipy.signal
from ..errors import MemresError
from ..progress import task as progress_task

__all__ = [
    "DatasetError",
    "FSDD_COMMIT",
    "FSDD_URL",
    "Recording",
    "download_fsdd",
    "extract_recordings",
    "list_recordings",
    "loso_folds",
    "read_wav",
    "standard_split",
    "validation_split",
]

#: Commit of Jakobovski/free-spoken-digit-dataset that the project's copy comes from.
FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
#: GitHub archive of that commit (a zip of the whole repository, about 15 MB).
FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.zip"

#: ``{digit}_{speaker}_{take}.wav``
_NAME_RE = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>[A-Za-z][A-Za-z0-9-]*)_(?P<take>[0-9]+)\.wav$")

#: Takes that form the test set of the standard split.
STANDARD_TEST_TAKES = range(0, 5)
#: Takes used for validation inside a training set.
VALIDATION_TAKES = range(5, 10)


class DatasetError(MemresError, ValueError):
    """A dataset file or folder is missing, unreadable or malformed."""


@dataclass(frozen=True, order=True)
class Recording:
    """One FSDD recording.

    Attributes
    ----------
    path : Path
        Location of the WAV file.
    digit : int
        The spoken digit, 0-9 (the class label).
    speaker : str
        Speaker name, e.g. ``"jackson"``.
    take : int
        Take number, 0-49 in FSDD.
    """

    path: Path
    digit: int
    speaker: str
    take: int

    @classmethod
    def from_path(cls, path: str | Path) -> Recording:
        """Parse a recording from a file named ``{digit}_{speaker}_{take}.wav``.

        Raises
        ------
        DatasetError
            If the file name does not follow that pattern.
        """
        path = Path(path)
        m = _NAME_RE.match(path.name)
        if m is None:
            raise DatasetError(
                f"{path}: file name does not match '{{digit}}_{{speaker}}_{{take}}.wav'"
            )
        return cls(path, int(m["digit"]), m["speaker"], int(m["take"]))


def _sort_key(rec: Recording) -> tuple[int, str, int]:
    return (rec.digit, rec.speaker, rec.take)


def list_recordings(root: str | Path) -> list[Recording]:
    """List the FSDD recordings under ``root``.

    Parameters
    ----------
    root : str or Path
        Either the folder holding the ``*.wav`` files or its parent, which has
        a ``recordings/`` sub-folder (the layout of the FSDD repository).

    Returns
    -------
    list of Recording
        Sorted by (digit, speaker, take), so the order does not depend on the
        file system.  WAV files whose name does not follow the FSDD pattern are
        skipped with a warning.

    Raises
    ------
    DatasetError
        If ``root`` does not exist or holds no FSDD recordings.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"FSDD folder {root} does not exist (or is not a folder)")
    folder = root
    if not any(root.glob("*.wav")) and (root / "recordings").is_dir():
        folder = root / "recordings"
    recs: list[Recording] = []
    skipped: list[str] = []
    for path in folder.glob("*.wav"):
        try:
            recs.append(Recording.from_path(path))
        except DatasetError:
            skipped.append(path.name)
    if skipped:
        warnings.warn(
            f"{folder}: skipped {len(skipped)} WAV file(s) not named "
            f"'{{digit}}_{{speaker}}_{{take}}.wav': {', '.join(sorted(skipped)[:5])}"
            + (" ..." if len(skipped) > 5 else ""),
            stacklevel=2,
        )
    if not recs:
        raise DatasetError(
            f"no FSDD recordings ('{{digit}}_{{speaker}}_{{take}}.wav') found in {folder}; "
            "pass the 'recordings' folder or its parent, or fetch the data with download_fsdd()"
        )
    return sorted(recs, key=_sort_key)


def standard_split(recs: Iterable[Recording]) -> tuple[list[Recording], list[Recording]]:
    """The dataset's own train/test split.

    Takes 0-4 of every speaker and digit are the test set, takes 5-49 the
    training set (2,700 / 300 files on the full dataset).

    Parameters
    ----------
    recs : iterable of Recording

    Returns
    -------
    train, test : list of Recording
        Both keep the input order.
    """
    recs = list(recs)
    test = [r for r in recs if r.take in STANDARD_TEST_TAKES]
    train = [r for r in recs if r.take not in STANDARD_TEST_TAKES]
    return train, test


def loso_folds(recs: Iterable[Recording]) -> list[tuple[str, list[Recording], list[Recording]]]:
    """Leave-one-speaker-out folds.

    Parameters
    ----------
    recs : iterable of Recording

    Returns
    -------
    list of (speaker, train, test)
        One fold per speaker (6 on FSDD), speakers in alphabetical order; the
        test set is every recording of ``speaker``, the training set every
        recording of the other speakers.

    Raises
    ------
    DatasetError
        If there are fewer than two speakers.
    """
    recs = list(recs)
    speakers = sorted({r.speaker for r in recs})
    if len(speakers) < 2:
        raise DatasetError(f"leave-one-speaker-out needs at least 2 speakers, got {speakers}")
    return [
        (spk, [r for r in recs if r.speaker != spk], [r for r in recs if r.speaker == spk])
        for spk in speakers
    ]


def validation_split(
    train_recs: Iterable[Recording], val_takes: Iterable[int] = VALIDATION_TAKES
) -> tuple[list[Recording], list[Recording]]:
    """Split a training set into a fitting part and a validation part.

    The validation part is every recording whose take is in ``val_takes``
    (takes 5-9 by default).  The same rule serves both protocols:

    * standard split: the training set has takes 5-49, so validation is takes
      5-9 (300 files) and fitting takes 10-49 (2,400 files);
    * a LOSO training set (5 speakers, takes 0-49): validation is takes 5-9 of
      those 5 speakers (250 files), fitting the rest (2,250 files).  The held-out
      speaker never appears in either part.

    Parameters
    ----------
    train_recs : iterable of Recording
        A training set (never the test set).
    val_takes : iterable of int, default takes 5-9

    Returns
    -------
    fit, val : list of Recording

    Raises
    ------
    DatasetError
        If either part would be empty.
    """
    recs = list(train_recs)
    takes = set(val_takes)
    val = [r for r in recs if r.take in takes]
    fit = [r for r in recs if r.take not in takes]
    if not val or not fit:
        raise DatasetError(
            f"validation split with takes {sorted(takes)} leaves {len(fit)} fitting and "
            f"{len(val)} validation recordings out of {len(recs)}; both must be non-empty"
        )
    return fit, val


#: Sample rates accepted in a WAV header (Hz). Outside it the resampling ratio, and with it the memory
#: one file may cost, is unbounded (a header saying 1 Hz once made a 7 KB file ask for 21 GB).
WAV_RATE_RANGE = (1000, 384_000)
#: Longest recording accepted (seconds of audio): FSDD utterances are under 2 s; a minute is generous.
MAX_WAV_SECONDS = 60.0


def wav_header(path: str | Path) -> tuple[int, int, int, int]:
    """Check a WAV file's RIFF structure without reading its samples.

    Returns ``(sample_rate, channels, bits_per_sample, data_bytes)``. Raises :class:`DatasetError`
    naming the file for a truncated or malformed header, a data chunk that is shorter than its header
    says, a sample rate outside :data:`WAV_RATE_RANGE`, or more than :data:`MAX_WAV_SECONDS` of audio.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                raise DatasetError(f"{path} is not a WAV file (no RIFF/WAVE header)")
            order = "<" if head[:4] == b"RIFF" else ">"
            fmt = None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    raise DatasetError(f"WAV file {path} is truncated: "
                                       f"{'no data chunk' if fmt else 'no fmt chunk'} before the end of the file")
                cid, clen = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
                if cid == b"fmt ":
                    body = f.read(clen)
                    if clen < 16 or len(body) < 16:
                        raise DatasetError(f"WAV file {path} has a truncated fmt chunk")
                    _tag, channels, rate, _byte_rate, align, bits = struct.unpack(order + "HHIIHH", body[:16])
                    fmt = (rate, channels, bits, align)
                    if clen % 2:
                        f.read(1)
                elif cid == b"data":
                    if fmt is None:
                        raise DatasetError(f"WAV file {path} has its data chunk before the fmt chunk")
                    riff_end = 8 + struct.unpack(order + "I", head[4:8])[0]
                    if riff_end < f.tell():
                        # readers stop at the RIFF size: the chunks beyond it do not exist for them
                        raise DatasetError(f"WAV file {path} is damaged: its RIFF header ends the file at byte "
                                           f"{riff_end}, before its data chunk")
                    left = size - f.tell()
                    if clen > left:
                        raise DatasetError(f"WAV file {path} is truncated: its header announces {clen} bytes "
                                           f"of samples but the file holds {left}")
                    break
                else:
                    f.seek(clen + (clen % 2), 1)
    except OSError as e:
        raise DatasetError(f"cannot read WAV file {path}: {e.strerror or e}") from None
    rate, channels, bits, align = fmt
    lo, hi = WAV_RATE_RANGE
    if not lo <= rate <= hi:
        raise DatasetError(f"WAV file {path}: sample rate {rate} Hz is outside {lo}..{hi} Hz")
    if channels < 1 or bits not in (8, 16, 24, 32, 64) or align != channels * bits // 8:
        raise DatasetError(f"WAV file {path}: unsupported format ({channels} channels, {bits} bits per sample)")
    seconds = clen / (channels * bits // 8) / rate
    if seconds > MAX_WAV_SECONDS:
        raise DatasetError(f"WAV file {path} holds {seconds:.0f} s of audio; at most {MAX_WAV_SECONDS:g} s "
                           f"per recording is accepted (split the file)")
    return rate, channels, bits, clen


def read_wav(path: str | Path, rate: int = 8000) -> np.ndarray:
    """Read a WAV file as mono float64 samples in [-1, 1] at ``rate`` Hz.

    Parameters
    ----------
    path : str or Path
    rate : int, default 8000
        Wanted sample rate.  Files at another rate are resampled with a
        polyphase filter (:func:`scipy.signal.resample_poly`).

    Returns
    -------
    numpy.ndarray, shape (n_samples,), float64
        int16 / int32 (also 24-bit, which scipy returns left-aligned in int32)
        are divided by their full scale, uint8 is centred on 128, float data is
        taken as is; everything is clipped to [-1, 1].  Multi-channel files are
        averaged to mono.

    Raises
    ------
    DatasetError
        If the file cannot be read, is truncated, has an unsupported sample
        type, a sample rate outside :data:`WAV_RATE_RANGE`, more than
        :data:`MAX_WAV_SECONDS` of audio, or holds no samples.  The message
        names the file.
    """
    path = Path(path)
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    wav_header(path)
    try:
        with warnings.catch_warnings():
            # e.g. unknown chunks in otherwise valid files
            warnings.simplefilter("ignore", scipy.io.wavfile.WavFileWarning)
            file_rate, data = scipy.io.wavfile.read(path)
    except (OSError, ValueError, EOFError, struct.error, MemoryError, ZeroDivisionError) as exc:
        raise DatasetError(f"cannot read WAV file {path}: {exc}") from None
    if data.size == 0:
        raise DatasetError(f"WAV file {path} holds no samples")
    if data.dtype == np.uint8:
        x = (data.astype(np.float64) - 128.0) / 128.0
    elif data.dtype == np.int16:
        x = data.astype(np.float64) / 32768.0
    elif data.dtype == np.int32:
        x = data.astype(np.float64) / 2147483648.0
    elif data.dtype.kind == "f":
        x = data.astype(np.float64)
    else:
        raise DatasetError(f"WAV file {path}: unsupported sample type {data.dtype}")
    if x.ndim == 2:
        x = x.mean(axis=1)
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"WAV file {path} contains non-finite samples")
    if file_rate != rate:
        g = gcd(int(file_rate), int(rate))
        x = scipy.signal.resample_poly(x, rate // g, int(file_rate) // g)
    return np.clip(x, -1.0, 1.0)


# --------------------------------------------------------------------------- download


def _is_fsdd_member(name: str) -> bool:
    """True for zip members ``<anything>/recordings/<digit>_<speaker>_<take>.wav``."""
    p = PurePosixPath(name)
    return len(p.parts) >= 2 and p.parent.name == "recordings" and _NAME_RE.match(p.name) is not None


def extract_recordings(zip_path: str | Path, dest: str | Path) -> Path:
    """Extract the FSDD recordings from a repository archive.

    Only members ``.../recordings/{digit}_{speaker}_{take}.wav`` are written,
    flat, to ``dest/recordings`` (member paths are never used as file paths, so
    a malicious archive cannot write elsewhere).

    Parameters
    ----------
    zip_path : str or Path
        A zip archive of the FSDD repository (as GitHub serves it).
    dest : str or Path
        Target folder; ``dest/recordings`` is created.

    Returns
    -------
    Path
        ``dest/recordings``.

    Raises
    ------
    DatasetError
        If the archive is not a zip file or holds no recordings.
    """
    zip_path = Path(zip_path)
    out = Path(dest).expanduser() / "recordings"
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir() and _is_fsdd_member(m.filename)]
            if not members:
                raise DatasetError(f"archive {zip_path} holds no recordings/*.wav files")
            out.mkdir(parents=True, exist_ok=True)
            for m in members:
                with zf.open(m) as src, open(out / PurePosixPath(m.filename).name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"{zip_path} is not a valid zip archive: {exc}") from exc
    return out


def download_fsdd(
    dest: str | Path, url: str = FSDD_URL, timeout: float = 30.0, progress: bool = True
) -> Path:
    """Download FSDD and extract its recordings into ``dest/recordings``.

    Fetches the GitHub archive of the pinned commit (:data:`FSDD_COMMIT`) with
    :mod:`urllib`, reporting progress (:mod:`sw_model.progress`), then keeps only
    ``recordings/*.wav`` (see :func:`extract_recordings`).

    Parameters
    ----------
    dest : str or Path
        Target folder; afterwards ``list_recordings(dest)`` works.
    url : str, default :data:`FSDD_URL`
    timeout : float, default 30
        Seconds to wait for the server.
    progress : bool, default True
        Report the download's progress (:mod:`sw_model.progress`; the CLI draws it).

    Returns
    -------
    Path
        ``dest/recordings``.

    Raises
    ------
    DatasetError
        If the download fails (e.g. no network) or the archive is unusable.
    """
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fsdd-download-") as tmp:
        zip_path = Path(tmp) / "fsdd.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(zip_path, "wb") as f:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                with progress_task("FSDD download (bytes)", total, enabled=progress) as advance:
                    while chunk := resp.read(1 << 16):
                        f.write(chunk)
                        advance(len(chunk))
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DatasetError(
                f"could not download FSDD from {url}: {reason}. Are you offline? "
                f"Copy the 'recordings' folder of commit {FSDD_COMMIT} of "
                f"Jakobovski/free-spoken-digit-dataset into {dest} by hand instead."
            ) from exc
        return extract_recordings(zip_path, dest)
