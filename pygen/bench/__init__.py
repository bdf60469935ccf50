"""``memres bench``: measure the whole system (accuracy, speed, hardware) beside an echo state network.

::

    memres bench [-o|--output DIR] [--sections speed,accuracy,hardware] [--tasks fsdd,henon,...] [--quick]
                 [--loso/--no-loso] [--loso-config FILE] [--boards icebreaker,ulx3s|none] [--lanes 1,2,4]
                 [--json] [-q]

Three sections, each runnable alone and each written to the report as soon
as it finishes (the cheap ones run first, so they never wait on a board build):

* **speed**: golden-model frames per second (float, integer) against a
  reservoirpy echo state network on the same input; checked clocks per second
  of the RTL simulation (Verilator); the time to generate the Verilog.
* **accuracy**: per task the float model, the integer model and the RTL (a
  sample, checked bit-exact against the integer model every clock), beside a
  reservoirpy ESN trained on the same features and splits with the same
  readout and lambda selection. FSDD: standard split, early recognition
  (25/50/75/100 % of each utterance), leave-one-speaker-out; NARMA10, the
  second-order system, Henon (noise-free and with 0.1 % read noise),
  Mackey-Glass: test NRMSE.
* **hardware**: per board and lane count, a bitstream (:func:`pygen.build.build`,
  which skips tools whose inputs did not change): Fmax, utilisation, frames
  per second, real-time factor, build time.

Output in ``--output``: ``results.json`` (everything), ``report.md`` (tables, the
command, the git commit, the machine) and PNG plots. reservoirpy is optional
(``pip install -e '.[bench]'``); without it the ESN figures read "not installed".

The package: :mod:`~pygen.bench.settings` (what a run measures),
:mod:`~pygen.bench.provenance` (machine, load, commit), :mod:`~pygen.bench.esn`
(the ESN baseline), :mod:`~pygen.bench.sections` (the three sections),
:mod:`~pygen.bench.report` and :mod:`~pygen.bench.plots` (report.md, PNGs),
:mod:`~pygen.bench.runner` (:func:`run_bench`) and :mod:`~pygen.bench.command`
(the ``memres bench`` arguments).
"""

from memres.pygen.bench.command import add_arguments, command_line, run, settings_from_args
from memres.pygen.bench.esn import esn_available, esn_classify, esn_regression
from memres.pygen.bench.provenance import git_info, machine_info
from memres.pygen.bench.report import write_report
from memres.pygen.bench.runner import BenchError, run_bench
from memres.pygen.bench.sections import accuracy_section, golden_speed, hardware_section, speed_section
from memres.pygen.bench.settings import BENCH_TASKS, NOT_INSTALLED, SECTIONS, Settings

__all__ = ["Settings", "run_bench", "speed_section", "accuracy_section", "hardware_section", "golden_speed",
           "esn_available", "esn_classify", "esn_regression", "write_report", "add_arguments", "run",
           "settings_from_args", "command_line", "machine_info", "git_info", "BenchError", "SECTIONS",
           "BENCH_TASKS", "NOT_INSTALLED"]
