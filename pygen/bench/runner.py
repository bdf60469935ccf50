"""Run bench sections in order, writing ``results.json`` and the report after each."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Callable


from memres.pygen.bench.provenance import git_info, load_average, machine_info
from memres.pygen.bench.report import write_report
from memres.pygen.bench.sections import accuracy_section, check_memory, hardware_section, speed_section
from memres.pygen.bench.settings import SECTIONS, Settings
from memres.sw_model.atomic import atomic_write_text, check_output_path, json_default
from memres.sw_model.errors import MemresError

__all__ = ["run_bench", "BenchError"]

logger = logging.getLogger("memres.pygen.bench")


class BenchError(MemresError, ValueError):
    """Bench settings that cannot run (an unknown section or task); the message names it."""


@contextlib.contextmanager
def _forward(log: Callable[[str], None] | None):
    """Also hand the bench's log messages to ``log`` (the callback of older callers)."""
    if log is None:
        yield
        return

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log(record.getMessage())

    handler = Forward()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def run_bench(s: Settings, out: str | Path, sections=SECTIONS, *, command: str = "", log: Callable[[str], None] | None = None,
              bars=None, keep: bool = True) -> dict:
    """Run ``sections`` (in the order speed, accuracy, hardware), writing the report after each.

    ``keep``: sections not run now are kept from ``out/results.json`` of an earlier
    run (each section records its own command, date and load), so a slow section
    can be measured once and a cheap one re-run beside it. Progress is logged
    (``pygen.bench.*`` loggers; ``log``, if given, gets the messages too) and
    ``bars`` is the progress factory (default :func:`sw_model.progress.factory`).
    """
    with _forward(log):
        return _run(s, Path(out), sections, command, bars, keep)


def _run(s: Settings, out: Path, sections, command: str, bars, keep: bool) -> dict:
    check_output_path(out, directory=True)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise BenchError(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    if "accuracy" in sections:
        check_memory(s)
    out.mkdir(parents=True, exist_ok=True)
    results = {"command": command, "machine": machine_info(), "git": git_info(), "settings": asdict(s),
               "sections": {}}
    old = {}
    if keep and (out / "results.json").is_file():
        try:
            old = json.loads((out / "results.json").read_text())
        except ValueError:
            old = {}
    kept = {k: v for k, v in (old.get("sections") or {}).items()
            if k in SECTIONS and k not in sections and isinstance(v, dict)}
    for v in kept.values():
        v.setdefault("measured", {"command": old.get("command"), "commit": (old.get("git") or {}).get("commit"),
                                  "date": (old.get("machine") or {}).get("date"),
                                  "load_average": (old.get("machine") or {}).get("load_average")})
    runners = {"speed": lambda: speed_section(s, out), "accuracy": lambda: accuracy_section(s, out, bars),
               "hardware": lambda: hardware_section(s, out)}

    def save() -> None:
        results["sections"] = {k: results["sections"].get(k, kept.get(k)) for k in SECTIONS
                               if k in results["sections"] or k in kept}
        results["report"] = str(write_report(out, results))
        atomic_write_text(out / "results.json", json.dumps(results, indent=1, default=json_default) + "\n")

    for name in SECTIONS:
        if name in sections:
            started = {"command": command, "commit": results["git"].get("commit"),
                       "date": machine_info()["date"], "load_average": load_average(), "quick": s.quick}
            results["sections"][name] = {**runners[name](), "measured": {**started, "load_average_end": load_average()}}
            save()
    if not sections or not results["sections"]:
        save()
    return results



