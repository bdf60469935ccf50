"""memres golden model: the ESO memristive reservoir in float and bit-exact integer form."""

__version__ = "0.1.0"
