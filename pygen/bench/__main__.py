"""``python -m memres.pygen.bench ...``: the same as ``memres bench ...``."""

import sys

from memres.pygen.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
