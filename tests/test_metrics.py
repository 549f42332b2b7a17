import numpy as np
import pytest

from audiospec_utils.exceptions import ParameterError
from audiospec_utils.learn.metrics import grouped_bootstrap_interval, map_at_3, map_at_k
from audiospec_utils.ranking import top_k_labels, top_labels


def test_hand_worked_examples():
    scores = [[0.5, 0.3, 0.15, 0.05]] * 4  # ranking: 0, 1, 2, 3
    # true labels at rank 1, 2, 3 and beyond 3 -> 1, 1/2, 1/3, 0
    assert map_at_k([0, 1, 2, 3], scores, k=3) == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)
    assert map_at_k([1], [[0.1, 0.9]], k=3) == 1.0
    assert map_at_k([3], [[0.5, 0.3, 0.15, 0.05]], k=1) == 0.0


def test_ranked_indices_input():
    ranked = np.array([[2, 0, 1], [1, 2, 0]])
    assert map_at_k([0, 0], ranked, k=3) == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_top_k_ties_broken_by_lower_index():
    assert top_k_labels([[0.2, 0.4, 0.4]], k=2).tolist() == [[1, 2]]


def test_top_labels_is_the_one_top_k_of_both_backends():
    from audiospec_utils.infer.onnx_predict import OnnxClassifier
    from audiospec_utils.infer.predict import top_labels as predict_top_labels

    assert predict_top_labels is top_labels  # written once, in ranking
    onnx = object.__new__(OnnxClassifier)  # its top-k without a model file: only the labels are read
    onnx.labels = ["a", "b", "c"]
    assert onnx.top(np.array([0.2, 0.4, 0.4]), 2) == top_labels(np.array([0.2, 0.4, 0.4]), ["a", "b", "c"], 2)
    with pytest.raises(ParameterError, match="k must be"):
        onnx.top(np.array([0.2, 0.4, 0.4]), 0)
    assert top_labels(np.array([0.2, 0.4, 0.4]), ["a", "b", "c"], 2) == [
        {"label": "b", "probability": pytest.approx(0.4)}, {"label": "c", "probability": pytest.approx(0.4)}]
    assert [t["label"] for t in top_labels([0.1, 0.9], ["x", "y"], 5)] == ["y", "x"]  # at most n_classes
    with pytest.raises(ParameterError, match="k must be"):
        top_labels([0.1, 0.9], ["x", "y"], 0)
    with pytest.raises(ParameterError, match="shape"):
        top_labels([[0.1, 0.9]], ["x", "y"], 1)


def test_bootstrap_hides_only_scipys_degenerate_data_warning(monkeypatch):
    """The interval's NaN bounds come without scipy's DegenerateDataWarning; any other warning is seen."""
    import warnings

    import scipy.stats
    from scipy.stats import DegenerateDataWarning

    real = scipy.stats.bootstrap

    def noisy(*args, **kwargs):
        warnings.warn("degenerate", DegenerateDataWarning)
        warnings.warn("something else", UserWarning)
        return real(*args, **kwargs)

    monkeypatch.setattr(scipy.stats, "bootstrap", noisy)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lo, hi = grouped_bootstrap_interval([1, 0, 1, 1, 0, 1], ["a", "a", "b", "c", "d", "d"])
    assert 0 <= lo <= hi <= 1
    assert [str(w.message) for w in seen] == ["something else"]


def test_fastai_metric_agrees_with_numpy():
    import torch

    g = torch.Generator().manual_seed(0)
    preds, targs = torch.rand(64, 7, generator=g), torch.randint(0, 7, (64,), generator=g)
    assert float(map_at_3(preds, targs)) == pytest.approx(map_at_k(targs.numpy(), preds.numpy(), 3), abs=1e-6)


def test_bad_shapes():
    with pytest.raises(ParameterError):
        map_at_k([0, 1], [[0.1, 0.9]])
    with pytest.raises(ParameterError):
        map_at_k([0], [[0.1, 0.9]], k=0)


def test_kaggle_style_submission_rows():
    # FSDKaggle2018 / Kaggle "Freesound General-Purpose Audio Tagging Challenge": three labels per
    # clip, best first; the true label earns 1, 1/2, 1/3 by rank, 0 when absent.
    vocab = ["Bark", "Cello", "Gong", "Meow"]
    rows = [("Bark Cello Gong", "Bark"), ("Bark Cello Gong", "Gong"), ("Cello Gong Bark", "Meow"),
            ("Meow Bark Cello", "Bark")]
    ranked = np.array([[vocab.index(x) for x in pred.split()] for pred, _ in rows])
    truth = [vocab.index(t) for _, t in rows]
    assert map_at_k(truth, ranked, k=3) == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    # the same from probabilities; a 4th-ranked true label scores nothing
    probs = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])
    assert map_at_k([3, 0], probs, k=3) == pytest.approx((0 + 0) / 2)
    assert map_at_k([3, 0], probs, k=4) == pytest.approx((1 / 4 + 1 / 4) / 2)
