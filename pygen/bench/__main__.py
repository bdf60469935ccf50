"""``python -m pygen.bench ...``: the same as ``memres bench ...``."""

import sys

from pygen.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
