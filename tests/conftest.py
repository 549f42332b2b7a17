"""Shared fixtures: a small mini dataset, its spectrograms and one trained run (built once per session)."""

from __future__ import annotations

import os

import pytest

# The suite trains in float32 on every CPU: its thresholds were set in float32, and `quick` trains in
# bf16 where the CPU has bf16 instructions, so the same test would otherwise train another model on
# such a CPU than on one without. Subprocesses (the CLI, notebook kernels) inherit it.
# tests/test_train.py trains with bf16 on purpose where the CPU has it.
os.environ["AUDIOSPEC_CPU_BF16"] = "0"


def _environment_kept():
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


# Every test and every module's fixtures give back the environment they started with, whatever the code
# under test set. Dask's LocalCluster(processes=True) leaves OMP_NUM_THREADS=1 (and MKL's, OpenBLAS's) in
# the parent's os.environ for its nannies; every later subprocess (a notebook kernel, the CLI, accelerate
# launch) then trained on one thread of two: notebook 03 ran 2.8 times slower after tests/test_render_dask.py.
_restore_environment_per_module = pytest.fixture(scope="module", autouse=True)(_environment_kept)
_restore_environment_per_test = pytest.fixture(autouse=True)(_environment_kept)


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory):
    from audiospec_utils.audio.mini import make_mini_dataset

    return make_mini_dataset(tmp_path_factory.mktemp("mini"), n_train_per_label=6, n_test_per_label=2)


@pytest.fixture(scope="session")
def mini_specs(mini_root, tmp_path_factory):
    from audiospec_utils.audio.datasets import load_fsdkaggle2018
    from audiospec_utils.features.render import render_spectrograms

    out = tmp_path_factory.mktemp("specs")
    render_spectrograms(load_fsdkaggle2018(mini_root), out, progress=False)
    return out


@pytest.fixture(scope="session")
def trained_run(mini_specs, tmp_path_factory):
    from audiospec_utils.learn.train import train_classifier

    out = tmp_path_factory.mktemp("run")
    # crops of 2 s, the length the tests of this run were written for (quick's own is 1 s since issue 21)
    learn, metrics = train_classifier(mini_specs, out, epochs=1, img_size=32, bs=16, pretrained=False,
                                      crop_seconds=2.0, progress=False)
    return out, metrics
