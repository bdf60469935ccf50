"""Shared pytest fixtures."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def verification_records(tmp_path_factory):
    """`memres verify` records (pygen/verified.py) go to a folder of the test session, not the user's cache."""
    from memres.pygen.verified import RECORDS_ENV
    old = os.environ.get(RECORDS_ENV)
    os.environ[RECORDS_ENV] = str(tmp_path_factory.mktemp("verified"))
    yield Path(os.environ[RECORDS_ENV])
    if old is None:
        os.environ.pop(RECORDS_ENV, None)
    else:
        os.environ[RECORDS_ENV] = old


@pytest.fixture(scope="session")
def fsdd_root() -> Path:
    """The read-only FSDD copy in ``shared/`` beside the repository (skips if absent).

    Resolved from the repository root, so it also works in a clone elsewhere
    as long as ``shared/`` sits next to it.
    """
    root = Path(__file__).resolve().parents[1].parent / "shared/data/fsdd"
    if not (root / "recordings").is_dir():
        pytest.skip(f"FSDD not available at {root}")
    return root


@pytest.fixture(scope="session")
def fsdd_subset(fsdd_root, tmp_path_factory) -> Path:
    """Two speakers, takes 0-19: 400 recordings linked (not copied) into a temporary folder."""
    d = tmp_path_factory.mktemp("fsdd-subset") / "recordings"
    d.mkdir()
    for wav in sorted((fsdd_root / "recordings").glob("*.wav")):
        digit, speaker, take = wav.stem.split("_")
        if speaker in ("george", "jackson") and int(take) < 20:
            (d / wav.name).symlink_to(wav)
    return d.parent


class ReadOnlyFolder:
    """A folder that the commands run by :meth:`run` cannot write into, also as root (CI runs as root).

    Not root: the folder's mode is 0555. Root ignores modes, so as root :meth:`run` starts the command in a
    private mount namespace (``unshare --mount``) where the folder is a read-only bind mount of itself:
    the kernel refuses every write (EROFS), for root too, and nothing changes outside that one process.
    """

    def __init__(self, path: Path):
        path.mkdir()
        self.path = path
        self.as_root = os.geteuid() == 0
        if not self.as_root:
            path.chmod(0o555)
        elif shutil.which("unshare") is None or \
                subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
            pytest.skip("as root a read-only folder needs a private mount namespace (unshare --mount), "
                        "which this machine refuses")

    def run(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        """Run ``argv`` (``python`` means this interpreter) with the folder read-only; output captured as text."""
        argv = [sys.executable if a == "python" else a for a in argv]
        if self.as_root:
            script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(self.path), *argv]
        return subprocess.run(argv, capture_output=True, text=True, **kw)

    def close(self) -> None:
        if not self.as_root:
            self.path.chmod(0o755)


@pytest.fixture
def read_only_folder(tmp_path):
    """:class:`ReadOnlyFolder` ``tmp_path / "ro"``; the test runs its commands with ``.run``."""
    folder = ReadOnlyFolder(tmp_path / "ro")
    # The set-up itself is checked: writing a file there fails in the command's process.
    r = folder.run(["python", "-c", f"open({str(folder.path / 'probe')!r}, 'w')"])
    assert r.returncode != 0 and ("Read-only file system" in r.stderr or "Permission denied" in r.stderr), r.stderr
    yield folder
    folder.close()
