"""Components that refuse bad constructor arguments before they exist.

Amaranth registers every elaboratable in ``Elaboratable.__new__`` and warns
("created but never used", ``UnusedElaboratable``) about one that is garbage
collected without having been elaborated. A constructor that checks its
arguments in ``__init__`` checks too late: the refused object already exists,
and the warning comes later, pointing at the line that tried to build it
(which, for a refusal met through ``memres build``, is somewhere in
``pygen``). Amaranth's own tests silence it with a file comment, but that only
covers objects created in that file.

A :class:`CheckedComponent` checks its arguments in ``__new__``, before
``Elaboratable.__new__``: a refused construction raises and leaves no object,
so there is nothing to warn about.
"""

from __future__ import annotations

from amaranth.lib import wiring

from .params import CoreParams

__all__ = ["CheckedComponent", "CoreBlock"]


class CheckedComponent(wiring.Component):
    """A ``wiring.Component`` whose constructor arguments are checked before the object is made.

    A subclass defines :meth:`check`, a classmethod that takes the
    constructor's arguments and raises on the ones the component refuses.
    ``__new__`` calls it first; ``__init__`` runs only with arguments
    :meth:`check` accepted.
    """

    @classmethod
    def check(cls, *args, **kwargs) -> None:
        """Raise what constructing ``cls(*args, **kwargs)`` would refuse; nothing by default."""

    def __new__(cls, *args, **kwargs):
        cls.check(*args, **kwargs)
        # src_loc_at=1: a component that is built and then never used is reported at the line
        # that built it, not at this one.
        return super().__new__(cls, *args, src_loc_at=1, **kwargs)


class CoreBlock(CheckedComponent):
    """A block of the core, built for the :class:`~hdl.params.CoreParams` that is its first argument."""

    @classmethod
    def check(cls, params, *args, **kwargs) -> None:
        if not isinstance(params, CoreParams):
            raise TypeError(f"params must be a CoreParams, not {params!r}")
