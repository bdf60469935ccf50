"""cocotb test module of ``memres verify``: runs the job named by ``MEMRES_VERIFY_JOB`` on ``memres_top``.

The work is in :mod:`testbenches.check` (driving, transaction comparison, timing probe, report)
and :mod:`testbenches.predict` (what the core must show). Started by
:func:`pygen.verify.simulate` through :func:`testbenches.runner.run_cocotb`.
"""

import os

import cocotb

from memres.testbenches.check import run_job
from memres.testbenches.job import load_job


@cocotb.test()
async def verify_core(dut):
    """Every cell write and result, in order, against the integer model; the stream rules; latency and interval."""
    await run_job(dut, load_job(os.environ["MEMRES_VERIFY_JOB"]))
