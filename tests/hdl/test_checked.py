"""A refused construction leaves no elaboratable behind, so Amaranth has nothing to warn about.

Amaranth warns "created but never used" (``UnusedElaboratable``) about an
elaboratable collected without having been elaborated. The components check
their arguments in ``__new__`` (``hdl/checked.py``), before the object exists.
This file has no ``# amaranth: UnusedElaboratable=no`` comment on purpose: the
controls below show that a dropped component does warn here.
"""

import gc
import warnings

import numpy as np
import pytest
from amaranth.hdl import Fragment, Module, UnusedElaboratable
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from memres.hdl import CellArray, Classifier, HardwareParamError, InputProjection, ReadoutCrossbar, ReservoirCore, \
    SerialClassifier, SerialReadoutCrossbar
from memres.hdl.board import ReservoirBoard, link_format
from memres.hdl.checked import CheckedComponent
from memres.hdl.link import Deframer, FrameReceiver, Framer, Link, SlotBuffer
from memres.hdl.spram import Spram
from memres.hdl.uart import BaudError, UartRx, UartTx
from hdl_reference import make_params


def unused_warnings(make) -> list:
    """The UnusedElaboratable warnings of calling ``make()`` and dropping whatever it built or refused.

    A warning raised inside ``__del__`` cannot propagate (with the filter at
    "error" Python would only print it as unraisable), so the warnings are
    recorded, every one of them ("always"), and returned.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            make()
        except (TypeError, ValueError):
            pass
        gc.collect()
    return [w for w in caught if issubclass(w.category, UnusedElaboratable)]


@pytest.fixture(scope="module", autouse=True)
def warning_live():
    """Amaranth keeps the warning off until the first elaboration (so that a program which crashed
    before elaborating does not warn about everything it built): elaborate once, whatever ran before."""
    Fragment.get(Module(), None)


@pytest.fixture(scope="module")
def params():
    return make_params(lanes=2)


@pytest.fixture(scope="module")
def fmt(params):
    return link_format(params)


def _readout(p, w_scale=1):
    return np.full((p.n_features, p.n_outputs), w_scale, dtype=np.int64), np.zeros(p.n_outputs, dtype=np.int64)


REFUSED = {
    "core: params": (TypeError, lambda p, f: ReservoirCore("not params")),
    "core: weight shape": (HardwareParamError, lambda p, f: ReservoirCore(p, np.zeros((1, 1)), None)),
    "core: weight range": (HardwareParamError, lambda p, f: ReservoirCore(p, *_readout(p, p.weight_max + 1))),
    "readout: weight range": (HardwareParamError, lambda p, f: ReadoutCrossbar(p, *_readout(p, p.weight_max + 1))),
    "serial readout: bias shape": (HardwareParamError,
                                   lambda p, f: SerialReadoutCrossbar(p, _readout(p)[0], np.zeros(1))),
    "cell array": (TypeError, lambda p, f: CellArray(None)),
    "projection": (TypeError, lambda p, f: InputProjection(None)),
    "classifier": (TypeError, lambda p, f: Classifier(None)),
    "serial classifier": (TypeError, lambda p, f: SerialClassifier(None)),
    "uart rx: baud": (BaudError, lambda p, f: UartRx(12e6, 2.5e6)),
    "uart tx: baud": (BaudError, lambda p, f: UartTx(12e6, 2.5e6)),
    "spram: shape": (ValueError, lambda p, f: Spram(16, 1, primitive=False)),
    "framer: hash": (ValueError, lambda p, f: Framer(f, "0123")),
    "framer: version": (ValueError, lambda p, f: Framer(f, version="x" * 100)),
    "frame receiver: timeout": (ValueError, lambda p, f: FrameReceiver(f, 0)),
    "deframer: format": (TypeError, lambda p, f: Deframer("fmt", 100)),
    "slot buffer: format": (TypeError, lambda p, f: SlotBuffer(None)),
    "link: baud": (BaudError, lambda p, f: Link(f, 12e6, 2.5e6)),
    "link: timeout": (ValueError, lambda p, f: Link(f, 12e6, 115200, timeout=1e-6)),
    "link: version": (ValueError, lambda p, f: Link(f, 12e6, 115200, version="x" * 100)),
    "board: core": (TypeError, lambda p, f: ReservoirBoard(None, 12e6)),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_refused_construction_leaves_nothing_to_warn_about(case, params, fmt):
    error, make = REFUSED[case]
    with pytest.raises(error):
        make(params, fmt)
    assert unused_warnings(lambda: make(params, fmt)) == []


def test_a_board_refused_for_its_link_warns_about_nothing(params):
    """The link's refusal comes before the board and its link exist; the core is used afterwards."""
    core = ReservoirCore(params, trace=False)
    assert unused_warnings(lambda: ReservoirBoard(core, 12e6, 2.5e6)) == []
    with pytest.raises(BaudError):
        ReservoirBoard(core, 12e6, 2.5e6)
    Fragment.get(core, None)


# --- the controls: the recorder does see an unused component --------------------------------------

class _RefusesLate(wiring.Component):
    """The pattern the checked components replace: a refusal in ``__init__``, after ``__new__``."""

    def __init__(self, ok: bool):
        if not ok:
            raise ValueError("refused")
        super().__init__({"x": Out(1)})


class _RefusesEarly(CheckedComponent):
    @classmethod
    def check(cls, ok: bool) -> None:
        if not ok:
            raise ValueError("refused")

    def __init__(self, ok: bool):
        super().__init__({"x": Out(1)})


def test_the_recorder_sees_a_component_that_is_never_used(params):
    caught = unused_warnings(lambda: CellArray(params))
    assert len(caught) == 1 and "CellArray" in str(caught[0].message)
    assert caught[0].filename == __file__      # reported where it was built, not in hdl/checked.py


def test_a_refusal_in_init_warns_and_one_in_check_does_not():
    assert len(unused_warnings(lambda: _RefusesLate(False))) == 1
    assert unused_warnings(lambda: _RefusesEarly(False)) == []
    assert len(unused_warnings(lambda: _RefusesEarly(True))) == 1     # accepted, then dropped: warned
