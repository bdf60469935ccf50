"""cocotb test module of ``memres verify``: runs the job named by ``MEMRES_VERIFY_JOB`` on ``memres_top``.

The work is in :mod:`testbenches.check` (driving, per-clock comparison, report)
and :mod:`testbenches.predict` (what the core must show). Started by
:func:`pygen.verify.simulate` through :func:`testbenches.runner.run_cocotb`.
"""

import os

import cocotb

from testbenches.check import load_job, run_job


@cocotb.test()
async def verify_core(dut):
    """Every clock: handshakes against the schedule model, every cell write and result against the integer model."""
    await run_job(dut, load_job(os.environ["MEMRES_VERIFY_JOB"]))
