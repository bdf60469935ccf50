"""Outputs that matter are written atomically, and output paths are checked before the work.

A model, a manifest, a report or a sweep cache is first written to a
temporary file in the destination folder and then renamed over the final
name (:func:`os.replace` is atomic on POSIX within one file system). A full
disk, a crash or a Ctrl-C in the middle leaves the previous file intact and
no truncated one behind.

:func:`check_output_path` is called by commands before they start long work,
so that a bad ``-o`` (an existing folder where a file is expected, a path
below a file, a read-only folder) is reported in a second, not after the
whole training has run.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import MemresError

__all__ = ["OutputPathError", "atomic_output", "atomic_write_bytes", "atomic_write_text", "check_output_path",
           "json_default"]


class OutputPathError(MemresError):
    """An output path that cannot be written; the message names it and why."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it is removed."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_output writes whole files: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())      # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_output(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_output(path, "w") as f:
        f.write(text)
    return Path(path)


def check_output_path(path: str | os.PathLike, *, directory: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    ``directory``: the output is a folder (created if missing) rather than a file.
    """
    path = Path(path)
    what = "output folder" if directory else "output file"
    if directory:
        if path.exists() and not path.is_dir():
            raise OutputPathError(f"{what} {path} exists and is not a folder")
    elif path.is_dir():
        raise OutputPathError(f"{what} {path} is an existing folder: give a file name (e.g. {path / 'out'})")
    # The nearest existing ancestor must be a writable folder.
    parent = path if directory else path.parent
    probe = parent
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputPathError(f"{what} {path}: {probe} is a file, not a folder")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {path}: the folder {probe} is not writable")
    return path


def json_default(o):
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays as JSON numbers and lists,
    anything else as its text."""
    import numpy as np
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
