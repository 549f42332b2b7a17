import json

import numpy as np
import pandas as pd
import pytest
import torch

from audiospec_utils.exceptions import DatasetError, ParameterError, WeightsUnavailableError
from audiospec_utils.learn import clip_predictions, load_imagenet_weights
from audiospec_utils.learn import spectrogram_dataloaders
from audiospec_utils.learn.train import train_classifier


def test_metrics_file_has_the_promised_keys(trained_run):
    run, metrics = trained_run
    saved = json.loads((run / "metrics.json").read_text())
    for key in ("accuracy", "error_rate", "map_at_3", "n_train", "n_valid", "classes", "epochs", "seconds",
                "valid_interval", "split", "crop", "recipe"):
        assert key in saved
    # the mini dataset's clips carry their recording (freesound_id): the split is by group
    assert saved["split"]["split_by"] == "group" and saved["split"]["n_valid"] == saved["n_valid"]
    assert not set(saved["split"]["valid_groups"]) & set(saved["split"]["train_groups"])
    lo, hi = saved["valid_interval"]["accuracy"]
    assert 0 <= lo <= saved["accuracy"] <= hi <= 1 and saved["valid_interval"]["n_groups"] >= 2
    split = pd.read_csv(run / "split.csv", keep_default_na=False)
    assert set(split["side"]) == {"train", "valid"} and (split["side"] == "valid").sum() == saved["n_valid"]
    assert saved["accuracy"] == pytest.approx(1 - saved["error_rate"])
    assert 0 <= saved["map_at_3"] <= 1 and saved["map_at_3"] >= saved["accuracy"]
    assert saved["n_valid"] == len(pd.read_csv(run / "valid_predictions.csv"))
    assert (run / "history.csv").is_file() and (run / "models" / "last.pth").is_file()


def test_exported_learner_predicts_and_keeps_no_data(trained_run):
    from fastai.learner import load_learner

    from audiospec_utils.infer.predict import predict_images

    run, metrics = trained_run
    learn = load_learner(run / "export.pkl")
    assert list(learn.dls.vocab) == metrics["classes"]
    assert all(dl.cache is None and len(dl.dataset) == 0 for dl in learn.dls.loaders)  # no images in the export
    assert learn.dls.config["height"] == 32 and learn.dls.config["length"] == metrics["crop"]["length"]
    valid = pd.read_csv(run / "valid_items.csv")
    probs = predict_images(learn, list(valid["image_path"].iloc[:2]))
    assert probs.shape == (2, len(metrics["classes"])) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert (run / "export.pkl").stat().st_size < 120e6  # the ResNet-34 weights, not the data


def test_dataloaders_batches_are_crops_in_time(mini_specs):
    dls = spectrogram_dataloaders(mini_specs, img_size=32, bs=8, crop_seconds=0.5)
    xb, yb = dls.one_batch()
    length = dls.config["length"]
    assert length == round(0.5 * dls.config["frames_per_second"])
    assert tuple(xb.shape) == (8, 3, 32, length) and xb.dtype == torch.float32 and not yb.dtype.is_floating_point
    assert set(dls.valid_table["clip_id"]).isdisjoint(set(dls.train_table["clip_id"]))
    xv, yv = dls.valid.one_batch()
    assert tuple(xv.shape[1:]) == (3, 32, length)
    # normalised with the training images' own statistics: about zero mean, unit spread, over an epoch's crops (32
    # here: |mean| at most 0.40 and std 0.98-1.09 over 40 seeds, where one batch of 8 reached 0.77: it failed once)
    x = torch.cat([b[0] for b in dls.train])
    assert len(x) >= 32
    assert abs(float(x.mean())) < 0.5 and 0.5 < float(x.std()) < 2


def test_pretrained_weights_from_a_local_file(mini_specs, tmp_path):
    import torch
    import torchvision

    from audiospec_utils.learn import create_learner

    torch.manual_seed(123)
    reference = torchvision.models.resnet34()
    path = tmp_path / "resnet34_imagenet.pth"
    torch.save(reference.state_dict(), path)
    dls = spectrogram_dataloaders(mini_specs, img_size=32, bs=8)
    learn = create_learner(dls, "resnet34", weights=path)
    assert torch.equal(learn.model[0][0].weight, reference.conv1.weight)  # the body starts from the file
    assert not learn.model[0][0].weight.requires_grad or learn.opt is None  # fastai freezes a pretrained body


def test_weights_file_of_another_architecture_is_refused(tmp_path):
    import torch
    import torchvision

    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(WeightsUnavailableError, match="does not hold resnet34 weights"):
        load_imagenet_weights("resnet34", path)
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(WeightsUnavailableError, match="not a PyTorch weights file"):
        load_imagenet_weights("resnet34", tmp_path / "junk.pth")


def test_unreachable_weights_server_names_the_ways_out(tmp_path, monkeypatch):
    import torch
    from torchvision.models import ResNet34_Weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    torch.hub.set_dir(str(tmp_path / "torch_home" / "hub"))
    # a port on this machine where nothing listens: the download fails as it does offline
    monkeypatch.setattr(ResNet34_Weights.DEFAULT.value, "url", "http://127.0.0.1:9/resnet34-b627a593.pth")
    with pytest.raises(WeightsUnavailableError) as err:
        load_imagenet_weights("resnet34")
    msg = str(err.value)
    assert "--weights FILE" in msg and "--no-pretrained" in msg and "resnet34-b627a593.pth" in msg


def test_clip_predictions_average_windows():
    table = pd.DataFrame({"clip_id": ["a", "a", "b"], "label": ["x", "x", "y"]})
    out = clip_predictions(np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8]]), table, ["x", "y"]).set_index("clip_id")
    assert out.loc["a", "x"] == pytest.approx(0.6) and out.loc["a", "pred"] == "x" and out.loc["b", "pred"] == "y"


def test_render_folder_with_one_label_is_refused(tmp_path):
    from audiospec_utils.features.render import render_spectrograms

    from helpers import tone, write_wav

    for i in range(3):
        write_wav(tmp_path / "src" / "only" / f"{i}.wav", tone(300 + i * 50, 0.3))
    render_spectrograms(tmp_path / "src", tmp_path / "specs", progress=False)
    with pytest.raises(DatasetError, match="only one label"):
        train_classifier(tmp_path / "specs", tmp_path / "run", epochs=1, pretrained=False)


def test_no_flips_or_rotations_only_spectrogram_augmentations(mini_specs):
    from audiospec_utils.learn import SpecAugment, TimeShift

    dls = spectrogram_dataloaders(mini_specs, img_size=32, bs=8, spec_augment=True, time_shift=0.5)
    names = [type(t).__name__ for dl in (dls.train, dls.valid) for t in dl.batch_tfm.augment]
    for banned in ("flip", "rotat", "dihedral", "warp", "zoom", "affine"):
        assert not any(banned in n.lower() for n in names), names
    assert {type(t) for t in dls.train.batch_tfm.augment} == {SpecAugment, TimeShift}
    assert dls.valid.batch_tfm.augment == []
    xv, _ = dls.valid.one_batch()
    xv2, _ = dls.valid.one_batch()
    assert torch.equal(xv, xv2)  # validation windows: fixed, never augmented
    plain = spectrogram_dataloaders(mini_specs, img_size=32, bs=8)  # the default: no augmentation
    assert plain.train.batch_tfm.augment == []


def test_spec_augment_masks_whole_bands_within_the_widths():
    import torch
    from fastai.vision.all import TensorImage

    from audiospec_utils.learn import SpecAugment

    torch.manual_seed(0)
    x = TensorImage(torch.ones(64, 3, 40, 50))
    out = SpecAugment(freq_masks=1, freq_width=0.2, time_masks=0)(x, split_idx=0)
    hidden = out[:, 0] == 0  # (bs, h, w)
    rows = hidden.all(dim=2)  # a masked frequency band covers the whole width
    assert torch.equal(hidden, rows[:, :, None].expand_as(hidden))
    assert rows.sum(1).max() <= 0.2 * 40 + 1 and rows.sum(1).float().mean() > 1
    out = SpecAugment(freq_masks=0, time_masks=2, time_width=0.1)(x, split_idx=0)
    cols = (out[:, 0] == 0).all(dim=1)
    assert cols.sum(1).max() <= 2 * (0.1 * 50 + 1) and cols.any()
    assert torch.equal(SpecAugment()(x, split_idx=1), x)  # validation: untouched


def test_time_shift_rolls_along_time_only():
    import torch
    from fastai.vision.all import TensorImage

    from audiospec_utils.learn import TimeShift

    torch.manual_seed(1)
    x = TensorImage(torch.rand(16, 3, 8, 20))
    out = TimeShift(0.25)(x, split_idx=0)
    shifted = 0
    for i in range(16):
        matches = [s for s in range(20) if torch.equal(out[i], torch.roll(x[i], s, dims=2))]
        assert len(matches) == 1 and (matches[0] <= 5 or matches[0] >= 15)  # |shift| <= 25% of 20 columns
        shifted += matches[0] != 0
    assert shifted >= 8


def test_verified_weight_samples_verified_clips_more_often(mini_specs):
    dls = spectrogram_dataloaders(mini_specs, img_size=32, bs=8, verified_weight=20.0)
    items = dls.train_table
    verified = items["manually_verified"].astype(int).to_numpy() == 1
    assert 0.2 < verified.mean() < 0.8
    drawn = np.concatenate([dls.train.get_idxs() for _ in range(20)])
    assert verified[drawn].mean() > 0.9
    with pytest.raises(ParameterError, match="verified_weight"):
        spectrogram_dataloaders(mini_specs, img_size=32, verified_weight=0)


def test_same_seed_repeats_a_cpu_run_exactly(mini_specs, tmp_path):
    runs = [train_classifier(mini_specs, tmp_path / f"r{i}", epochs=1, img_size=32, bs=16, pretrained=False,
                             seed=7, progress=False)[1] for i in range(2)]
    h = [pd.read_csv(tmp_path / f"r{i}" / "history.csv").drop(columns="time") for i in range(2)]
    pd.testing.assert_frame_equal(h[0], h[1])
    for key in ("accuracy", "map_at_3", "n_train", "n_valid"):
        assert runs[0][key] == runs[1][key]
    v = [pd.read_csv(tmp_path / f"r{i}" / "valid_predictions.csv") for i in range(2)]
    pd.testing.assert_frame_equal(v[0], v[1])
    other = train_classifier(mini_specs, tmp_path / "r3", epochs=1, img_size=32, bs=16, pretrained=False, seed=8,
                             progress=False)[1]
    assert pd.read_csv(tmp_path / "r3" / "history.csv")["train_loss"].iloc[0] != h[0]["train_loss"].iloc[0]
    assert other["n_valid"] > 0


def test_unfreeze_schedule_lr_find_mixup_and_settings_recorded(mini_specs, tmp_path):
    learn, m = train_classifier(mini_specs, tmp_path / "run", epochs=1, img_size=32, bs=16, pretrained=False,
                                schedule="unfreeze", freeze_epochs=1, unfrozen_lr=(1e-4, 1e-3), lr_find=True,
                                lr_find_iters=12, mixup=0.4, label_smoothing=0.1, verified_weight=2.0,
                                spec_augment=True, time_shift=0.5, progress=False)
    hist = pd.read_csv(tmp_path / "run" / "history.csv")
    assert hist["stage"].tolist() == ["frozen", "unfrozen"] and hist["epoch"].tolist() == [0, 1]
    assert (tmp_path / "run" / "lr_find.png").stat().st_size > 5000
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["lr_find"]["valley"] > 0 and saved["unfrozen_lr"] == [1e-4, 1e-3] and saved["lr"] == 1e-3
    for key, value in (("schedule", "unfreeze"), ("mixup", 0.4), ("label_smoothing", 0.1), ("verified_weight", 2.0),
                       ("spec_augment", True), ("time_shift", 0.5)):
        assert saved[key] == value
    # discriminative rates: the first layer group gets LO, the head HI
    lrs = [g["lr"] for g in learn.opt.hypers]
    assert len(lrs) >= 2 and lrs == sorted(lrs)
    assert not any(type(cb).__name__ == "MixUp" for cb in learn.cbs)  # not kept in the exported learner


def test_find_learning_rate_restores_weights(mini_specs, tmp_path):
    import torch

    from audiospec_utils.learn import create_learner
    from audiospec_utils.learn.train import find_learning_rate

    dls = spectrogram_dataloaders(mini_specs, img_size=32, bs=16)
    learn = create_learner(dls, "resnet18", pretrained=False, path=tmp_path)
    before = [p.detach().clone() for p in learn.model.parameters()]
    res = find_learning_rate(learn, num_it=12, show_plot=False, save_to=tmp_path / "lr.png")
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))
    assert 1e-7 <= res["valley"] <= 10 and len(res["lrs"]) == len(res["losses"]) > 5
    assert (tmp_path / "lr.png").is_file()
    with pytest.raises(ParameterError, match="num_it"):
        find_learning_rate(learn, num_it=3)


def test_interrupted_training_keeps_the_best_checkpoint_and_says_so(mini_specs, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "audiospec_utils", "-q", "train", str(mini_specs), "--out", str(run),
           "--img-size", "32", "--bs", "16", "--no-pretrained"]
    # Ctrl-C as in a terminal: the child starts with SIGINT's default disposition even if something in this
    # pytest process left it ignored (an ignored SIGINT is inherited across exec and the run could not stop)
    proc = subprocess.Popen(cmd + ["--epochs", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    best = run / "models" / "last.pth"
    deadline = time.time() + 240
    while time.time() < deadline and not best.is_file():
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "training interrupted" in err and str(best) in err and "Traceback" not in err
    assert "resumes the training at the next epoch" in err
    assert best.is_file() and not (run / "metrics.json").exists()
    saved = best.read_bytes()
    # other settings than the interrupted run's: refused (resuming needs the same), --restart starts over
    refused = subprocess.run(cmd + ["--epochs", "1"], capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "epochs 200 -> 1" in refused.stderr and "--restart" in refused.stderr
    again = subprocess.run(cmd + ["--epochs", "1", "--restart"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    kept = list((run / "models").glob("last_interrupted_*.pth"))
    assert len(kept) == 1 and kept[0].read_bytes() == saved
    assert (run / "metrics.json").is_file()


def test_dataloaders_take_a_given_split(mini_specs):
    from audiospec_utils.audio.splits import split_clips
    from audiospec_utils.learn.train import training_table

    images = training_table(mini_specs)
    split = split_clips(images, valid_pct=0.25, seed=3)
    dls = spectrogram_dataloaders(mini_specs, img_size=32, bs=8, split=split)
    assert set(dls.valid_table["clip_id"]) == set(split.valid_ids)
    assert set(dls.train_table["clip_id"]) == set(split.train_ids)
    assert len(dls.train_table) + dls.valid_table["image"].nunique() == len(images)


def test_test_fold_is_never_trained_or_validated_on(tmp_path):
    from audiospec_utils.features.render import render_spectrograms

    from helpers import tone, write_wav

    rows = []
    for i in range(24):
        label = "low" if i % 2 else "high"
        fold = str(1 + i % 3)
        name = f"{label}/{i}.wav"
        write_wav(tmp_path / "src" / name, tone((200 if label == "low" else 2000) + 10 * i, 0.4, sr=8000), sr=8000)
        rows.append({"fname": name, "label": label, "fold": fold, "group": f"rec{i // 2}"})
    pd.DataFrame(rows).to_csv(tmp_path / "src" / "clips.csv", index=False)
    render_spectrograms(tmp_path / "src" / "clips.csv", tmp_path / "specs", progress=False)
    learn, m = train_classifier(tmp_path / "specs", tmp_path / "run", epochs=1, img_size=16, bs=4, pretrained=False,
                                test_fold=3, valid_fold=2, progress=False)
    split = pd.read_csv(tmp_path / "run" / "split.csv", dtype=str, keep_default_na=False)
    assert set(split.loc[split["side"] == "test", "fold"]) == {"3"}
    assert set(split.loc[split["side"] == "valid", "fold"]) == {"2"}
    assert set(split.loc[split["side"] == "train", "fold"]) == {"1"}
    assert m["split"]["test_fold"] == "3" and m["split"]["split_by"] == "fold" and m["n_train"] == 8
    valid_items = pd.read_csv(tmp_path / "run" / "valid_items.csv", dtype=str)
    assert set(valid_items["fold"]) == {"2"}
    with pytest.raises(ParameterError, match="not a fold"):
        train_classifier(tmp_path / "specs", tmp_path / "run2", epochs=1, img_size=16, pretrained=False, test_fold=7)


def test_weights_file_from_the_environment(tmp_path, monkeypatch):
    import torchvision

    torch.manual_seed(5)
    reference = torchvision.models.resnet34()
    path = tmp_path / "resnet34-b627a593.pth"
    torch.save(reference.state_dict(), path)
    monkeypatch.setenv("AUDIOSPEC_WEIGHTS", str(path))
    state = load_imagenet_weights("resnet34")  # no weights= given: an attached file on an offline kernel
    assert torch.equal(state["conv1.weight"], reference.conv1.weight)
    monkeypatch.setenv("AUDIOSPEC_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(WeightsUnavailableError, match="missing.pth: weights file not found"):
        load_imagenet_weights("resnet34")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the ignored interrupt, on purpose
def test_a_ctrl_c_that_python_swallowed_still_stops_training_at_the_next_batch():
    # SIGINT landing inside a __del__ is printed as "Exception ignored" and lost; the guard remembers it
    import os
    import signal

    from audiospec_utils.learn.callbacks import InterruptGuard as _interrupt_guard

    found = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a program run from a terminal
    try:
        _swallowed_ctrl_c_is_raised_at_the_next_batch(_interrupt_guard)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # an ignored SIGINT (a background job) stays ignored
        guard = _interrupt_guard()
        guard.before_fit()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and not guard.requested
        guard.after_fit()
    finally:
        signal.signal(signal.SIGINT, found)


def _swallowed_ctrl_c_is_raised_at_the_next_batch(_interrupt_guard):
    import os
    import signal

    guard = _interrupt_guard()
    guard.before_fit()
    assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler

    class SignalledWhileCollected:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(100_000))  # the handler runs here, inside __del__

    obj = SignalledWhileCollected()
    del obj  # KeyboardInterrupt raised in __del__: Python ignores it
    assert guard.requested
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back
    with pytest.raises(KeyboardInterrupt):
        guard.before_batch()


def test_the_learners_optimizer_steps_as_fastais_adam():
    """adamw (torch's AdamW under fastai's names) makes the same updates as fastai's Adam, hyper-parameter
    changes included (fit_one_cycle moves lr and mom every batch); parameters without weight decay in
    fastai (BatchNorm, biases) are not in this model, so the two must agree to float rounding."""
    from fastai.optimizer import Adam

    from audiospec_utils.learn.estimator import adamw

    torch.manual_seed(0)
    start = [torch.randn(8, 5), torch.randn(3, 8)]
    grads = [[torch.randn_like(p) for p in start] for _ in range(6)]
    weights = {}
    for name, opt_func in (("fastai", Adam), ("adamw", adamw)):
        params = [p.clone().requires_grad_() for p in start]
        opt = opt_func([params], lr=3e-3)
        for i, step_grads in enumerate(grads):
            opt.set_hypers(lr=1e-3 * (i + 1), mom=0.95 - 0.02 * i)
            for p, g in zip(params, step_grads):
                p.grad = g.clone()
            opt.step()
            opt.zero_grad()
        weights[name] = [p.detach() for p in params]
        assert opt.hypers[0]["mom"] == pytest.approx(0.85) and opt.hypers[0]["sqr_mom"] == pytest.approx(0.99)
    moved = sum(float((w - s).abs().max()) for w, s in zip(weights["adamw"], start))
    assert moved > 1e-3  # the steps did something
    for a, b in zip(weights["fastai"], weights["adamw"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_cpu_bf16_is_used_only_where_the_cpu_has_the_instructions(tmp_path, monkeypatch):
    import torch

    from audiospec_utils.learn.config import cpu_computes_bf16

    with_bf16, without, other = tmp_path / "amd", tmp_path / "old", tmp_path / "arm"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    other.write_text("processor\t: 0\nFeatures\t: fp asimd\n")
    for var in ("AUDIOSPEC_CPU_BF16", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"):
        monkeypatch.delenv(var, raising=False)
    assert cpu_computes_bf16(str(with_bf16)) is True
    assert cpu_computes_bf16(str(without)) is False
    assert cpu_computes_bf16(str(other)) is False
    assert cpu_computes_bf16(str(tmp_path / "missing")) is False
    # PyTorch held to kernels without bf16 stands for a CPU without it (oneDNN's ISA names)
    for isa, expected in (("AVX2", False), ("avx512_core", False), ("AVX512_CORE_BF16", True),
                          ("AVX512_CORE_AMX", True), ("ALL", True)):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
        assert cpu_computes_bf16(str(with_bf16)) is expected, isa
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")  # read by torch at start: its answer is what counts
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert cpu_computes_bf16(str(with_bf16)) is False
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert cpu_computes_bf16(str(with_bf16)) is True
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    monkeypatch.setenv("AUDIOSPEC_CPU_BF16", "0")
    assert cpu_computes_bf16(str(with_bf16)) is False


def test_cpu_bfloat16_autocasts_training_batches_only():
    """Training forward passes in bf16, the loss on float32 predictions; validation in float32."""
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner

    from audiospec_utils.learn.callbacks import CpuBfloat16

    torch.manual_seed(0)
    items = [(torch.randn(3, 8, 8), torch.tensor(i % 2)) for i in range(16)]
    dls = DataLoaders(DataLoader(items, bs=4, shuffle=True), DataLoader(items, bs=8))
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 2))
    seen = []
    model[0].register_forward_hook(lambda m, i, o: seen.append((m.training, o.dtype)))
    pred_dtypes = []
    learn = Learner(dls, model, loss_func=lambda p, y: (pred_dtypes.append(p.dtype),
                                                        torch.nn.functional.cross_entropy(p, y))[1],
                    cbs=CpuBfloat16())
    learn.fit(1, 1e-3)
    assert {d for training, d in seen if training} == {torch.bfloat16}
    assert {d for training, d in seen if not training} == {torch.float32}
    assert set(pred_dtypes) == {torch.float32}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not torch.is_autocast_enabled("cpu")  # nothing left switched on


def test_create_learner_adds_cpu_bf16_only_when_asked_and_supported(mini_specs, monkeypatch):
    from audiospec_utils.learn import estimator as learner_module
    from audiospec_utils.learn.callbacks import CpuBfloat16

    dls = spectrogram_dataloaders(mini_specs, img_size=32, bs=8, crop_seconds=1.0)
    for asked, supported, expected in ((True, True, True), (True, False, False), (False, True, False)):
        monkeypatch.setattr(learner_module, "cpu_computes_bf16", lambda: supported)
        learn = learner_module.create_learner(dls, "resnet18", pretrained=False, cpu_bf16=asked)
        assert any(isinstance(cb, CpuBfloat16) for cb in learn.cbs) is expected, (asked, supported)


def test_quick_trains_in_bf16_where_the_cpu_has_it_and_validates_in_float32(mini_specs, tmp_path, monkeypatch):
    from audiospec_utils.learn.config import cpu_computes_bf16

    monkeypatch.delenv("AUDIOSPEC_CPU_BF16", raising=False)  # the suite's float32 (conftest) lifted
    if not cpu_computes_bf16():
        pytest.skip("this CPU has no bf16 instructions (avx512_bf16 or amx_bf16): quick trains in float32")
    learn, m = train_classifier(mini_specs, tmp_path / "run", epochs=2, img_size=32, bs=16, pretrained=False,
                                crop_seconds=1.0, progress=False)
    assert m["recipe"] == "quick" and m["cpu_bf16"] is True
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["cpu_bf16"] is True
    preds, _ = learn.get_preds(ds_idx=1)
    xb, _ = learn.dls.valid.one_batch()
    with torch.no_grad():
        direct = torch.softmax(learn.model.eval()(xb), dim=1)  # float32, no autocast
    assert preds.dtype == torch.float32
    torch.testing.assert_close(preds[:len(direct)], direct, rtol=1e-5, atol=1e-6)
