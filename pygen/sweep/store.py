"""The files of a sweep folder: results, caches and runs as JSON lines, appended and flushed at once.

The JSON-lines files only grow: each record is one line appended with a single ``write`` to a file opened
with ``O_APPEND`` and synced at once, so a crash leaves at most the last line cut short, which
:func:`read_jsonl` skips (and :class:`Appender` ends with a newline before appending again). The files
that are rewritten (``summary.md``, ``best_*.json``, the plots) are written atomically
(:mod:`sw_model.atomic`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

__all__ = ["read_jsonl", "Appender", "append_line", "load_results", "record_failure", "RESULTS_FILE", "MODEL_CACHE",
           "SYNTH_CACHE", "RUNS_FILE"]

RESULTS_FILE = "results.jsonl"
MODEL_CACHE = "cache/models.jsonl"
SYNTH_CACHE = "cache/synth.jsonl"
RUNS_FILE = "runs.jsonl"

#: Errors of records written before failures had a kind that still tell a transient failure.
_LEGACY_TRANSIENT = re.compile(r"MemoryError|BrokenProcessPool|TimeoutExpired|TimeoutError|job crashed|"
                               r"\(exit (-\d+|137|143)\)")


def read_jsonl(path: Path) -> list[dict]:
    """The complete lines of a JSON-lines file (a line cut by an interruption is ignored)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _line(obj: dict) -> bytes:
    return (json.dumps(obj, sort_keys=True, default=float) + "\n").encode()


class Appender:
    """Append JSON lines to a file, each with one ``write`` and synced at once."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        # a line cut by an interruption would otherwise glue onto the next one
        if path.stat().st_size:
            with path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    os.write(self.fd, b"\n")

    def write(self, obj: dict) -> None:
        data = _line(obj)
        while data:
            data = data[os.write(self.fd, data):]
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def append_line(path: Path, obj: dict) -> None:
    """Append one JSON line to ``path`` (see :class:`Appender`)."""
    a = Appender(path)
    try:
        a.write(obj)
    finally:
        a.close()


def record_failure(r: dict) -> str:
    """The kind of a failed result or record: ``"transient"`` (run again on resume) or ``"real"``.

    Records from before kinds were recorded are told by their error message.
    """
    kind = r.get("failure")
    if kind in ("transient", "real"):
        return kind
    return "transient" if _LEGACY_TRANSIENT.search(str(r.get("error", ""))) else "real"


def load_results(out_dir: str | Path) -> dict[str, dict]:
    """The finished points of a sweep folder by id (the last line of an id wins)."""
    return {r["id"]: r for r in read_jsonl(Path(out_dir) / RESULTS_FILE) if "id" in r}
