"""Auditory front-end: gammatone cochleagram, normalisation and a feature cache.

Pipeline for one waveform (:func:`cochleagram`)
-----------------------------------------------
1. A bank of ``n_channels`` 4th-order gammatone filters with centre
   frequencies equally spaced on the ERB-rate scale (Glasberg & Moore 1990)
   between ``fmin`` and ``fmax``.
2. Half-wave rectification of every channel output.
3. Mean over non-overlapping frames of ``sample_rate / frame_rate`` samples
   (10 ms at the defaults, i.e. 100 frames per second).
4. Compression to dB: ``20 * log10(mean rectified amplitude)``, floored at
   ``floor_db`` (-100 dB).

The filters are scipy's IIR gammatone design (:func:`scipy.signal.gammatone`
with ``ftype="iir"``: an 8th-order digital filter modelled on the 4th-order
gammatone, unity gain at its centre frequency).  The IIR design is exact for
every channel; scipy's FIR variant is a truncated impulse response of 15 ms by
default, too short for the low channels (at 100 Hz the gammatone envelope peaks
only after about 13 ms).  To filter all channels in one vectorised call, the
IIR impulse responses are computed once per configuration, cut where their
remaining energy is below 1e-12 of the total (under 0.1 s at 8 kHz), and
applied by FFT convolution (:func:`scipy.signal.oaconvolve`) -- numerically the
same as running ``lfilter`` channel by channel (relative difference ~1e-6).

Normalisation (:class:`Normaliser`) maps each channel to [0, 1] with bounds
taken from *training* sequences only.

:func:`load_fsdd_features` computes cochleagrams of many files in parallel and
caches them on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.signal

from .datasets.fsdd import DatasetError, Recording, read_wav
from .progress import task as progress_task

__all__ = [
    "FRONTEND_VERSION",
    "FrontEndConfig",
    "Normaliser",
    "causal_centre",
    "cepstral_matrix",
    "level_free",
    "cochleagram",
    "default_cache_dir",
    "erb_space",
    "filterbank_impulse_responses",
    "load_fsdd_features",
]

#: Bump when the feature computation changes, so that old cache entries are not reused.
FRONTEND_VERSION = 1
#: Largest prior weight of the causal mean normalisation (frames).
MAX_MEAN_FRAMES = 10_000
#: FrontEndConfig fields that the Normaliser applies (not part of the cochleagram cache key).
NORMALISATION_FIELDS = ("remove_level", "mean_frames", "input_taps", "cepstra")
#: Longest input delay line of the time-series tasks (steps).
MAX_INPUT_TAPS = 64


@dataclass(frozen=True)
class FrontEndConfig:
    """Settings of the auditory front-end.

    Attributes
    ----------
    n_channels : int, default 32
        Number of gammatone channels, 8..128 (32-64 is the useful range).
    sample_rate : int, default 8000
        Audio sample rate in Hz; input audio is resampled to it.
    frame_rate : int, default 100
        Output frames per second; must divide ``sample_rate``.
    fmin, fmax : float, default 100.0, 3500.0
        Centre frequencies of the lowest and highest channel in Hz,
        ``0 < fmin < fmax < sample_rate / 2``.
    floor_db : float, default -100.0
        Lower limit of the dB values (silence maps here).
    remove_level : bool, default False
        Subtract from every frame its mean over the channels (its level in
        dB), so that only the shape of the spectrum is left: loudness
        normalisation that needs no past frames (:class:`Normaliser`).
    mean_frames : int, default 0
        Causal mean normalisation (:class:`Normaliser`): subtract from every
        frame the running mean of its utterance so far, which starts from the
        training mean with the weight of ``mean_frames`` frames. 0 turns it
        off.
    cepstra : int, default 0
        Replace the ``n_channels`` dB values of every frame by its first
        ``cepstra`` cepstral coefficients (orthonormal DCT-II over the
        channels, :func:`cepstral_matrix`): the spectrum's shape smoothed
        over frequency, as MFCCs do, which keeps the formant pattern of a
        digit and drops the finer detail that differs from speaker to
        speaker. Applied before the mean normalisation; the reservoir then
        has ``cepstra`` inputs. 0 (the default) keeps the channels.

    input_taps : int, default 1
        Time-series tasks only (:class:`~sw_model.tasks.InputScaler`): the
        reservoir sees the last ``input_taps`` scaled inputs, ``u(t)`` ..
        ``u(t - input_taps + 1)``, as that many times the channels: a delay
        line on the host in front of the mask. 1 is the input alone.

    The last four are applied after the cochleagram, so they are not part of
    the cache key (:meth:`digest`).
    """

    n_channels: int = 32
    sample_rate: int = 8000
    frame_rate: int = 100
    fmin: float = 100.0
    fmax: float = 3500.0
    floor_db: float = -100.0
    remove_level: bool = False
    mean_frames: int = 0
    input_taps: int = 1
    cepstra: int = 0

    def __post_init__(self) -> None:
        if not 8 <= self.n_channels <= 128:
            raise ValueError(f"n_channels must be in 8..128, got {self.n_channels}")
        if self.sample_rate <= 0 or self.frame_rate <= 0:
            raise ValueError(
                f"sample_rate and frame_rate must be positive, got {self.sample_rate}, {self.frame_rate}"
            )
        if self.sample_rate % self.frame_rate:
            raise ValueError(
                f"frame_rate {self.frame_rate} must divide sample_rate {self.sample_rate}"
            )
        if not 0 < self.fmin < self.fmax < self.sample_rate / 2:
            raise ValueError(
                f"need 0 < fmin < fmax < sample_rate/2, got fmin={self.fmin}, "
                f"fmax={self.fmax}, sample_rate={self.sample_rate}"
            )
        if not 0 <= self.mean_frames <= MAX_MEAN_FRAMES:
            raise ValueError(f"mean_frames must be in 0..{MAX_MEAN_FRAMES}, got {self.mean_frames}")
        if not 1 <= self.input_taps <= MAX_INPUT_TAPS:
            raise ValueError(f"input_taps must be in 1..{MAX_INPUT_TAPS}, got {self.input_taps}")
        if not 0 <= self.cepstra <= self.n_channels:
            raise ValueError(f"cepstra must be in 0..n_channels ({self.n_channels}), got {self.cepstra}")

    @property
    def n_inputs(self) -> int:
        """Values per frame after the normalisation: ``cepstra``, or ``n_channels`` without them."""
        return self.cepstra or self.n_channels

    @property
    def hop(self) -> int:
        """Samples per output frame."""
        return self.sample_rate // self.frame_rate

    @property
    def centre_frequencies(self) -> np.ndarray:
        """Channel centre frequencies in Hz, ascending, shape (n_channels,)."""
        return erb_space(self.fmin, self.fmax, self.n_channels)

    def digest(self) -> str:
        """Short hash of the settings and :data:`FRONTEND_VERSION` (used as cache key)."""
        settings = {k: v for k, v in asdict(self).items() if k not in NORMALISATION_FIELDS}
        text = json.dumps({"version": FRONTEND_VERSION, **settings}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def erb_space(fmin: float, fmax: float, n: int) -> np.ndarray:
    """``n`` frequencies equally spaced on the ERB-rate scale, ``fmin`` and ``fmax`` included.

    The ERB-rate scale (Glasberg & Moore 1990) is
    ``E(f) = 21.4 * log10(1 + 0.00437 f)``.

    Parameters
    ----------
    fmin, fmax : float
        End points in Hz.
    n : int
        Number of frequencies (>= 2).

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    if n < 2:
        raise ValueError(f"need at least 2 frequencies, got n={n}")
    e = np.linspace(21.4 * np.log10(1 + 0.00437 * fmin), 21.4 * np.log10(1 + 0.00437 * fmax), n)
    return (10 ** (e / 21.4) - 1) / 0.00437


@lru_cache(maxsize=16)
def cepstral_matrix(n_channels: int, n: int) -> np.ndarray:
    """(n_channels, n) orthonormal DCT-II, read-only: ``x @ cepstral_matrix(C, n)`` gives the first
    ``n`` cepstral coefficients of frames ``x`` (T, C) of dB values (coefficient 0 is the level)."""
    if not 1 <= n <= n_channels:
        raise ValueError(f"need 1 <= n <= n_channels, got n={n}, n_channels={n_channels}")
    d = np.cos(np.pi * np.outer(np.arange(n_channels) + 0.5, np.arange(n)) / n_channels) * np.sqrt(2.0 / n_channels)
    d[:, 0] /= np.sqrt(2.0)
    d.flags.writeable = False
    return d


@lru_cache(maxsize=8)
def filterbank_impulse_responses(cfg: FrontEndConfig) -> np.ndarray:
    """Impulse responses of the gammatone bank, shape (n_channels, L), read-only.

    Each row is the response of scipy's IIR gammatone for one centre frequency,
    long enough that the energy left out is below 1e-12 of the total.
    """
    fs = cfg.sample_rate
    impulse = np.zeros(fs)  # 1 s is far more than any channel needs
    impulse[0] = 1.0
    rows = []
    for f in cfg.centre_frequencies:
        b, a = scipy.signal.gammatone(float(f), "iir", fs=fs)
        rows.append(scipy.signal.lfilter(b, a, impulse))
    h = np.array(rows)
    energy = np.cumsum(h**2, axis=1)
    energy /= energy[:, -1:]
    length = int(np.max(np.argmax(energy >= 1.0 - 1e-12, axis=1))) + 1
    h = np.ascontiguousarray(h[:, :length])
    h.flags.writeable = False
    return h


def cochleagram(wave: np.ndarray, cfg: FrontEndConfig = FrontEndConfig()) -> np.ndarray:
    """Gammatone cochleagram of one waveform.

    Parameters
    ----------
    wave : numpy.ndarray, shape (n_samples,)
        Mono audio at ``cfg.sample_rate`` (e.g. from
        :func:`sw_model.datasets.read_wav`), at least one sample.
    cfg : FrontEndConfig

    Returns
    -------
    numpy.ndarray, shape (T, n_channels), float64
        dB values (``20 log10`` of the mean half-wave-rectified filter output
        per frame), at least ``cfg.floor_db``.  ``T = floor(n_samples / hop)``
        (incomplete trailing samples are dropped), but at least 1: a wave
        shorter than one frame gives one frame averaged over all its samples.
        Channels are ordered from low to high frequency.
    """
    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"wave must be a non-empty 1-D array, got shape {x.shape}")
    h = filterbank_impulse_responses(cfg)
    y = scipy.signal.oaconvolve(x[None, :], h, axes=1)[:, : x.size]  # causal filtering
    np.maximum(y, 0.0, out=y)  # half-wave rectification
    hop = cfg.hop
    n_frames = max(1, x.size // hop)
    if x.size >= hop:
        mean = y[:, : n_frames * hop].reshape(cfg.n_channels, n_frames, hop).mean(axis=2)
    else:
        mean = y.mean(axis=1, keepdims=True)
    floor = 10.0 ** (cfg.floor_db / 20.0)
    return 20.0 * np.log10(np.maximum(mean.T, floor))


# --------------------------------------------------------------------------- normalisation


@dataclass(frozen=True)
class Normaliser:
    """Per-channel affine map to [0, 1], fitted on training sequences only.

    ``transform(x) = clip((c(x) - lo) / (hi - lo), 0, 1)`` per channel, where
    ``lo`` and ``hi`` are the ``lower_pct`` and ``upper_pct`` percentiles of
    all (centred) training frames of that channel.  Percentiles (1st and
    99.9th by default) rather than min/max keep one outlier frame (a click, a
    silent stretch at the floor) from squeezing the useful range.  Test data
    is transformed with the training bounds and clipped.

    ``c`` normalises each utterance causally, so that a decision after a
    quarter of an utterance uses only that quarter. With ``remove_level``,
    each frame first loses its mean over the channels (its level in dB). With
    ``cepstra``, each frame's ``in_channels`` dB values become its first
    ``cepstra`` cepstral coefficients (``x @ cepstral_matrix(in_channels,
    cepstra)``). Then the causal mean normalisation (cepstral-mean style)::

        c(x)[t] = x[t] - (k mean + x[0] + ... + x[t]) / (k + t + 1),   k = mean_frames

    with ``mean`` the per-channel mean of all (level-free) training frames.
    It removes what stays constant over an utterance (the speaker's and the
    microphone's spectral tilt) and keeps how the spectrum moves. With both
    off (the default) ``c`` is the identity.

    Create with :meth:`fit`; save with :meth:`to_dict` (JSON-serialisable) and
    restore with :meth:`from_dict`.

    Attributes
    ----------
    lo, hi : tuple of float
        Per-channel bounds (``hi > lo``; a constant channel gets ``hi = lo + 1``).
    lower_pct, upper_pct : float
        Percentiles the bounds were taken at.
    mean_frames : int
        Prior weight of the causal mean normalisation (0: off).
    mean : tuple of float
        Per-channel training mean (empty when ``mean_frames`` is 0).
    remove_level : bool
        Subtract each frame's mean over the channels first.
    cepstra : int
        Number of cepstral coefficients each frame is reduced to (0: off,
        the channels are kept). ``lo``, ``hi`` and ``mean`` are then per
        coefficient.
    in_channels : int
        Channels of the frames :meth:`transform` takes: ``n_channels``
        without cepstra (0 is read as that).
    """

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    lower_pct: float = 1.0
    upper_pct: float = 99.9
    mean_frames: int = 0
    mean: tuple[float, ...] = ()
    remove_level: bool = False
    cepstra: int = 0
    in_channels: int = 0

    def __post_init__(self) -> None:
        if len(self.lo) != len(self.hi) or not self.lo:
            raise ValueError(f"lo and hi must be non-empty and equally long, got {len(self.lo)}, {len(self.hi)}")
        if any(not h > l for l, h in zip(self.lo, self.hi)):
            raise ValueError("every channel needs hi > lo")
        if not 0 <= self.mean_frames <= MAX_MEAN_FRAMES:
            raise ValueError(f"mean_frames must be in 0..{MAX_MEAN_FRAMES}, got {self.mean_frames}")
        if len(self.mean) != (len(self.lo) if self.mean_frames else 0):
            raise ValueError(f"mean has {len(self.mean)} values; expected "
                             f"{len(self.lo) if self.mean_frames else 0} (mean_frames {self.mean_frames})")
        if self.cepstra and (self.cepstra != len(self.lo) or self.in_channels < self.cepstra):
            raise ValueError(f"cepstra = {self.cepstra} needs as many bounds (got {len(self.lo)}) and at least "
                             f"as many input channels (got {self.in_channels})")
        if not self.cepstra and self.in_channels not in (0, len(self.lo)):
            raise ValueError(f"in_channels = {self.in_channels} without cepstra must be 0 or {len(self.lo)}")

    @classmethod
    def fit(
        cls,
        seqs: Sequence[np.ndarray] | np.ndarray,
        lower_pct: float = 1.0,
        upper_pct: float = 99.9,
        mean_frames: int = 0,
        remove_level: bool = False,
        cepstra: int = 0,
    ) -> Normaliser:
        """Compute per-channel bounds (and the mean) from training sequences.

        Parameters
        ----------
        seqs : sequence of arrays of shape (T_i, C), or one array of shape (T, C)
            Training data only.
        lower_pct, upper_pct : float
            Percentiles (0..100) giving ``lo`` and ``hi``.
        mean_frames : int
            Prior weight of the causal mean normalisation (0: off).
        remove_level : bool
            Subtract each frame's mean over the channels first.
        cepstra : int
            Reduce every frame to this many cepstral coefficients (0: off).

        Returns
        -------
        Normaliser
        """
        if not 0.0 <= lower_pct < upper_pct <= 100.0:
            raise ValueError(f"need 0 <= lower_pct < upper_pct <= 100, got {lower_pct}, {upper_pct}")
        if isinstance(seqs, np.ndarray):
            seqs = [seqs]
        if len(seqs) == 0:
            raise ValueError("cannot fit on an empty list of sequences")
        arrays = [np.asarray(s, dtype=np.float64) for s in seqs]
        n_ch = arrays[0].shape[-1] if arrays[0].ndim == 2 else None
        for i, a in enumerate(arrays):
            if a.ndim != 2 or a.shape[1] != n_ch:
                raise ValueError(f"sequence {i} has shape {a.shape}; expected (T, {n_ch})")
        data = np.concatenate(arrays, axis=0)
        if data.shape[0] == 0:
            raise ValueError("cannot fit on sequences without frames")
        if not np.all(np.isfinite(data)):
            raise ValueError("training data contains non-finite values")
        if not 0 <= cepstra <= n_ch:
            raise ValueError(f"cepstra must be in 0..{n_ch} (the channels), got {cepstra}")
        if remove_level:
            arrays = [level_free(a) for a in arrays]
            data = np.concatenate(arrays, axis=0)
        if cepstra:
            arrays = [a @ cepstral_matrix(n_ch, cepstra) for a in arrays]
            data = np.concatenate(arrays, axis=0)
        mean: tuple[float, ...] = ()
        if mean_frames:
            mean = tuple(map(float, data.mean(axis=0)))
            data = np.concatenate([causal_centre(a, mean, mean_frames) for a in arrays], axis=0)
        lo, hi = np.percentile(data, [lower_pct, upper_pct], axis=0)
        hi = np.where(hi > lo, hi, lo + 1.0)
        return cls(tuple(map(float, lo)), tuple(map(float, hi)), float(lower_pct), float(upper_pct),
                   int(mean_frames), mean, bool(remove_level), int(cepstra), n_ch if cepstra else 0)

    @property
    def n_channels(self) -> int:
        """Number of values per frame of :meth:`transform`'s output (the reservoir's inputs)."""
        return len(self.lo)

    @property
    def n_in_channels(self) -> int:
        """Number of channels :meth:`transform` takes (``in_channels``, or ``n_channels``); not to be confused
        with :attr:`FrontEndConfig.n_inputs`, the values per frame after the normalisation."""
        return self.in_channels or self.n_channels

    def transform(self, seq: np.ndarray) -> np.ndarray:
        """Map a sequence of shape (T, in_channels) to [0, 1] per output channel (clipped)."""
        x = np.asarray(seq, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_in_channels:
            raise ValueError(f"expected shape (T, {self.n_in_channels}), got {x.shape}")
        if self.remove_level:
            x = level_free(x)
        if self.cepstra:
            x = x @ cepstral_matrix(self.in_channels, self.cepstra)
        if self.mean_frames:
            x = causal_centre(x, self.mean, self.mean_frames)
        lo = np.asarray(self.lo)
        return np.clip((x - lo) / (np.asarray(self.hi) - lo), 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable description (see :meth:`from_dict`)."""
        return {
            "kind": type(self).__name__,
            "lo": list(self.lo),
            "hi": list(self.hi),
            "lower_pct": self.lower_pct,
            "upper_pct": self.upper_pct,
            "mean_frames": self.mean_frames,
            "mean": list(self.mean),
            "remove_level": self.remove_level,
            # only when used, so that the dictionaries of models without cepstra stay as they were
            **({"cepstra": self.cepstra, "in_channels": self.in_channels} if self.cepstra else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """Rebuild from :meth:`to_dict` output."""
        kind = d.get("kind", cls.__name__)
        if kind != cls.__name__:
            raise ValueError(f"dictionary describes a {kind!r}, not a {cls.__name__!r}")
        try:
            return cls(
                tuple(float(v) for v in d["lo"]),
                tuple(float(v) for v in d["hi"]),
                float(d["lower_pct"]),
                float(d["upper_pct"]),
                int(d.get("mean_frames", 0)),
                tuple(float(v) for v in d.get("mean", ())),
                bool(d.get("remove_level", False)),
                int(d.get("cepstra", 0)),
                int(d.get("in_channels", 0)),
            )
        except KeyError as exc:
            raise ValueError(f"{cls.__name__} dictionary lacks key {exc}") from exc


def level_free(x: np.ndarray) -> np.ndarray:
    """Each frame minus its mean over the channels (see :class:`Normaliser`)."""
    x = np.asarray(x, dtype=np.float64)
    return x - x.mean(axis=1, keepdims=True)


def causal_centre(x: np.ndarray, mean: Sequence[float], k: int) -> np.ndarray:
    """``x[t] - (k mean + x[0] + ... + x[t]) / (k + t + 1)`` per channel (see :class:`Normaliser`)."""
    x = np.asarray(x, dtype=np.float64)
    running = (np.cumsum(x, axis=0) + k * np.asarray(mean)) / (k + np.arange(1, len(x) + 1))[:, None]
    return x - running


# --------------------------------------------------------------------------- FSDD features + cache


def default_cache_dir() -> Path:
    """``$MEMRES_CACHE`` if set, else ``~/.cache/memres``."""
    env = os.environ.get("MEMRES_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "memres"


def _features_of_files(paths: list[str], cfg: FrontEndConfig) -> list[np.ndarray]:
    """Worker: cochleagrams of a chunk of files (top-level so it can be pickled)."""
    return [cochleagram(read_wav(p, cfg.sample_rate), cfg) for p in paths]


def _bucket_key(paths: list[Path], cfg: FrontEndConfig) -> str:
    """Cache key of a list of files: config digest + (absolute path, mtime, size) of each file."""
    h = hashlib.sha256(cfg.digest().encode())
    for p in paths:
        try:
            st = p.stat()
        except OSError as exc:
            raise DatasetError(f"cannot read WAV file {p}: {exc}") from exc
        h.update(f"\0{p.resolve()}\0{st.st_mtime_ns}\0{st.st_size}".encode())
    return h.hexdigest()[:24]


def _load_bucket(path: Path, n: int) -> list[np.ndarray] | None:
    try:
        with np.load(path) as z:
            data, offsets = z["data"], z["offsets"]
    except (OSError, ValueError, KeyError):
        return None  # missing or damaged: recompute
    if offsets.shape != (n + 1,):
        return None
    return [data[offsets[i] : offsets[i + 1]] for i in range(n)]


def _save_bucket(path: Path, feats: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in feats])])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, data=np.concatenate(feats, axis=0), offsets=offsets)
        os.replace(tmp, path)  # atomic: readers never see a half-written file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_fsdd_features(
    recordings: Sequence[Recording | str | Path],
    cfg: FrontEndConfig = FrontEndConfig(),
    cache_dir: str | Path | None = None,
    progress: bool = True,
    workers: int | None = None,
    use_cache: bool = True,
) -> list[np.ndarray]:
    """Cochleagrams of many recordings, computed in parallel and cached on disk.

    Parameters
    ----------
    recordings : sequence of Recording or paths
    cfg : FrontEndConfig
    cache_dir : str or Path, optional
        Cache folder; default :func:`default_cache_dir` (``$MEMRES_CACHE`` or
        ``~/.cache/memres``).
    progress : bool, default True
        Report progress while computing (:mod:`sw_model.progress`; the CLI draws it).
    workers : int, optional
        Worker processes; default ``os.cpu_count()``.  Small jobs (< 32 files)
        run in this process.
    use_cache : bool, default True
        Set False to neither read nor write the cache.

    Returns
    -------
    list of numpy.ndarray
        One (T_i, n_channels) float64 array per recording, in input order
        (un-normalised dB values; see :class:`Normaliser`).

    Notes
    -----
    The whole list is one cache entry ("bucket"):
    ``<cache_dir>/frontend/<config digest>/<key>.npz`` where ``key`` hashes the
    config and the absolute path, modification time and size of every file, so
    editing, replacing or moving a file, or changing the config or
    :data:`FRONTEND_VERSION`, misses the cache.  Loading one bucket is a single
    file read.  Different lists of files (e.g. train and test) are separate
    buckets.  Delete the folder to clear the cache.

    Raises
    ------
    DatasetError
        If a file is missing or unreadable (the message names it).
    """
    paths = [Path(r.path if isinstance(r, Recording) else r) for r in recordings]
    if not paths:
        return []
    cache_file = None
    if use_cache:
        root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        cache_file = root / "frontend" / cfg.digest() / f"{_bucket_key(paths, cfg)}.npz"
        cached = _load_bucket(cache_file, len(paths))
        if cached is not None:
            return cached

    feats = _compute(paths, cfg, progress, workers)
    if cache_file is not None:
        _save_bucket(cache_file, feats)
    return feats


def _compute(
    paths: list[Path], cfg: FrontEndConfig, progress: bool, workers: int | None
) -> list[np.ndarray]:
    """Compute the cochleagrams of ``paths`` (in order), in parallel when worthwhile.

    Progress goes to :mod:`sw_model.progress` (a log record per chunk) when ``progress`` is true.
    """
    n = len(paths)
    workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    if n < 32:
        workers = 1
    chunk = max(1, min(64, n // (workers * 8) or 1))
    starts = list(range(0, n, chunk))
    strs = [str(p) for p in paths]
    out: list[np.ndarray | None] = [None] * n

    if workers == 1:
        with progress_task("cochleagrams", n, enabled=progress) as advance:
            for s in starts:
                res = _features_of_files(strs[s : s + chunk], cfg)
                out[s : s + len(res)] = res
                advance(len(res))
        return out  # type: ignore[return-value]

    with ProcessPoolExecutor(max_workers=min(workers, len(starts))) as pool:
        # Submit (which starts the worker processes) before reporting progress, whose renderer
        # may start a refresh thread: forking a process that runs threads is unsafe.
        futures = {pool.submit(_features_of_files, strs[s : s + chunk], cfg): s for s in starts}
        with progress_task("cochleagrams", n, enabled=progress) as advance:
            for fut in as_completed(futures):
                s = futures[fut]
                res = fut.result()
                out[s : s + len(res)] = res
                advance(len(res))
    return out  # type: ignore[return-value]
