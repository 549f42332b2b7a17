import json

import numpy as np
import pandas as pd
import pytest

from audiospec_utils.exceptions import DatasetError, WeightsUnavailableError
from audiospec_utils.train import (clip_predictions, load_imagenet_weights, spectrogram_dataloaders, split_by_clip,
                                   train_classifier)


def test_split_by_clip_keeps_windows_together_and_stratifies():
    df = pd.DataFrame({"clip_id": [f"c{i // 3}" for i in range(60)], "label": ["a"] * 30 + ["b"] * 30})
    idx = split_by_clip(df, 0.2, seed=0)
    valid = df.iloc[idx]
    assert set(valid["clip_id"]).isdisjoint(set(df.drop(index=idx)["clip_id"]))
    assert valid.groupby("label")["clip_id"].nunique().tolist() == [2, 2]
    assert np.array_equal(idx, split_by_clip(df, 0.2, seed=0))


def test_metrics_file_has_the_promised_keys(trained_run):
    run, metrics = trained_run
    saved = json.loads((run / "metrics.json").read_text())
    for key in ("accuracy", "error_rate", "map_at_3", "n_train", "n_valid", "classes", "epochs", "seconds"):
        assert key in saved
    assert saved["accuracy"] == pytest.approx(1 - saved["error_rate"])
    assert 0 <= saved["map_at_3"] <= 1 and saved["map_at_3"] >= saved["accuracy"]
    assert saved["n_valid"] == len(pd.read_csv(run / "valid_predictions.csv"))
    assert (run / "history.csv").is_file() and (run / "models" / "best.pth").is_file()


def test_exported_learner_predicts(trained_run):
    from fastai.learner import load_learner

    run, metrics = trained_run
    learn = load_learner(run / "export.pkl")
    assert list(learn.dls.vocab) == metrics["classes"]
    valid = pd.read_csv(run / "valid_items.csv")
    pred, _, probs = learn.predict(valid["image_path"].iloc[0])
    assert pred in metrics["classes"] and probs.sum().item() == pytest.approx(1, abs=1e-4)


def test_dataloaders_batches(mini_specs):
    dls = spectrogram_dataloaders(mini_specs, img_size=32, bs=8)
    xb, yb = dls.one_batch()
    assert tuple(xb.shape) == (8, 3, 32, 32) and yb.dtype.is_floating_point is False
    assert set(dls.valid_table["clip_id"]).isdisjoint(set(dls.train.items["clip_id"]))


def test_pretrained_weights_from_a_local_file(mini_specs, tmp_path):
    import torch
    import torchvision

    from audiospec_utils.train import create_learner

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
    from audiospec_utils.render import render_spectrograms

    from helpers import tone, write_wav

    for i in range(3):
        write_wav(tmp_path / "src" / "only" / f"{i}.wav", tone(300 + i * 50, 0.3))
    render_spectrograms(tmp_path / "src", tmp_path / "specs", progress=False)
    with pytest.raises(DatasetError, match="only one label"):
        train_classifier(tmp_path / "specs", tmp_path / "run", epochs=1, pretrained=False)
