"""Figures of maps: one clip's spectrogram with its map over it, and the mean map of each label.

The maps come from :mod:`audiospec_utils.explain.explanation` (:class:`~audiospec_utils.explain.explanation.Explanation`,
:func:`~audiospec_utils.explain.explanation.explain_validation`); matplotlib and librosa are imported only when a
figure is drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_explanation", "plot_mean_maps"]


def plot_explanation(expl, ax=None, *, alpha: float = 0.5, cmap: str = "jet", colorbar: bool = True):
    """The clip's spectrogram in grey with the map over it in colour.

    Parameters
    ----------
    expl : audiospec_utils.explain.explanation.Explanation
        Its ``spectrogram``, ``cam``, ``params``, ``sr``, ``file``, ``label``, ``probability``, ``method``.
    ax : matplotlib.axes.Axes or None
        Where to draw; default a new figure (10 x 4 inches).
    alpha : float
        Opacity of the map (0: the spectrogram alone).
    cmap : str
        Colour map of the map (0 transparent-looking blue, 1 red with ``"jet"``).
    colorbar : bool
        Add a colour bar for the map's values (0 to 1).

    Returns
    -------
    matplotlib.axes.Axes
        Time in seconds on x, frequency in Hz on y (mel-spaced for a log-mel), the title naming the
        file, the label, its probability and the method.
    """
    import librosa.display
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4), constrained_layout=True)
    p = expl.params
    r = p.resolve(expl.sr)
    common = dict(sr=expl.sr, hop_length=r["hop_length"], n_fft=r["n_fft"], x_axis="time", ax=ax)
    if p.kind == "stft":
        common.update(y_axis="linear")
    else:
        common.update(y_axis="mel", fmin=r["fmin"], fmax=r["fmax"])
    librosa.display.specshow(expl.spectrogram, cmap="gray", **common)
    mesh = librosa.display.specshow(expl.cam, cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0, **common)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=f"{expl.method} map (0-1)", pad=0.01)
    empty = "" if float(expl.cam.max(initial=0.0)) > 0 else "; map all 0: nothing speaks for the label"
    ax.set(xlabel="time (s)", ylabel="frequency (Hz)",
           title=f"{Path(expl.file).name}: {expl.label} (p = {expl.probability:.2f}), {expl.method}{empty}")
    return ax


def plot_mean_maps(means: dict, freqs: np.ndarray, counts: dict):
    """One panel per label: its mean map over relative time, with the frequency axis in Hz.

    Parameters
    ----------
    means : dict of str -> np.ndarray, shape (n_rows, n_times)
        The mean map of each label (:func:`audiospec_utils.explain.maps.mean_map`), in panel order.
    freqs : np.ndarray, shape (n_rows,)
        Centre frequency of each row in Hz, increasing.
    counts : dict of str -> int
        Clips behind each label's mean (shown in its title).

    Returns
    -------
    matplotlib.figure.Figure
        Up to 4 panels a row, time as a fraction of the clip on x, 5 frequency ticks on y.
    """
    import matplotlib.pyplot as plt

    n = len(means)
    cols = min(4, max(1, n))
    nrows = max(1, -(-n // cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(3.4 * cols, 2.6 * nrows), squeeze=False, constrained_layout=True)
    ticks = np.linspace(0, len(freqs) - 1, 5)
    for ax, (lab, m) in zip(axes.flat, means.items()):
        ax.imshow(m, origin="lower", aspect="auto", cmap="jet", vmin=0, vmax=max(float(m.max()), 1e-9),
                  extent=(0, 1, -0.5, len(freqs) - 0.5))
        ax.set_yticks(ticks, [f"{np.interp(t, np.arange(len(freqs)), freqs):.0f}" for t in ticks], fontsize=7)
        ax.set_title(f"{lab} ({counts[lab]} clips)", fontsize=9)
        ax.set_xlabel("time (fraction of the clip)", fontsize=8)
        ax.set_ylabel("frequency (Hz)", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("Mean map per label (correctly predicted validation clips)")
    return fig
