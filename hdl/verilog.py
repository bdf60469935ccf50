"""Verilog of a core: a :class:`~hdl.design.Design` (or any elaboratable) -> reproducible Verilog text.

The conversion always uses Amaranth's pinned builtin Yosys and emits no
source locations (they would name this checkout's paths), so the text depends
only on the design. ``pygen`` (``memres generate``, ``memres verify``) and the
checker's deliberately broken cores (``testbenches/faults.py``) use it.
"""

from __future__ import annotations

import contextlib
import os

from amaranth.hdl import Const, Value
# Not re-exported by amaranth.hdl; verilog.convert builds its ports with the same class (amaranth is
# pinned in pyproject.toml). Needed for the ports of :func:`to_verilog` (amaranth issue 1574).
from amaranth.hdl._ir import PortDirection
from amaranth.lib import wiring

from .design import Design
from .top import ReservoirCore

__all__ = ["TOP_NAME", "TRACE_VALID", "TRACE_PAYLOAD", "ports", "to_verilog", "design_core", "design_verilog"]

#: The module name of a generated core.
TOP_NAME = "memres_top"
#: The Verilog ports of lane ``lane``'s trace stream (``.format(lane=l)``): Amaranth joins the
#: member path ``trace, l, valid`` with ``__``. The stream is always ready: it has no ``ready`` port.
TRACE_VALID = "trace__{lane}__valid"
TRACE_PAYLOAD = "trace__{lane}__payload"


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


def ports(component) -> dict:
    """The Verilog ports of ``component``: name -> ``(member, value)``, in signature order.

    The port members of its signature, named as Amaranth names them (the path
    joined with ``__``), except constant ones: the ``ready`` of an always-ready
    stream (the ``trace`` lanes) is ``Const(1)``, which is no wire (Amaranth
    0.5's ``verilog.convert`` refuses it as a port:
    github.com/amaranth-lang/amaranth/issues/1574).
    """
    return {"__".join(map(str, path)): (member, value)
            for path, member, value in component.signature.flatten(component)
            if not isinstance(Value.cast(value), Const)}


def to_verilog(elaboratable, name: str = TOP_NAME, *, platform=None) -> str:
    """Verilog of ``elaboratable`` (a :class:`ReservoirCore`, a board top...), reproducible text.

    A component's ports are its signature's members (:func:`ports`). ``platform`` is passed to
    ``elaborate`` (e.g. :class:`~hdl.multiplier.FamilyPlatform`: the ECP5's DSP blocks instantiated
    as :mod:`hdl.multiplier` does for a board build); None gives the portable, behavioural Verilog.
    """
    from amaranth.back import verilog
    io = None
    if isinstance(getattr(elaboratable, "signature", None), wiring.Signature):
        io = {name: (Value.cast(value), PortDirection.Input if member.flow == wiring.In else PortDirection.Output)
              for name, (member, value) in ports(elaboratable).items()}
    with _builtin_yosys():
        return verilog.convert(elaboratable, name=name, ports=io, emit_src=False, platform=platform)


def design_core(design: Design, *, trace: bool = True) -> ReservoirCore:
    """The core of ``design``: its readout baked, or zeros to be written through ``load``."""
    return ReservoirCore(design.params, design.w if design.baked else None, design.b if design.baked else None,
                         trace=trace)


def design_verilog(design: Design, *, trace: bool = True, name: str = TOP_NAME) -> str:
    """Verilog of the core of ``design`` (:func:`design_core`)."""
    return to_verilog(design_core(design, trace=trace), name)
