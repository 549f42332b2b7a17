"""A training killed after epoch 2 of 4 and run again continues at epoch 3 and ends where an uninterrupted one does."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from audiospec_utils.exceptions import ParameterError

ARGS = ["--epochs", "4", "--img-size", "32", "--bs", "16", "--no-pretrained", "--seed", "3"]


def _cli(spec_dir, run, *extra):
    return [sys.executable, "-m", "audiospec_utils", "-q", "train", str(spec_dir), "--out", str(run), *ARGS, *extra]


def _kill_after_epochs(cmd, run, n_epochs: int, timeout: float = 300):
    """Start `cmd`, SIGKILL it as soon as history.csv holds `n_epochs` rows (no chance to clean up)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    history = run / "history.csv"
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and proc.poll() is None:
            if history.is_file():
                try:
                    if len(pd.read_csv(history)) >= n_epochs:
                        break
                except (pd.errors.EmptyDataError, pd.errors.ParserError):
                    pass
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_killed_training_resumes_and_matches_an_uninterrupted_one(mini_specs, tmp_path):
    from audiospec_utils.learn.train import train_classifier

    # the uninterrupted reference, same settings as the command line's
    _, ref = train_classifier(mini_specs, tmp_path / "ref", epochs=4, img_size=32, bs=16, pretrained=False, seed=3,
                              progress=False)
    ref_history = pd.read_csv(tmp_path / "ref" / "history.csv")
    assert not (tmp_path / "ref" / "models" / "resume.pth").exists()  # a finished run keeps no resume state

    run = tmp_path / "run"
    code, err = _kill_after_epochs(_cli(mini_specs, run), run, 2)
    assert code == -signal.SIGKILL, err
    assert (run / "models" / "resume.pth").is_file() and not (run / "metrics.json").exists()
    assert len(pd.read_csv(run / "history.csv")) == 2

    # other settings are refused, naming them, and nothing is lost
    other = subprocess.run(_cli(mini_specs, run, "--lr", "0.01"), capture_output=True, text=True, timeout=300)
    assert other.returncode != 0 and "lr None -> 0.01" in other.stderr and "--restart" in other.stderr
    assert "resume it at epoch 3 of 4" in other.stderr and "Traceback" not in other.stderr

    again = subprocess.run(_cli(mini_specs, run), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resuming at epoch 3 of 4" in again.stderr
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [0, 1, 2, 3]  # each epoch once
    # the first two rows are the interrupted run's, the last two this run's: all as without the interruption
    assert history["valid_loss"].to_numpy() == pytest.approx(ref_history["valid_loss"].to_numpy(), abs=1e-3)
    assert history["train_loss"].to_numpy() == pytest.approx(ref_history["train_loss"].to_numpy(), abs=1e-3)
    import json

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(ref["accuracy"], abs=1e-6)
    assert not (run / "models" / "resume.pth").exists()


def test_restart_starts_over_and_keeps_the_old_weights(mini_specs, tmp_path):
    from audiospec_utils.learn.train import train_classifier

    run = tmp_path / "run"
    code, _ = _kill_after_epochs(_cli(mini_specs, run), run, 1)
    assert code == -signal.SIGKILL
    with pytest.raises(ParameterError, match=r"epochs 4 -> 1"):
        train_classifier(mini_specs, run, epochs=1, img_size=32, bs=16, pretrained=False, seed=3, progress=False)
    _, m = train_classifier(mini_specs, run, epochs=1, img_size=32, bs=16, pretrained=False, seed=3, progress=False,
                            restart=True)
    assert m["epochs"] == 1 and len(pd.read_csv(run / "history.csv")) == 1
    assert len(list((run / "models").glob("last_interrupted_*.pth"))) == 1


def test_a_notebook_fit_cell_run_again_continues_instead_of_training_again(mini_specs, tmp_path):
    """fit(..., resume=True), as notebook 03's training cell calls it: a second run of the cell trains nothing."""
    import torch

    from audiospec_utils.learn import create_learner, spectrogram_dataloaders
    from audiospec_utils.learn.train import fit

    def learner():
        dls = spectrogram_dataloaders(mini_specs, img_size=32, bs=16, seed=1, progress=False)
        learn = create_learner(dls, "resnet18", pretrained=False, path=tmp_path / "run")
        learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
        return learn

    first = learner()
    fit(first, 1, pretrained=False, resume=True)
    assert (tmp_path / "run" / "models" / "resume.pth").is_file()
    second = learner()
    assert not all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(),
                                                     second.model.state_dict().values()))
    fit(second, 1, pretrained=False, resume=True)  # the kernel died after the cell: the run is there
    for (name, a), b in zip(first.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu()), name
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 1
    # the notebook's next cell draws the loss curve of the training found finished (not a crash)
    assert [float(x) for x in second.recorder.losses] == pytest.approx([float(x) for x in first.recorder.losses])
    assert second.recorder.values == first.recorder.values
    second.recorder.plot_loss()
    with pytest.raises(ParameterError, match="epochs 1 -> 2"):
        fit(learner(), 2, pretrained=False, resume=True)


def test_the_checkpoint_is_written_off_the_training_thread_and_whole_at_the_end(mini_specs, tmp_path, monkeypatch):
    """Each epoch's state is written by a thread of its own while the next epoch trains (issue 29), and the
    fit does not end before the last epoch's files are on disk."""
    import threading

    import torch

    from audiospec_utils.learn import callbacks
    from audiospec_utils.learn.train import train_classifier

    writes, real = [], callbacks.save_atomic

    def slow_save(obj, path):
        time.sleep(0.5)  # a slow disk: the epochs must not wait for it
        writes.append((threading.current_thread().name, str(path)))
        real(obj, path)

    monkeypatch.setattr(callbacks, "save_atomic", slow_save)
    run = tmp_path / "run"
    learn, _ = train_classifier(mini_specs, run, epochs=2, img_size=32, bs=16, pretrained=False, seed=3,
                                progress=False)
    assert [w[0] for w in writes] == ["EpochCheckpoint"] * 4  # resume.pth and last.pth after each of 2 epochs
    assert sorted(Path(w[1]).name for w in writes) == ["last.pth", "last.pth", "resume.pth", "resume.pth"]
    weights = torch.load(run / "models" / "last.pth", weights_only=True)  # the last epoch's, whole
    final = learn.model.state_dict()
    assert weights.keys() == final.keys() and all(torch.equal(weights[k], final[k].cpu()) for k in final)
    assert len(pd.read_csv(run / "history.csv")) == 2
