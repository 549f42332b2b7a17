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
#: The last commit of the flat layout, before the subpackages (issue 28).
BEFORE_SUBPACKAGES = "6766f76"


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
@pytest.mark.parametrize("module, line, message", [
    ("audio/decode.py", "from .. import cli", "audiospec_utils.audio is not allowed to import audiospec_utils.cli"),
    ("features/kinds.py", "from ..learn import train",
     "audiospec_utils.features is not allowed to import audiospec_utils.learn"),
    ("learn/metrics.py", "from ..assess import evaluate",
     "audiospec_utils.learn is not allowed to import audiospec_utils.assess"),
    # two that stand side by side and must not talk: explain | infer, course | share
    ("explain/display.py", "from ..infer import predict",
     "audiospec_utils.explain is not allowed to import audiospec_utils.infer"),
    ("course/widgets.py", "from ..share import app", "audiospec_utils.course is not allowed to import audiospec_utils.share"),
])
def test_layer_contract_fails_on_an_upward_or_sideways_import(tmp_path, module, line, message):
    """A copy of the package with one import that points up a layer (or across to an independent
    sibling) breaks the contract, naming both subpackages."""
    shutil.copytree(PACKAGE, tmp_path / "audiospec_utils", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert _lint_imports(tmp_path, tmp_path / "pyproject.toml").returncode == 0  # the copy itself is clean
    target = tmp_path / "audiospec_utils" / module
    target.write_text(target.read_text() + f"\n{line}  # the import the contract forbids\n")
    result = _lint_imports(tmp_path, tmp_path / "pyproject.toml")
    assert result.returncode != 0
    assert message in result.stdout


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _relative_imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            yield node


def test_no_private_name_is_imported_from_another_module():
    """scikit-learn's rule: private helpers stay in their module (give a shared one a public name)."""
    offenders = [f"{path.relative_to(PACKAGE)}: from {'.' * node.level}{node.module or ''} import {alias.name}"
                 for path in _modules() for node in _relative_imports(path)
                 for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert offenders == []


SUBPACKAGES = ["audio", "features", "learn", "infer", "explain", "assess", "share", "course"]


def test_the_package_is_its_subpackages_and_a_few_modules_beside_them():
    """Subpackages that are the layers (librosa's ``core`` and ``feature``), each with a public face."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    subs = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert len(top) <= 8, top
    assert subs == sorted(SUBPACKAGES)
    for sub in SUBPACKAGES:
        face = importlib.import_module(f"audiospec_utils.{sub}")
        assert face.__all__, sub
        assert [n for n in face.__all__ if not hasattr(face, n)] == [], sub  # every name of the face resolves


def test_importing_a_subpackage_face_loads_no_heavy_library():
    """The faces import their modules when a name is first asked for: reading audio or spectrogram
    parameters never loads torch or fastai (the web page's runtime has neither)."""
    code = ("import sys; import audiospec_utils.audio, audiospec_utils.features, audiospec_utils.infer, "
            "audiospec_utils.learn; from audiospec_utils.features import SpectrogramParams; "
            "from audiospec_utils.infer.onnx_predict import OnnxClassifier; "
            "print(sorted(m for m in ('torch', 'fastai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_the_flat_module_names_before_the_subpackages_still_import_with_a_warning():
    """An ``export.pkl`` names its classes by module path, and old notebooks import the flat names:
    each still resolves to the module it moved to, with a DeprecationWarning naming the new place."""
    import audiospec_utils

    for old, new in audiospec_utils.MOVED_MODULES.items():
        sys.modules.pop(f"audiospec_utils.{old}", None)
        with pytest.warns(DeprecationWarning, match=f"audiospec_utils.{old} moved to audiospec_utils"):
            module = importlib.import_module(f"audiospec_utils.{old}")
        for target in new.split():
            real = importlib.import_module(f"audiospec_utils.{target}")
            assert all(getattr(module, name) is getattr(real, name) for name in getattr(real, "__all__", []))
    from audiospec_utils.folders import RenderFolder, Run  # split in two: both names still found

    assert (RenderFolder.__module__, Run.__module__) == ("audiospec_utils.features.folders", "audiospec_utils.learn.run")


def test_every_public_name_is_still_importable_where_it_was():
    """The names the notebooks, README and bench/ import (tests/public_names.json), where they import them."""
    wanted = json.loads((Path(__file__).with_name("public_names.json")).read_text())
    missing = [f"{module}.{name}" for module, names in wanted.items()
               for name in names if not hasattr(importlib.import_module(module), name)]
    assert missing == []


def _old_code(tmp_path: Path, commit: str) -> Path:
    """The package as it was at `commit`, extracted from git (skips where there is no history)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("no git checkout: the code before the restructuring cannot be extracted")
    known = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True)
    if known.returncode != 0:
        pytest.skip(f"commit {commit} is not in this clone (shallow?)")
    old = tmp_path / "old"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "audiospec_utils"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    return old


# The old code's own (flat) module names: this script runs with the package of `commit`.
OLD_TRAIN = """
import json, sys
from audiospec_utils.benchmarks import load_fsdkaggle2018
from audiospec_utils.render import render_spectrograms
from audiospec_utils.train import train_classifier
from audiospec_utils.predict import predict_files
assert 'old' in sys.modules['audiospec_utils'].__file__, sys.modules['audiospec_utils'].__file__
mini_root, spec_dir, out, wav = sys.argv[1:5]
render_spectrograms(load_fsdkaggle2018(mini_root), spec_dir, progress=False)
train_classifier(spec_dir, out, arch='resnet18', epochs=1, img_size=32, bs=16, pretrained=False, progress=False,
                 spec_augment=True, time_shift=0.25)
entry = predict_files(out, [wav], return_probs=True)[0]
print(json.dumps({"top": entry["top"], "probs": entry["probs"].tolist()}))
"""


@pytest.mark.parametrize("commit", [BEFORE_RESTRUCTURING, BEFORE_SUBPACKAGES])
def test_an_export_written_before_the_restructuring_still_loads_and_predicts(tmp_path, mini_root, commit):
    """export.pkl pickles classes by module path (dataloaders.SpectrogramDataLoaders, SpecAugment, ...):
    a render folder and a run written by the old code must load with this one and give the same
    probabilities."""
    old = _old_code(tmp_path, commit)
    wav = sorted((Path(mini_root) / "FSDKaggle2018.audio_test").glob("*.wav"))[0]
    specs, run = tmp_path / "old_specs", tmp_path / "old_run"
    env = {**os.environ, "PYTHONPATH": str(old)}
    result = subprocess.run([sys.executable, "-c", OLD_TRAIN, str(mini_root), str(specs), str(run), str(wav)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    before = json.loads(result.stdout.strip().splitlines()[-1])

    from audiospec_utils.features import RenderFolder
    from audiospec_utils.infer.predict import predict_files
    from audiospec_utils.learn.run import Run

    assert Run(run).render_folder.path == RenderFolder(specs).path
    assert len(RenderFolder(specs).training_images()) > 0
    after = predict_files(Run(run), [wav], return_probs=True)[0]
    assert "error" not in after, after.get("error")
    assert [t["label"] for t in after["top"]] == [t["label"] for t in before["top"]]
    assert len(after["probs"]) == len(before["probs"])
    assert max(abs(a - b) for a, b in zip(after["probs"], before["probs"])) < 1e-5
