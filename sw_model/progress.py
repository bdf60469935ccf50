"""Progress of long steps, reported through :mod:`logging`.

Library code does not draw progress bars: it reports how far a step has got
as log records on the ``memres.progress`` logger, and whoever set up logging
renders them (the ``memres`` command line draws rich bars on a terminal and
prints a plain line every 10 % or 10 s otherwise; see ``pygen/console.py``).
Without such a handler the records are dropped like any other INFO record of
a library.

::

    with task("cochleagrams", total=len(paths)) as advance:
        for p in paths:
            ...
            advance(1)

:func:`factory` is the ``(description, total) -> advance(n)`` callable the
training functions take as their ``progress`` argument.

Each record carries ``record.progress``, a :class:`Update`: the task's id,
description, total, the count done so far and whether the task has ended.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["LOGGER_NAME", "Update", "task", "factory", "no_progress", "Advance"]

#: The logger every progress record goes to.
LOGGER_NAME = "memres.progress"
logger = logging.getLogger(LOGGER_NAME)

Advance = Callable[[int], None]
_ids = itertools.count(1)


@dataclass(frozen=True)
class Update:
    """One progress report: task ``id`` has done ``completed`` of ``total`` (None: unknown)."""

    id: int
    description: str
    total: float | None
    completed: float
    done: bool = False


class _Task:
    def __init__(self, description: str, total: float | None, enabled: bool):
        self.id = next(_ids)
        self.description = description
        self.total = total
        self.completed = 0.0
        self.enabled = enabled and logger.isEnabledFor(logging.INFO)
        self.finished = False
        self._emit()

    def _emit(self, done: bool = False) -> None:
        if self.enabled:
            update = Update(self.id, self.description, self.total, self.completed, done)
            logger.info("%s: %s/%s", self.description, self.completed, self.total, extra={"progress": update})

    def advance(self, n: float = 1) -> None:
        if self.finished:
            return
        self.completed += n
        ended = self.total is not None and self.completed >= self.total
        self._emit(done=ended)
        self.finished = ended

    def close(self) -> None:
        if not self.finished:
            self.finished = True
            self._emit(done=True)


@contextlib.contextmanager
def task(description: str, total: float | None, enabled: bool = True) -> Iterator[Advance]:
    """A progress task for a ``with`` block; yields ``advance(n)``. ``enabled=False`` reports nothing."""
    t = _Task(description, total, enabled)
    try:
        yield t.advance
    finally:
        t.close()


def factory(description: str, total: float | None) -> Advance:
    """Start a task and return its ``advance(n)``; the task ends when ``total`` is reached."""
    return _Task(description, total, True).advance


def no_progress(description: str, total: float | None) -> Advance:
    """A factory that reports nothing."""
    return lambda n: None
