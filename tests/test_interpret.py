import json

import numpy as np
import pytest

from audiospec_utils.interpret import confusion_table, interpret_run, most_confused, per_class_report


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
