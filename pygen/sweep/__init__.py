"""``memres sweep SPEC``: design-space exploration of accuracy against hardware cost.

A sweep specification (TOML or JSON, see docs/sweep.md) names a task, a base
configuration and *axes*: configuration fields (``n_devices``,
``reservoir.tau``, ``fixed.state_bits``, ...) and ``lanes``, each with a list
of values or a range. ``mode = "grid"`` takes every combination,
``mode = "random"`` draws ``n_points`` of them with a seed. Every point is

* trained and scored with the bit-exact integer model
  (:func:`sw_model.workflow.train`: test accuracy for FSDD, NRMSE for the
  regression tasks), and
* generated and synthesised with Yosys for each family in ``synth``
  (:func:`pygen.generate.generate`, the same figures ``memres generate --synth``
  reports).

Both are cached: a training by everything that changes the model (the whole
configuration; ``lanes`` does not), a synthesis by everything that changes
the circuit's structure (see :func:`hardware_key`). Results are appended to
``OUT/results.jsonl``, one JSON line per finished point, flushed at once;
the two caches to ``OUT/cache/*.jsonl``. Run the same command again after an
interruption and the finished points are skipped, finished trainings and
syntheses reused.

Work runs on a :class:`concurrent.futures.ProcessPoolExecutor` (all cores by
default), or with ``cluster=ADDRESS`` on a Dask cluster through
``distributed.Client(ADDRESS).getexecutor()``, the same Executor interface,
so nothing else changes. At the end :func:`report` writes the Pareto plots,
``summary.md`` and the best configuration that fits the iCE40 UP5K.

The package: :mod:`~pygen.sweep.spec` (the specification), :mod:`~pygen.sweep.points`
(points and cache keys), :mod:`~pygen.sweep.jobs` (training and synthesis jobs),
:mod:`~pygen.sweep.store` (the JSON-lines files), :mod:`~pygen.sweep.runner`
(:func:`run_sweep`), :mod:`~pygen.sweep.analysis` (Pareto fronts, best fit),
:mod:`~pygen.sweep.plots`, :mod:`~pygen.sweep.summary` (:func:`report`) and
:mod:`~pygen.sweep.command` (``memres sweep``).
"""

from memres.pygen.sweep.analysis import best_fitting, pareto_front
from memres.pygen.sweep.command import add_arguments, run
from memres.pygen.sweep.jobs import synth_job, train_job
from memres.pygen.sweep.plots import plot_pareto
from memres.pygen.sweep.points import Point, hardware_key, hardware_version, make_points, model_key
from memres.pygen.sweep.runner import machine, run_sweep, wall_time
from memres.pygen.sweep.spec import Axis, Spec, SweepError, load_spec, parse_spec
from memres.pygen.sweep.store import load_results
from memres.pygen.sweep.summary import report

__all__ = ["SweepError", "Spec", "Axis", "Point", "load_spec", "parse_spec", "make_points", "hardware_key",
           "hardware_version", "model_key", "pareto_front", "best_fitting", "plot_pareto", "run_sweep", "wall_time",
           "machine", "train_job", "synth_job", "load_results", "report", "add_arguments", "run"]
