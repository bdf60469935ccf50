"""The one error base class of memres.

Every mistake a user can fix (a bad configuration, a damaged model file, a
missing data folder, a design the hardware cannot build, a tool that is not
installed) raises a subclass of :class:`MemresError` whose message names the
file, field or value and what is allowed. The command line prints such an
error as one line and exits with status 2; any other exception is a bug and
keeps its traceback.

It lives in the bottom layer (``sw_model``) so that every layer above can
derive from it.
"""

__all__ = ["MemresError"]


class MemresError(Exception):
    """A problem the user can fix; its message is complete on one line."""
