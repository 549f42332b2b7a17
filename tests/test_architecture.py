"""The package's architecture, checked: layers and no cycles (import-linter), no private name used
across modules, every public name still where users import it from, and an ``export.pkl`` written by
the code before the restructuring (issue 20) still loads and predicts the same.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "audiospec_utils"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
#: The last commit before the restructuring of issue 20 (its exports must still load).
BEFORE_RESTRUCTURING = "1a17b8f"


def _lint_imports(root: Path, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), str(config), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (make install adds it)")
def test_layer_contract_holds():
    result = _lint_imports(ROOT, ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Contracts: 2 kept, 0 broken" in result.stdout


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (make install adds it)")
@pytest.mark.parametrize("module, upward", [("audio", "cli"), ("spectrogram", "train"), ("metrics", "evaluate")])
def test_layer_contract_fails_on_an_upward_import(tmp_path, module, upward):
    """A copy of the package with one import that points up a layer breaks the contract, naming it."""
    shutil.copytree(PACKAGE, tmp_path / "audiospec_utils", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert _lint_imports(tmp_path, tmp_path / "pyproject.toml").returncode == 0  # the copy itself is clean
    target = tmp_path / "audiospec_utils" / f"{module}.py"
    target.write_text(target.read_text() + f"\nfrom . import {upward}  # an upward import\n")
    result = _lint_imports(tmp_path, tmp_path / "pyproject.toml")
    assert result.returncode != 0
    assert f"audiospec_utils.{module} is not allowed to import audiospec_utils.{upward}" in result.stdout


def _relative_imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            yield node


def test_no_private_name_is_imported_from_another_module():
    """scikit-learn's rule: private helpers stay in their module (give a shared one a public name)."""
    offenders = [f"{path.name}: from .{node.module} import {alias.name}"
                 for path in sorted(PACKAGE.glob("*.py")) for node in _relative_imports(path)
                 for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert offenders == []


def test_every_public_name_is_still_importable_where_it_was():
    """The names each module offered before the restructuring (``__all__`` and what the notebooks,
    bench/ and the docs import), listed in tests/public_names.json."""
    wanted = json.loads((Path(__file__).with_name("public_names.json")).read_text())
    missing = [f"{module}.{name}" for module, names in wanted.items()
               for name in names if not hasattr(importlib.import_module(module), name)]
    assert missing == []


def _old_code(tmp_path: Path) -> Path:
    """The package as it was at BEFORE_RESTRUCTURING, extracted from git (skips where there is no history)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("no git checkout: the code before the restructuring cannot be extracted")
    known = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{BEFORE_RESTRUCTURING}^{{commit}}"],
                           capture_output=True)
    if known.returncode != 0:
        pytest.skip(f"commit {BEFORE_RESTRUCTURING} is not in this clone (shallow?)")
    old = tmp_path / "old"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE_RESTRUCTURING, "audiospec_utils"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    return old


OLD_TRAIN = """
import json, sys
from audiospec_utils.learn.train import train_classifier
from audiospec_utils.infer.predict import predict_files
assert 'old' in sys.modules['audiospec_utils'].__file__, sys.modules['audiospec_utils'].__file__
spec_dir, out, wav = sys.argv[1:4]
train_classifier(spec_dir, out, arch='resnet18', epochs=1, img_size=32, bs=16, pretrained=False, progress=False,
                 spec_augment=True, time_shift=0.25)
entry = predict_files(out, [wav], return_probs=True)[0]
print(json.dumps({"top": entry["top"], "probs": entry["probs"].tolist()}))
"""


def test_an_export_written_before_the_restructuring_still_loads_and_predicts(tmp_path, mini_specs, mini_root):
    """export.pkl pickles classes by module path (dataloaders.SpectrogramDataLoaders, SpecAugment, ...):
    a run trained by the old code must load with this one and give the same probabilities."""
    old = _old_code(tmp_path)
    wav = sorted((Path(mini_root) / "FSDKaggle2018.audio_test").glob("*.wav"))[0]
    run = tmp_path / "old_run"
    env = {**os.environ, "PYTHONPATH": str(old)}
    result = subprocess.run([sys.executable, "-c", OLD_TRAIN, str(mini_specs), str(run), str(wav)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    before = json.loads(result.stdout.strip().splitlines()[-1])

    from audiospec_utils.infer.predict import predict_files

    after = predict_files(run, [wav], return_probs=True)[0]
    assert "error" not in after, after.get("error")
    assert [t["label"] for t in after["top"]] == [t["label"] for t in before["top"]]
    assert len(after["probs"]) == len(before["probs"])
    assert max(abs(a - b) for a, b in zip(after["probs"], before["probs"])) < 1e-5
