"""The course's teaching helpers: paired comparisons of experiments, labelled image plots, a t-SNE for 41 labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("agg")

import numpy as np
import pandas as pd
import pytest

from audiospec_utils.assess.experiments import experiment_table, paired_difference, verdict
from audiospec_utils.exceptions import ParameterError
from audiospec_utils.explain.display import plot_crop_windows, show_image
from audiospec_utils.explain.interpret import plot_tsne, tsne_style
from audiospec_utils.features import SpectrogramParams, image_frequencies


def _run(correct, ids=None):
    ids = ids or [f"c{i}" for i in range(len(correct))]
    c = pd.Series(np.asarray(correct, float), index=ids)
    return {"accuracy": c.mean(), "low": 0.0, "high": 1.0, "map_at_3": c.mean(), "n_valid": len(c), "seconds": 1.0,
            "correct": c}


def test_paired_difference_is_clip_by_clip_and_its_interval_excludes_zero_only_when_it_should():
    a = _run([0] * 40 + [1] * 60)
    b = _run([1] * 40 + [1] * 60)          # b right on 40 more clips, never worse
    d, low, high = paired_difference(a, b)
    assert d == pytest.approx(0.4) and 0 < low <= d <= high
    assert "excludes 0: b did better" in verdict({"a": a, "b": b}, "a", "b")
    same = _run([1, 0] * 50)
    shuffled = _run([0, 1] * 50)            # same accuracy, different clips: the mean difference is 0
    d, low, high = paired_difference(same, shuffled)
    assert d == 0 and low < 0 < high
    assert "cannot tell them apart" in verdict({"x": same, "y": shuffled}, "x", "y")


def test_paired_difference_refuses_different_clips():
    with pytest.raises(ParameterError, match="different clips"):
        paired_difference(_run([1, 0]), _run([1, 0], ids=["x", "y"]))


def test_experiment_table_has_one_row_per_variant_with_its_interval():
    t = experiment_table({"a": _run([1, 0, 1, 1]), "b": _run([0, 0, 1, 1])})
    assert list(t.index) == ["a", "b"] and t.loc["a", "accuracy"] == 0.75 and t.loc["b", "95% interval"] == "0.00-1.00"


def test_image_frequencies_span_the_mel_range_bottom_row_first():
    p = SpectrogramParams()
    hz = image_frequencies(p, 22050, 64)
    assert hz.shape == (64,) and np.all(np.diff(hz) > 0)
    assert 20 < hz[0] < 200 and 8000 < hz[-1] <= 11025
    lin = image_frequencies(SpectrogramParams(kind="stft", n_fft=512), 16000, 257)
    assert lin[0] == pytest.approx(0) and lin[-1] == pytest.approx(8000)


def test_show_image_puts_time_in_seconds_and_frequency_in_hz():
    import matplotlib.pyplot as plt

    p = SpectrogramParams(n_fft=1024, hop_length=256, n_mels=32)
    fig, ax = plt.subplots()
    show_image(np.zeros((32, 172), np.uint8), 22050, p, ax=ax, start_frame=86)
    x0, x1 = ax.get_xlim()
    assert x0 == pytest.approx(86 * 256 / 22050) and x1 == pytest.approx(258 * 256 / 22050)
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "frequency (Hz)"
    ticks = [float(t.get_text()) for t in ax.get_yticklabels()]
    assert ticks == sorted(ticks) and ticks[0] < 200 < 5000 < ticks[-1]
    plt.close(fig)


def test_plot_crop_windows_draws_one_crop_and_every_window():
    import matplotlib.pyplot as plt

    p = SpectrogramParams(n_fft=1024, hop_length=256, n_mels=32)
    fig = plot_crop_windows(np.zeros((32, 300), np.uint8), 22050, p, 1.0)   # 86-frame crops, 300 frames
    top, bottom = fig.axes[:2]
    assert len(top.patches) == 1
    assert len(bottom.patches) == 6    # starts 0, 43, 86, 129, 172, 214
    plt.close(fig)


def test_tsne_gives_41_labels_41_distinct_styles_and_names_them_all():
    import matplotlib.pyplot as plt

    labels = [f"label_{i:02d}" for i in range(41)]
    style = tsne_style(labels)
    assert len(set(style.values())) == 41
    rng = np.random.default_rng(0)
    feats = np.repeat(rng.normal(size=(41, 8)) * 10, 3, axis=0) + rng.normal(size=(123, 8))
    fig = plot_tsne(feats, np.repeat(labels, 3))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels
    assert {t.get_text() for t in ax.texts} == set(labels)      # each label written at its centre
    plt.close(fig)
