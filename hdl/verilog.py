"""Verilog of a core: a :class:`~hdl.design.Design` (or any elaboratable) -> reproducible Verilog text.

The conversion always uses Amaranth's pinned builtin Yosys and emits no
source locations (they would name this checkout's paths), so the text depends
only on the design. ``pygen`` (``memres generate``, ``memres verify``) and the
checker's deliberately broken cores (``testbenches/faults.py``) use it.
"""

from __future__ import annotations

import contextlib
import os

from .design import Design
from .top import ReservoirCore

__all__ = ["TOP_NAME", "to_verilog", "design_core", "design_verilog"]

#: The module name of a generated core.
TOP_NAME = "memres_top"


@contextlib.contextmanager
def _builtin_yosys():
    old = os.environ.get("AMARANTH_USE_YOSYS")
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    try:
        yield
    finally:
        if old is None:
            del os.environ["AMARANTH_USE_YOSYS"]
        else:
            os.environ["AMARANTH_USE_YOSYS"] = old


def to_verilog(elaboratable, name: str = TOP_NAME) -> str:
    """Verilog of ``elaboratable`` (a :class:`ReservoirCore`, a board top...), reproducible text."""
    from amaranth.back import verilog
    with _builtin_yosys():
        return verilog.convert(elaboratable, name=name, emit_src=False)


def design_core(design: Design, *, trace: bool = True) -> ReservoirCore:
    """The core of ``design``: its readout baked, or zeros to be written through ``load``."""
    return ReservoirCore(design.params, design.w if design.baked else None, design.b if design.baked else None,
                         trace=trace)


def design_verilog(design: Design, *, trace: bool = True, name: str = TOP_NAME) -> str:
    """Verilog of the core of ``design`` (:func:`design_core`)."""
    return to_verilog(design_core(design, trace=trace), name)
