"""The files of a sweep folder: results, caches and runs as JSON lines, appended and flushed at once."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["read_jsonl", "Appender", "load_results", "RESULTS_FILE", "MODEL_CACHE", "SYNTH_CACHE", "RUNS_FILE"]

RESULTS_FILE = "results.jsonl"
MODEL_CACHE = "cache/models.jsonl"
SYNTH_CACHE = "cache/synth.jsonl"
RUNS_FILE = "runs.jsonl"


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
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class Appender:
    """Append JSON lines to a file, each flushed and synced at once."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # a line cut by an interruption would otherwise glue onto the next one
        if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with path.open("a") as f:
                f.write("\n")
        self.f = path.open("a")

    def write(self, obj: dict) -> None:
        self.f.write(json.dumps(obj, sort_keys=True, default=float) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


def load_results(out_dir: str | Path) -> dict[str, dict]:
    """The finished points of a sweep folder by id (the last line of an id wins)."""
    return {r["id"]: r for r in read_jsonl(Path(out_dir) / RESULTS_FILE) if "id" in r}

