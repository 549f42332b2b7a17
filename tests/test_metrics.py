import numpy as np
import pytest

from audiospec_utils.exceptions import ParameterError
from audiospec_utils.metrics import map_at_3, map_at_k, top_k_labels


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
