import json

import numpy as np
import pytest

from audiospec_utils.explain.interpret import confusion_table, interpret_run, most_confused, per_class_report


def test_interpret_run_writes_every_figure(trained_run):
    run, metrics = trained_run
    res = interpret_run(run, k=4)
    for name in ("confusion_matrix", "top_losses", "tsne_embeddings", "tsne_probabilities", "per_class_f1"):
        path = run / f"{name}.png"
        assert path.is_file() and path.stat().st_size > 5000
    assert res["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert json.loads((run / "interpretation.json").read_text())["n_valid_clips"] == metrics["n_valid"]
    assert (run / "per_class.csv").is_file()


def test_confusion_table_rows_sum_to_one():
    cm = confusion_table([0, 0, 1, 2], [0, 1, 1, 1], ["a", "b", "c"])
    assert cm.loc["a", "a"] == 0.5 and cm.loc["c", "b"] == 1.0
    np.testing.assert_allclose(cm.sum(axis=1), 1.0)


def test_most_confused_and_report():
    y_true, y_pred = [0, 0, 0, 1, 2, 2], [1, 1, 0, 1, 2, 0]
    mc = most_confused(y_true, y_pred, ["a", "b", "c"])
    assert mc.iloc[0].tolist() == ["a", "b", 2]
    rep = per_class_report(y_true, y_pred, ["a", "b", "c"])
    assert rep.index[0] == "a" and rep.loc["b", "recall"] == 1.0 and rep.loc["a", "support"] == 3


def test_a_moved_render_folder_is_found_with_spec_dir(trained_run, mini_specs, tmp_path, capsys):
    import shutil

    import pandas as pd

    from audiospec_utils.cli import main
    from audiospec_utils.exceptions import DatasetError

    run, metrics = trained_run
    moved_run, moved_specs = tmp_path / "run", tmp_path / "elsewhere" / "specs"
    shutil.copytree(run, moved_run)
    shutil.copytree(mini_specs, moved_specs)
    items = pd.read_csv(moved_run / "valid_items.csv", keep_default_na=False)
    items["image_path"] = [str(tmp_path / "gone" / rel) for rel in items["image"]]  # where it was rendered
    items.to_csv(moved_run / "valid_items.csv", index=False)

    n = items["image"].nunique()
    with pytest.raises(DatasetError, match=rf"{n} of {n} validation image\(s\) missing.*--spec-dir"):
        interpret_run(moved_run)
    res = interpret_run(moved_run, k=2, spec_dir=moved_specs)
    assert res["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    with pytest.raises(DatasetError, match="no such render folder"):
        interpret_run(moved_run, spec_dir=tmp_path / "nowhere")

    assert main(["interpret", str(moved_run)]) == 2
    assert "--spec-dir NEW_PLACE" in capsys.readouterr().err
    assert main(["interpret", str(moved_run), "--spec-dir", str(moved_specs), "--top-losses", "2"]) == 0
    assert "validation accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["identical", "nan"])
def test_tsne_of_a_collapsed_or_diverged_model_says_so_instead_of_crashing(case):
    # a barely trained model gives every clip the same probabilities: scikit-learn's PCA
    # initialisation then divides by zero and Barnes-Hut t-SNE crashed the kernel (seen in JupyterLab)
    import matplotlib.pyplot as plt

    from audiospec_utils.explain.interpret import plot_tsne

    features = np.tile(np.float32([0.1, 0.2, 0.7]), (48, 1))
    if case == "nan":
        features[3, 1] = np.nan
    fig = plot_tsne(features, ["a", "b"] * 24)
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert ("distinct points" in text) if case == "identical" else ("not finite" in text)
    assert not fig.axes[0].collections  # no scatter drawn
    plt.close(fig)


def test_tsne_draws_one_point_per_row():
    import matplotlib.pyplot as plt

    from audiospec_utils.explain.interpret import plot_tsne

    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (20, 8)), rng.normal(5, 1, (20, 8))]).astype(np.float32)
    fig = plot_tsne(features, ["a"] * 20 + ["b"] * 20)
    offsets = [len(c.get_offsets()) for c in fig.axes[0].collections]  # one scatter per label
    assert offsets == [20, 20] and not fig.axes[0].texts  # two labels: colours suffice, no names written
    plt.close(fig)
