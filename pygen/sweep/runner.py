"""Running (or resuming) a sweep on a local process pool or a Dask cluster."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import math
import os
import platform
import time
from pathlib import Path
from typing import Callable

from memres.pygen.sweep.jobs import REAL, TRANSIENT, die_with_parent, synth_job, train_job
from memres.pygen.sweep.points import Point, hardware_version, make_points
from memres.pygen.sweep.spec import Spec, SweepError
from memres.pygen.sweep.store import (MODEL_CACHE, RESULTS_FILE, RUNS_FILE, SYNTH_CACHE, Appender, append_line, load_results,
                               read_jsonl, record_failure)
from memres.sw_model import progress as progress_mod
from memres.sw_model.atomic import check_output_path

__all__ = ["run_sweep", "wall_time", "machine", "make_executor", "CONNECT_TIMEOUT"]

logger = logging.getLogger(__name__)

#: How long to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = "20s"


def make_executor(workers: int, cluster: str | None):
    """(executor, closer, description)."""
    if cluster is not None:
        try:
            import distributed  # optional dependency (memres[cluster]), only for --cluster
        except ImportError:
            raise SweepError("--cluster needs Dask distributed: pip install 'memres[cluster]' "
                             "(or pip install 'dask[distributed]')") from None
        try:
            client = distributed.Client(cluster, timeout=CONNECT_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - OSError, TimeoutError, CommClosedError, bad address
            raise SweepError(f"cannot reach the Dask scheduler at {cluster}: {e}") from None
        n = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values())
        ex = client.get_executor(pure=False)

        def close():
            ex.shutdown(wait=False)
            client.close()
        return ex, close, f"Dask cluster {cluster} ({n} worker threads)"
    # workers end with the sweep, even when it is killed with SIGKILL (die_with_parent)
    ex = cf.ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent, initargs=(os.getpid(),))
    return ex, lambda: ex.shutdown(wait=False, cancel_futures=True), f"{workers} local process(es)"


def run_sweep(spec: Spec, out_dir: str | Path, *, workers: int | None = None, cluster: str | None = None,
              limit: int | None = None, retry_failed: bool = False,
              progress: Callable[[str, int], Callable[[int], None]] | None = None,
              log: Callable[[str], None] | None = None) -> dict:
    """Run (or resume) a sweep into ``out_dir``; returns counts of this run. See the module doc.

    Messages go to the ``pygen.sweep.runner`` logger (and to ``log`` if given), progress to
    ``progress``, a ``(description, total) -> advance(n)`` factory (default :func:`sw_model.progress.factory`).
    """

    def say(msg: str) -> None:
        logger.info(msg)
        if log is not None:
            log(msg)

    out = check_output_path(out_dir, directory=True)
    out.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise SweepError(f"--workers must be at least 1, not {workers}")
    t0 = time.time()
    points = make_points(spec)
    done = load_results(out)

    def finished(p: Point) -> bool:
        r = done.get(p.id)
        if r is None:
            return False
        if r["status"] == "failed":
            # a transient failure (out of memory, a killed worker) is run again; a real one on --retry-failed
            return record_failure(r) == REAL and not retry_failed
        return all(f in r.get("synth", {}) for f in spec.synth)

    todo = [p for p in points if not finished(p)]
    skipped = len(points) - len(todo)
    if limit is not None:
        todo = todo[:limit]

    def reusable(result: dict) -> bool:
        """A cached job result is used again unless it failed transiently (or failed, with --retry-failed)."""
        return result.get("ok") or (record_failure(result) == REAL and not retry_failed)

    models = {r["key"]: r["result"] for r in read_jsonl(out / MODEL_CACHE) if reusable(r["result"])}
    synths = {r["key"]: r["result"] for r in read_jsonl(out / SYNTH_CACHE) if reusable(r["result"])}
    append_line(out / RUNS_FILE, {"event": "start", "t": round(t0, 1),
                                  "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0)),
                                  "workers": None if cluster else workers, "cluster": cluster,
                                  "machine": machine()})
    results = Appender(out / RESULTS_FILE)
    model_log = Appender(out / MODEL_CACHE)
    synth_log = Appender(out / SYNTH_CACHE)
    counts = {"points": len(points), "skipped": skipped, "to_run": len(todo), "new_ok": 0, "new_failed": 0,
              "new_transient": 0, "crashed": 0,
              "trainings_run": 0, "syntheses_run": {f: 0 for f in spec.synth}}
    tick = (progress or progress_mod.factory)(f"sweep {len(todo)} points", len(todo))

    def needs(p: Point) -> list[tuple[str, str]]:
        if p.error is not None:
            return []
        return [("model", p.model_key)] + [("synth", p.hw_key(f, spec.synth_share)) for f in spec.synth]

    def complete(p: Point) -> bool:
        return all((models if kind == "model" else synths).get(key) is not None for kind, key in needs(p))

    def record(p: Point) -> None:
        rec = {"id": p.id, "task": spec.task, "values": p.values, "lanes": p.lanes, "config": p.config}
        errors = [p.error] if p.error else []
        kinds = [REAL] if p.error else []
        if p.error is None:
            m = models[p.model_key]
            rec["model_key"] = p.model_key
            rec["io"] = list(p.io)
            if m.get("ok"):
                rec.update({"metric": m["metric"], "score": m["fixed"], "float_score": m["float"],
                            "n_features": m["n_features"], "train_s": m["seconds"]})
            else:
                errors.append(m["error"])
                kinds.append(record_failure(m))
            rec["synth"] = {}
            for f in spec.synth:
                key = p.hw_key(f, spec.synth_share)
                s = synths[key]
                if s.get("ok"):
                    rec["synth"][f] = {k: v for k, v in s.items() if k != "ok"} | {"key": key}
                else:
                    errors.append(s["error"])
                    kinds.append(record_failure(s))
        rec["hardware_version"] = hardware_version()
        rec["status"] = "failed" if errors else "ok"
        rec["t"] = round(time.time(), 1)
        if errors:
            rec["error"] = "; ".join(errors)
            # real if any part of the point cannot be made: running it again would not help
            rec["failure"] = REAL if REAL in kinds else TRANSIENT
        results.write(rec)
        done[p.id] = rec
        recorded.add(p.id)
        counts["new_ok" if not errors else "new_transient" if rec["failure"] == TRANSIENT else "new_failed"] += 1
        tick(1)

    waiting: dict[tuple[str, str], list[Point]] = {}
    recorded: set[str] = set()
    pending: list[Point] = []
    for p in todo:
        if complete(p):
            record(p)
        else:
            pending.append(p)
    executor = None
    close = lambda: None  # noqa: E731
    try:
        if pending:
            executor, close, where = make_executor(workers, cluster)
            say(f"{len(points)} points, {skipped} finished before, {len(todo)} to run on {where}")
            futures, submitted = {}, set()
            for p in pending:
                for kind, key in needs(p):
                    cache = models if kind == "model" else synths
                    if cache.get(key) is not None:
                        continue
                    waiting.setdefault((kind, key), []).append(p)
                    if (kind, key) in submitted:
                        continue
                    submitted.add((kind, key))
                    if kind == "model":
                        fut = executor.submit(train_job, spec.task, p.config, spec.data, spec.train_seed)
                        family = None
                    else:
                        family = next(f for f in spec.synth if p.hw_key(f, spec.synth_share) == key)
                        fut = executor.submit(synth_job, p.config, p.io, p.lanes, family)
                    futures[fut] = (kind, key, family)
            for fut in cf.as_completed(futures):
                kind, key, family = futures[fut]
                try:
                    result = fut.result()
                except Exception as e:  # noqa: BLE001 - e.g. a worker that died, a lost cluster
                    # not a property of the point: recorded as a transient failure, run again on resume
                    counts["crashed"] += len(waiting[(kind, key)])
                    say(f"{kind} job crashed ({type(e).__name__}: {e}); its points are left for the next run")
                    result = {"ok": False, "error": f"{kind} job crashed: {type(e).__name__}: {e}",
                              "failure": TRANSIENT, "seconds": None}
                else:
                    if kind == "model":
                        counts["trainings_run"] += 1
                    else:
                        counts["syntheses_run"][family] += 1
                # a transient failure is logged in the cache too, but never reused from it
                (models if kind == "model" else synths)[key] = result
                (model_log if kind == "model" else synth_log).write({"key": key, "result": result})
                for p in waiting.pop((kind, key)):
                    if p.id not in recorded and complete(p):
                        record(p)
    finally:
        close()
        for a in (results, model_log, synth_log):
            a.close()
    counts["wall_s"] = round(time.time() - t0, 1)
    counts["finished"] = sum(1 for p in points if finished(p))
    append_line(out / RUNS_FILE, {"event": "end", "t": round(time.time(), 1), **counts})
    return counts


def wall_time(runs: list[dict], records: list[dict]) -> float:
    """Seconds spent over all runs: each from its start to its end, or to its last finished point if it was
    interrupted."""
    total, start = 0.0, None
    stamps = sorted(r["t"] for r in records if "t" in r)
    for r in runs + [{"event": "start", "t": math.inf}]:
        if r.get("event") == "start":
            if start is not None:   # the previous run never ended: count it up to its last point
                last = [t for t in stamps if start <= t < r["t"]]
                total += (last[-1] - start) if last else 0.0
            start = r["t"]
        elif r.get("event") == "end" and start is not None:
            total += r["t"] - start
            start = None
    return round(total, 1)


def machine() -> str:
    return f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, " \
           f"Python {platform.python_version()}"

