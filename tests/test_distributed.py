"""Training in several processes (``accelerate launch``), on the CPU: 2 processes, gloo.

``accelerate launch --cpu --num_processes 2`` starts ONE process in Accelerate 1.x (several CPU
processes need mpirun), so the test starts two with ``--multi_gpu --num_processes 2`` on this
GPU-less machine (torchrun underneath; each process joins a gloo group on the CPU).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = Path(sys.executable).with_name("accelerate")
ARGS = ["--no-pretrained", "--epochs", "1", "--img-size", "32", "-q"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "ACCELERATE_USE_CPU"):
        env.pop(name, None)
    return env


@pytest.mark.skipif(not ACCELERATE.is_file(), reason="accelerate is not installed in this environment")
def test_two_processes_write_the_same_run_files_as_one(mini_specs, mini_root, tmp_path):
    import torch
    import torch.nn.functional as F

    from audiospec_utils.learn.dataloaders import spectrogram_dataloaders
    from audiospec_utils.learn import Run
    from audiospec_utils.infer.predict import predict_files

    one, two = tmp_path / "one", tmp_path / "two"
    single = subprocess.run([sys.executable, "-m", "audiospec_utils", "train", str(mini_specs), "--out", str(one),
                             *ARGS], capture_output=True, text=True, timeout=600, env=_env(), cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    launch = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
              "-m", "audiospec_utils", "train", str(mini_specs), "--out", str(two), *ARGS]
    multi = subprocess.run(launch, capture_output=True, text=True, timeout=600, env=_env(), cwd=tmp_path)
    assert multi.returncode == 0, multi.stderr[-5000:]

    # the same files, written once: only the main process reports and writes
    assert _files(two) == _files(one)
    assert not [p for p in two.rglob("*") if p.name.endswith((".tmp", ".partial")) or "interrupted" in p.name]
    assert multi.stdout.count("validation: accuracy") == 1 and multi.stdout.count("model and metrics in") == 1
    epoch_rows = [line for line in multi.stdout.splitlines() if line.startswith("[0,")]
    assert len(epoch_rows) == 1, multi.stdout  # the second process prints nothing
    m1, m2 = (json.loads((r / "metrics.json").read_text()) for r in (one, two))
    assert set(m1) == set(m2)
    assert (m1["world_size"], m2["world_size"]) == (1, 2)
    for key in ("n_train", "n_valid", "classes", "split", "crop", "train_label_counts"):
        assert m1[key] == m2[key], key
    for name in ("valid_items.csv", "split.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(one / name), pd.read_csv(two / name))
    # save_run's get_preds on the main process saw every validation window: one row per clip
    vp = pd.read_csv(two / "valid_predictions.csv")
    assert sorted(vp["clip_id"]) == sorted(pd.read_csv(one / "valid_predictions.csv")["clip_id"])
    assert np.allclose(vp[m2["classes"]].sum(axis=1), 1.0, atol=1e-4)

    # the export holds no data, loads, and predicts
    run = Run(two)
    learn = run.learner()
    assert len(learn.dls.train.dataset) == 0 and learn.dls.train.cache is None and learn.dls.valid.cache is None
    assert not any(type(m).__name__ == "SyncBatchNorm" for m in learn.model.modules())
    assert (two / "export.pkl").stat().st_size < 2 * (one / "export.pkl").stat().st_size
    wavs = sorted((Path(mini_root) / "FSDKaggle2018.audio_test").glob("*.wav"))[:2]
    preds = predict_files(run, wavs)
    assert len(preds) == 2 and all(p["top"][0]["label"] in m2["classes"] for p in preds), preds

    # the per-epoch validation figures were gathered from both processes: they are those of the windows
    # each epoch scores (one per validation image, dls.valid_epoch), the first (world_size - 1) counted
    # twice (fastai's DistributedDL pads to a multiple of 2)
    dls = spectrogram_dataloaders(mini_specs, img_size=32, seed=42, bs=32, normalize="dataset", device="cpu",
                                  crop_seconds=m2["crop_seconds"])
    assert (dls.valid_table["window_start"].to_numpy() == pd.read_csv(two / "valid_items.csv")["window_start"]).all()
    model = learn.model.eval()
    with torch.no_grad():
        out = [(model(xb), yb) for xb, yb in dls.valid_epoch]
    logits, y = torch.cat([o for o, _ in out]), torch.cat([t for _, t in out])
    pad = (-len(y)) % 2
    keep = torch.cat([torch.arange(len(y)), torch.arange(pad)])
    losses = F.cross_entropy(logits, y, reduction="none")[keep]
    hits = (logits.argmax(1) == y).float()[keep]
    hist = pd.read_csv(two / "history.csv").iloc[-1]
    assert hist["accuracy"] == pytest.approx(hits.mean().item(), abs=1e-5)
    assert hist["valid_loss"] == pytest.approx(losses.mean().item(), rel=1e-4)


def test_sync_batchnorm_is_reverted_to_the_original_layers():
    import torch
    from torchvision.models import resnet18

    from audiospec_utils.learn.distributed import revert_sync_batchnorm

    model = torch.nn.Sequential(resnet18(weights=None), torch.nn.BatchNorm1d(1000))
    types = {n: type(m) for n, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    weight = model[1].weight
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules()) == len(types)
    back = revert_sync_batchnorm(synced, types)
    assert {n: type(m) for n, m in back.named_modules() if n in types} == types
    assert back[1].weight is weight  # the same parameters: an optimizer holding them keeps working
    back.eval()
    assert back(torch.zeros(2, 3, 32, 32)).shape == (2, 1000)


def test_single_process_dataloader_never_gathers(mini_specs, monkeypatch):
    """With WORLD_SIZE=2 in the environment (as after a distributed fit), a plain SpectrogramDL's outputs
    are whole already: gathering them would wait for a process group that the main process is alone in."""
    import torch

    from audiospec_utils.learn.dataloaders import spectrogram_dataloaders

    dls = spectrogram_dataloaders(mini_specs, img_size=32, bs=8, device="cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")
    x = torch.arange(6.0)
    assert torch.equal(dls.valid.to_detach(x), x)


def test_launch_checks(monkeypatch):
    from audiospec_utils.learn.distributed import check_launch
    from audiospec_utils.exceptions import ParameterError
    from audiospec_utils.learn.train import train_classifier

    for name in ("WORLD_SIZE", "RANK", "MASTER_ADDR", "ACCELERATE_USE_CPU"):
        monkeypatch.delenv(name, raising=False)
    assert check_launch() is None
    # what `accelerate launch --cpu --num_processes 2` gives its one process
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    assert "ONE process" in check_launch()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert check_launch() is None
    with pytest.raises(ParameterError, match="lr_find runs in one process"):
        train_classifier("no-such-folder", "no-such-run", lr_find=True, pretrained=False)
