"""The course's default mode on real FSDKaggle2018 clips, three platforms: every notebook (01 to 06) once.

``make test`` runs the notebooks in the mini mode (synthetic clips). Here they run top to bottom
under nbval in the default mode (``AUDIOSPEC_DATASET=fsdkaggle2018``), the one learners run, on a
real 300-clip subset of FSDKaggle2018 (10 labels; the three Zenodo archives and their
``md5sums.txt`` in ``../shared/data/fsdkaggle2018-subset``, read in place, never copied into the
project), as three platforms run them (and Kaggle twice: the Zenodo layout attached, and the
competition's own layout).

What differs between the platforms is where the data and the weights come from and where things
are written: notebooks 01 (get the data) and 02 (read and render it) hold all of that, and run on
every platform. Notebooks 03 to 05 then read what 01 and 02 left through the same
``course_config()``, whatever the platform; they run top to bottom once, on the strictest of the
four (Kaggle, the competition's layout, offline, inputs read-only, the weights only from the
attached file). Notebook 06 (your own sounds: it needs only the data, and trains, exports and shares
its own model) runs on the real clips once, locally, with the weights of the torch hub cache; on
Kaggle it would take its weights the way 03 and 05 do, from ``cfg.training_config()``
(``tests/test_course.py`` checks that an attached file reaches it). So ``make test`` stays within
its time (the four full runs took about 26 minutes of its 40 on a 2-core CPU; notebook 06 added
50 seconds to the Kaggle run):

- **local** (01, 02, 06): a loopback HTTP server serves the archives; ``AUDIOSPEC_MIRROR`` points at it, so
  notebook 01 downloads, checks (the mirror's MD5s) and extracts them, 02 renders them, and 06
  gets its ImageNet weights from the torch hub cache of a temporary ``TORCH_HOME``;
- **Kaggle offline** (01, 02): ``AUDIOSPEC_PLATFORM=kaggle``, the extracted clips and the weights file in
  an input folder standing for ``/kaggle/input`` (``AUDIOSPEC_KAGGLE_INPUT``), found through
  ``AUDIOSPEC_FSDK_ROOT`` and ``AUDIOSPEC_WEIGHTS`` as a kernel would set them; everything is
  written under the folder standing for ``/kaggle/working`` and nothing in the input folder
  (names, sizes and modification times compared before and after). The torch hub cache is
  empty and the network is off, so only the attached file can give notebooks 03 and 05
  their weights: the run below fails if a notebook ignores ``cfg.weights``;
- **Kaggle, competition data attached** (01 to 05): the same, with the clips laid out as the
  ``freesound-audio-tagging`` competition's files (``audio_train/``, ``audio_test/``, ``train.csv``,
  ``sample_submission.csv``, ``train_post_competition.csv``, ``test_post_competition.csv``: the real
  rows of the whole set's CSVs for the training clips); notebook 04 must show the test score of the
  Public and Private clips with its interval;
- **Colab** (01, 02): ``AUDIOSPEC_PLATFORM=colab`` with the folder standing for ``/content``
  (``AUDIOSPEC_COLAB_ROOT``) in a temporary place; the data is downloaded there from the mirror.

The real ImageNet weights cannot be downloaded here (no network): the tests save a ResNet-34 state
dict of their own (``torchvision.models.resnet34().state_dict()``, seeded, random weights) under
torchvision's file name ``resnet34-b627a593.pth`` as a stand-in. It has the right shapes, so
every code path is the pretrained one; the accuracies reached mean nothing.

A network guard (``tests/netguard/sitecustomize.py``, on the kernels' ``PYTHONPATH``) refuses
every connection, and every name resolution, other than to loopback, and logs it: a run fails on
any such attempt, even one the code catches.

Notebook 06 ("Your own sounds") runs on the same real clips laid out as a learner's folder per class
(``own_sounds_folder``: each recording cut into parts, grouped by its name), holds out a fold, trains
with the course's network and weights, exports ONNX, starts the page and writes the Space folder:
``_check_own_sounds`` checks what it leaves.

Sizes come from the documented overrides (``AUDIOSPEC_EPOCHS=1``, 32-pixel images, 5 clips per label
and split, a 10-batch learning-rate sweep), which shrink the real configuration without changing its
code path. Where ``../shared`` is absent (a clone of its own) these
tests are skipped with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from http_server import serve_directory

REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO.parent / "shared" / "data" / "fsdkaggle2018-subset"
NETGUARD = Path(__file__).resolve().parent / "netguard"
WEIGHTS_NAME = "resnet34-b627a593.pth"  # torchvision's file name of the ImageNet ResNet-34 weights
ARCHIVES = ("FSDKaggle2018.audio_train.zip", "FSDKaggle2018.audio_test.zip", "FSDKaggle2018.meta.zip")
# The real configuration, shrunk: the same code path (pretrained, lr_find, every compare row), CPU-sized. Five
# clips per label and split is the least the grouped 80/20 split takes (fewer: sklearn refuses to make 5 folds).
SIZES = {"AUDIOSPEC_EPOCHS": "1", "AUDIOSPEC_IMG_SIZE": "32", "AUDIOSPEC_BS": "16", "AUDIOSPEC_LR_FIND_ITERS": "10",
         "AUDIOSPEC_N_PER_LABEL": "5"}
# The Kaggle runs: 32-pixel images too (64, as in the README's CPU example, took 313 s of make test's time on two
# threads, 588 s on one; the code path is the same at any size)
KAGGLE_SIZES = SIZES
TIMEOUT = 1800

pytestmark = pytest.mark.skipif(
    not all((SUBSET / name).is_file() for name in (*ARCHIVES, "md5sums.txt")),
    reason=f"needs the real FSDKaggle2018 subset in {SUBSET} (../shared beside the project), absent here")


@pytest.fixture(scope="module")
def stand_in_weights(tmp_path_factory) -> Path:
    """A seeded random ResNet-34 state dict under torchvision's name (the real file cannot be downloaded)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / WEIGHTS_NAME
    torch.save(torchvision.models.resnet34().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def mirror():
    """The subset's folder, served as it is on a loopback HTTP server; yields ``(base_url, state)``."""
    with serve_directory(SUBSET) as served:
        yield served


def _hub_cache(torch_home: Path, weights: Path) -> Path:
    """Put `weights` where torchvision looks before downloading: ``$TORCH_HOME/hub/checkpoints``."""
    target = torch_home / "hub" / "checkpoints" / WEIGHTS_NAME
    target.parent.mkdir(parents=True)
    shutil.copyfile(weights, target)
    return target


def _environment(tmp: Path, sizes: dict = SIZES, **extra) -> dict:
    """The notebooks' environment: no inherited AUDIOSPEC_/platform variable, the guard, the sizes."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUDIOSPEC_", "KAGGLE_", "COLAB_")) and k not in ("TORCH_HOME", "PYTHONPATH")}
    env.update(sizes)
    # the guard, and the package of this checkout (the kernels start in notebooks/)
    env.update(AUDIOSPEC_DATASET="fsdkaggle2018", PYTHONPATH=os.pathsep.join([str(NETGUARD), str(REPO)]),
               AUDIOSPEC_NETGUARD_LOG=str(tmp / "net.log"),
               MPLBACKEND="agg", PYTHONDONTWRITEBYTECODE="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# where the platforms differ (01, 02)
DATA_NOTEBOOKS = [nb for nb in NOTEBOOKS if nb.name.startswith(("01_", "02_"))]
# and notebook 06, which needs only the data (its own folder, model and Space) and the weights
OWN_SOUNDS_NOTEBOOKS = [*DATA_NOTEBOOKS, *(nb for nb in NOTEBOOKS if nb.name.startswith("06_"))]
# the course up to the comparison (01-05): the Kaggle run with the competition's data
COURSE_NOTEBOOKS = [nb for nb in NOTEBOOKS if not nb.name.startswith("06_")]


def _code_cells(notebooks: list[Path]) -> int:
    """How many code cells `notebooks` hold: nbval-lax makes one test item of each."""
    return sum(sum(c["cell_type"] == "code" for c in json.loads(nb.read_text())["cells"]) for nb in notebooks)


def _run_notebooks(tmp: Path, env: dict, notebooks: list[Path] = NOTEBOOKS) -> float:
    """Run `notebooks` in order under nbval in `env`; fail with the output's tail and any blocked network attempt."""
    start = time.time()
    res = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
                          "-q", "--durations=15", *[str(nb.relative_to(REPO)) for nb in notebooks]],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    seconds = time.time() - start
    blocked = (tmp / "net.log").read_text() if (tmp / "net.log").exists() else ""
    assert not blocked, f"network attempts other than loopback during the notebooks:\n{blocked[:4000]}"
    assert res.returncode == 0, f"nbval failed (exit {res.returncode}):\n{(res.stdout + res.stderr)[-12000:]}"
    summary = res.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{_code_cells(notebooks)} passed"), f"not every cell ran and passed: {summary}"
    slowest = res.stdout[res.stdout.find("slowest"):].splitlines()[1:16]
    print(f"notebooks in {seconds:.0f} s: {summary}; slowest cells:\n" + "\n".join(slowest))
    return seconds


def _check_data_outputs(data_root: Path, sizes: dict = SIZES) -> None:
    """What notebooks 01 and 02 leave: the real clips' images, every label, no failed clip."""
    import pandas as pd

    manifest = pd.read_csv(data_root / "spectrograms_fsdkaggle2018" / "manifest.csv", keep_default_na=False)
    assert manifest["label"].nunique() == 10 and (manifest["error"] == "").all()
    n_per_label = int(sizes["AUDIOSPEC_N_PER_LABEL"])
    assert manifest.groupby(["split", "label"])["clip_id"].nunique().max() == n_per_label  # the override reached notebook 02


def _check_course_outputs(data_root: Path, runs_root: Path, weights: str | None, sizes: dict = SIZES) -> None:
    """What notebooks 01 to 05 leave: the real dataset, its images, a pretrained run, a full comparison."""
    import pandas as pd

    _check_data_outputs(data_root, sizes)
    metrics = json.loads((runs_root / "course_fsdkaggle2018" / "metrics.json").read_text())
    assert metrics["pretrained"] is True and metrics["weights"] == weights
    assert metrics["epochs"] == int(sizes["AUDIOSPEC_EPOCHS"]) and metrics["img_size"] == int(sizes["AUDIOSPEC_IMG_SIZE"])
    assert len(metrics["classes"]) == 10
    assert (runs_root / "course_fsdkaggle2018" / "export.pkl").is_file()
    assert (runs_root / "course_fsdkaggle2018" / "submission.csv").is_file()
    table = pd.read_csv(runs_root / "compare_fsdkaggle2018" / "comparison.csv")
    assert len(table) == 7 and table["error"].isna().all(), table
    assert table.loc[table["method"] == "resnet34", "pretrained"].all(), "a ResNet row trained without the weights"
    assert not (data_root / "own_sounds_fsdkaggle2018").exists()  # notebook 06 is the local run's (module docstring)


def _check_own_sounds(data_root: Path, runs_root: Path, weights: str | None, n_per_label: int) -> None:
    """What notebook 06 leaves: the real clips as a learner's folder, its folds, a held-out score, ONNX, a Space."""
    import pandas as pd

    folder = data_root / "own_sounds_fsdkaggle2018"
    labels = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert len(labels) == 10 and all(len(list((folder / label).glob("*-part*.wav"))) for label in labels)
    folds = pd.read_csv(data_root / "own_sounds_fsdkaggle2018.csv", dtype=str)
    assert folds["group"].nunique() == 10 * n_per_label and set(folds["fold"]) == {"1", "2", "3", "4", "5"}
    assert folds.groupby("group")["fold"].nunique().max() == 1            # a recording in one fold
    run = runs_root / "own_sounds_fsdkaggle2018"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["arch"] == "resnet34" and metrics["pretrained"] is True and metrics["weights"] == weights
    split = metrics["split"]                                               # how the run was split, as it says
    assert (split["test_fold"], split["valid_fold"]) == ("5", "4") and metrics["valid_interval"]["accuracy"]
    test = json.loads((run / "test_metrics.json").read_text())
    assert test["n_scored"] > 0 and test["interval"]["accuracy"] and str(test["test_fold"]) == "5"
    assert (run / "app" / "model.onnx").is_file() and (run / "app" / "model_windows.onnx").is_file()
    space = runs_root / "own_sounds_fsdkaggle2018_space"
    assert all((space / name).is_file() for name in ("app.py", "model.onnx", "requirements.txt", "README.md"))


def _snapshot(folder: Path) -> dict:
    """Every entry under `folder`: relative path -> (is folder, size, mtime in ns)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(folder))] = (path.is_dir(), st.st_size if not path.is_dir() else 0, st.st_mtime_ns)
    st = folder.stat()
    out["."] = (True, 0, st.st_mtime_ns)
    return out


def test_network_guard_refuses_all_but_loopback(tmp_path, mirror):
    """The guard itself: a remote address, a remote name and a URL fail and are logged; loopback works."""
    base_url, _ = mirror
    code = (
        "import socket, urllib.request\n"
        "for target in [('203.0.113.7', 443), ('zenodo.org', 443)]:\n"
        "    try:\n"
        "        socket.create_connection(target, timeout=2)\n"
        "    except OSError as err:\n"
        "        print('refused', type(err).__name__, err)\n"
        "s = socket.socket()\n"
        "try:\n"
        "    s.connect(('198.51.100.1', 80))\n"
        "except OSError as err:\n"
        "    print('refused', type(err).__name__, err)\n"
        "try:\n"
        "    urllib.request.urlopen('https://download.pytorch.org/models/resnet34-b627a593.pth', timeout=2)\n"
        "except OSError as err:\n"
        "    print('refused', type(err).__name__, err)\n"
        f"print('loopback', urllib.request.urlopen({base_url + 'md5sums.txt'!r}, timeout=5).read().decode().count('zip'))\n"
    )
    env = _environment(tmp_path)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    refused = [line for line in lines if line.startswith("refused")]
    assert len(refused) == 4 and all("network guard" in line for line in refused), res.stdout
    assert "'203.0.113.7'" in refused[0] and "NetworkBlocked" in refused[0]
    assert "zenodo.org" in refused[1] and "198.51.100.1" in refused[2] and "download.pytorch.org" in refused[3]
    assert lines[-1] == "loopback 3"
    log = (tmp_path / "net.log").read_text()
    assert log.count("blocked") == 4 and "203.0.113.7" in log and "download.pytorch.org" in log


def test_local_with_a_mirror_and_the_hub_cache(tmp_path, mirror, stand_in_weights):
    """Local: notebook 01 downloads the archives from the mirror (its md5sums.txt), 02 renders them, 06 runs."""
    base_url, state = mirror
    state.clear_log()
    data, runs = tmp_path / "data", tmp_path / "runs"
    _hub_cache(tmp_path / "torch_home", stand_in_weights)
    env = _environment(tmp_path, AUDIOSPEC_PLATFORM="local", AUDIOSPEC_MIRROR=base_url, AUDIOSPEC_DATA=data,
                       AUDIOSPEC_RUNS=runs, TORCH_HOME=tmp_path / "torch_home")
    _run_notebooks(tmp_path, env, OWN_SOUNDS_NOTEBOOKS)
    fetched = {r.path.lstrip("/") for r in state.requests("GET")}
    assert fetched == {*ARCHIVES, "md5sums.txt"}, fetched
    root = data / "fsdkaggle2018"
    assert len(list((root / "FSDKaggle2018.audio_train").glob("*.wav"))) == 240
    assert len(list((root / "FSDKaggle2018.audio_test").glob("*.wav"))) == 60
    assert not list(root.glob("*.zip")), "archives are deleted once extracted"
    _check_data_outputs(data)
    _check_own_sounds(data, runs, weights=None, n_per_label=int(SIZES["AUDIOSPEC_N_PER_LABEL"]))  # hub cache


def test_kaggle_offline_with_attached_data_and_weights(tmp_path, stand_in_weights):
    """Kaggle, internet off, the Zenodo layout attached: read-only inputs, nothing written there (01, 02)."""
    dataset = tmp_path / "input" / "fsdkaggle2018-subset"
    for name in ARCHIVES:
        with zipfile.ZipFile(SUBSET / name) as zf:
            zf.extractall(dataset)
    _run_on_kaggle(tmp_path, dataset, stand_in_weights, DATA_NOTEBOOKS)


def _run_on_kaggle(tmp_path: Path, dataset: Path, stand_in_weights: Path, notebooks: list[Path]) -> Path:
    """`notebooks` as a Kaggle kernel runs them offline, `dataset` and the weights attached read-only.

    Returns the folder standing for ``/kaggle/working``.
    """
    inputs, working = tmp_path / "input", tmp_path / "working"
    weights = inputs / "resnet34-weights" / WEIGHTS_NAME
    weights.parent.mkdir(parents=True)
    weights.write_bytes(stand_in_weights.read_bytes())
    for path in [inputs, *inputs.rglob("*")]:  # as mounted on Kaggle (root ignores it: the snapshot checks)
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = _snapshot(inputs)
    working.mkdir()
    env = _environment(tmp_path, KAGGLE_SIZES, AUDIOSPEC_PLATFORM="kaggle", AUDIOSPEC_KAGGLE_INPUT=inputs,
                       AUDIOSPEC_KAGGLE_WORKING=working, AUDIOSPEC_FSDK_ROOT=dataset, AUDIOSPEC_WEIGHTS=weights,
                       TORCH_HOME=tmp_path / "empty_torch_home")
    try:
        _run_notebooks(tmp_path, env, notebooks)
        assert _snapshot(inputs) == before, "something was written in the read-only input folder"
        assert not (tmp_path / "empty_torch_home").exists() or not list((tmp_path / "empty_torch_home").rglob("*.pth"))
        if notebooks == COURSE_NOTEBOOKS:
            _check_course_outputs(working / "audiospec_data", working / "runs", weights=str(weights), sizes=KAGGLE_SIZES)
        else:
            _check_data_outputs(working / "audiospec_data", sizes=KAGGLE_SIZES)
    finally:
        for path in [inputs, *inputs.rglob("*")]:  # let pytest clean up
            path.chmod(0o755 if path.is_dir() else 0o644)
    return working


def _kaggle_competition_layout(dest: Path) -> Path:
    """The competition's files (``freesound-audio-tagging``) made from the subset's real clips and metadata.

    ``audio_train/`` and ``audio_test/`` hold the real clips; ``train.csv`` (fname, label,
    manually_verified) and ``train_post_competition.csv`` are the real rows of the whole set's CSVs
    (``../shared/data/fsdkaggle2018-meta``) for those clips; ``sample_submission.csv`` (placeholder
    labels) and ``test_post_competition.csv`` (label, usage Public/Private, freesound_id, license)
    hold the subset's test clips in the competition's format.
    """
    import pandas as pd

    raw = dest.parent / "zenodo"
    for name in ARCHIVES:
        with zipfile.ZipFile(SUBSET / name) as zf:
            zf.extractall(raw)
    meta = raw / "FSDKaggle2018.meta"
    whole = SUBSET.parent / "fsdkaggle2018-meta"
    train = pd.read_csv(meta / "train_post_competition.csv", dtype=str)
    test = pd.read_csv(meta / "test_post_competition_scoring_clips.csv", dtype=str)
    shutil.copytree(raw / "FSDKaggle2018.audio_train", dest / "audio_train")
    shutil.copytree(raw / "FSDKaggle2018.audio_test", dest / "audio_test")
    for name in ("train.csv", "train_post_competition.csv"):
        rows = pd.read_csv(whole / name, dtype=str)
        rows[rows["fname"].isin(train["fname"])].to_csv(dest / name, index=False)
    pd.DataFrame({"fname": test["fname"], "label": "Laughter Hi-Hat Flute"}).to_csv(dest / "sample_submission.csv",
                                                                                    index=False)
    test[["fname", "label", "usage", "freesound_id", "license"]].to_csv(dest / "test_post_competition.csv",
                                                                          index=False)
    shutil.rmtree(raw)
    return dest


def test_kaggle_competition_layout_attached_offline(tmp_path, stand_in_weights):
    """Kaggle with the competition's data attached (audio_train/, train.csv, test_post_competition.csv...), offline:
    the course from the download to the comparison (01-05)."""
    dataset = _kaggle_competition_layout(tmp_path / "input" / "freesound-audio-tagging")
    working = _run_on_kaggle(tmp_path, dataset, stand_in_weights, COURSE_NOTEBOOKS)
    test = json.loads((working / "runs" / "course_fsdkaggle2018" / "test_metrics.json").read_text())
    assert test["n_scored"] > 0 and test["accuracy"] is not None and test["interval"]["accuracy"]
    assert test["by_usage"] and set(test["by_usage"]) <= {"Public", "Private"}


def test_colab_downloads_into_its_content_folder(tmp_path, mirror, stand_in_weights):
    """Colab: everything under the folder standing for /content, the data fetched from the mirror (01, 02)."""
    base_url, state = mirror
    state.clear_log()
    content = tmp_path / "content"
    content.mkdir()
    _hub_cache(tmp_path / "torch_home", stand_in_weights)
    env = _environment(tmp_path, AUDIOSPEC_PLATFORM="colab", AUDIOSPEC_COLAB_ROOT=content,
                       AUDIOSPEC_MIRROR=base_url, TORCH_HOME=tmp_path / "torch_home")
    _run_notebooks(tmp_path, env, DATA_NOTEBOOKS)
    assert {r.path.lstrip("/") for r in state.requests("GET")} == {*ARCHIVES, "md5sums.txt"}
    assert (content / "audiospec_data" / "fsdkaggle2018" / "FSDKaggle2018.meta").is_dir()
    written = {p.name for p in content.iterdir()}
    assert "audiospec_data" in written and written <= {"audiospec_data", "runs"}, written  # nothing else in /content
    _check_data_outputs(content / "audiospec_data")
