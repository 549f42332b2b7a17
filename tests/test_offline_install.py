"""The notebooks' set-up cell on a kernel with no internet (PIP_NO_INDEX=1), from a read-only wheel or repository.

A fresh virtual environment stands for the Kaggle kernel: it has the dependencies (the project's
``.venv`` site-packages, through a ``.pth`` file) but not audiospec. The set-up cell of notebook 01,
as it is stored, runs in an IPython shell there (its ``%pip`` is IPython's magic).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

RUN_CELL = """
import sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
result = shell.run_cell(open(sys.argv[1]).read())
import audiospec_utils
print("IMPORTED", audiospec_utils.__file__)
sys.exit(0 if result.success else 1)
"""


def _setup_cell() -> str:
    nb = json.loads((REPO / "notebooks" / "01_download_fsdkaggle2018.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    return next(c for c in cells if "AUDIOSPEC_SOURCE" in c and "%pip" in c)


def _repo_copy(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    return dest


def _read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def _writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture
def kernel_env(tmp_path):
    """A fresh venv with the dependencies but no audiospec; returns its python."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "platform_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('audiospec_utils'))"],
                           capture_output=True, text=True, cwd=venv)
    assert probe.stdout.strip() == "None", "audiospec must not be importable before the set-up cell"
    return python


def _run_setup_cell(python: Path, source: Path, workdir: Path) -> subprocess.CompletedProcess:
    cell = workdir / "setup_cell.py"
    cell.write_text(_setup_cell())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOSPEC_") and k != "PYTHONPATH"}
    env.update(PIP_NO_INDEX="1", AUDIOSPEC_SOURCE=str(source), PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run([str(python), "-c", RUN_CELL, str(cell)], capture_output=True, text=True, env=env,
                          cwd=workdir, timeout=600)


def test_offline_install_from_a_read_only_wheel(kernel_env, tmp_path):
    build = _repo_copy(tmp_path / "src")  # never build inside the project (setuptools writes there)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                          "--wheel-dir", str(tmp_path / "dataset"), str(build)], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    wheels = list((tmp_path / "dataset").glob("audiospec-*-py3-none-any.whl"))
    assert len(wheels) == 1
    _read_only(tmp_path / "dataset")
    work = tmp_path / "work"
    work.mkdir()
    try:
        out = _run_setup_cell(kernel_env, tmp_path / "dataset", work)
    finally:
        _writable(tmp_path / "dataset")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "audiospec is ready" in out.stdout
    imported = out.stdout.split("IMPORTED ")[-1].strip()
    assert "site-packages" in imported and str(kernel_env.parent.parent) in imported  # installed into the kernel


def test_offline_from_a_read_only_copy_of_the_repository(kernel_env, tmp_path):
    repo = _repo_copy(tmp_path / "audiospec")
    _read_only(repo)
    work = tmp_path / "work"
    work.mkdir()
    try:
        out = _run_setup_cell(kernel_env, repo, work)
        written = [p for p in repo.rglob("*") if p.name.endswith((".egg-info", "build", "__pycache__"))]
    finally:
        _writable(repo)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "audiospec is ready" in out.stdout
    assert out.stdout.split("IMPORTED ")[-1].strip().startswith(str(repo))
    assert not written, f"the read-only repository was written to: {written}"


def test_a_missing_dependency_is_named_with_its_command(tmp_path):
    code = ("import importlib.util, sys\n"
            "real = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda name, *a: None if name == 'librosa' else real(name, *a)\n"
            "from audiospec_utils.course.config import check_runtime\n"
            "print(check_runtime({}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "librosa not importable" in out.stdout and "pip install librosa" in out.stdout
    assert "['librosa missing']" in out.stdout
