"""Labelled plots for the course: waveform and spectrogram with real axes and a dB colour bar."""

from __future__ import annotations

import numpy as np

from .spectrogram import SpectrogramParams, logmel

__all__ = ["plot_clip", "plot_examples"]


def plot_clip(y: np.ndarray, sr: int, params: SpectrogramParams | None = None, *, title: str | None = None,
              fig=None):
    """Waveform above, log-mel spectrogram below, with time (s), frequency (Hz) and dB axes.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float
        Mono audio.
    sr : int
        Sample rate in Hz.
    params : SpectrogramParams or None
        How the spectrogram is computed (the same settings the images use).
    title : str or None
        Figure title (e.g. the label and file name).
    fig : matplotlib.figure.Figure or None
        Figure to draw into; a new 10 x 6 inch one by default.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: the waveform (amplitude vs. seconds) and the spectrogram (mel-scaled frequency
        axis labelled in Hz vs. seconds) with a colour bar in dB relative to the clip's maximum.
    """
    import librosa.display
    import matplotlib.pyplot as plt

    params = params or SpectrogramParams()
    r = params.resolve(sr)
    if fig is None:
        fig = plt.figure(figsize=(10, 6))
    ax_wave, ax_spec = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    librosa.display.waveshow(y, sr=sr, ax=ax_wave, color="tab:blue")
    ax_wave.set(ylabel="amplitude", xlabel=None)
    ax_wave.label_outer()
    s_db = logmel(y, sr, params)
    img = librosa.display.specshow(s_db, sr=sr, hop_length=r["hop_length"], n_fft=r["n_fft"], x_axis="time",
                                   y_axis="mel", fmin=r["fmin"], fmax=r["fmax"], ax=ax_spec, cmap="magma",
                                   vmin=-params.top_db, vmax=0)
    ax_spec.set(xlabel="time (s)", ylabel="frequency (Hz, mel scale)")
    fig.colorbar(img, ax=[ax_wave, ax_spec], format="%+.0f dB", label="dB re max", location="right")
    if title:
        fig.suptitle(title)
    return fig


def plot_examples(table, params: SpectrogramParams | None = None, *, n_cols: int = 4, seed: int = 0,
                  labels=None):
    """A grid with one example spectrogram per label.

    Parameters
    ----------
    table : pandas.DataFrame
        Clip table (``path``, ``label``), e.g. from :func:`audiospec_utils.datasets.load_source`.
    params : SpectrogramParams or None
    n_cols : int
        Columns of the grid.
    seed : int
        Which clip of each label is shown.
    labels : sequence of str or None
        Labels to show (default: all, sorted).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per label with time (s) and mel frequency (Hz) axes; clips that fail to load
        show their error instead.
    """
    import librosa.display
    import matplotlib.pyplot as plt

    from .audio import load_audio
    from .exceptions import AudiospecError

    params = params or SpectrogramParams()
    labels = sorted(table.loc[table["label"] != "", "label"].unique()) if labels is None else list(labels)
    n_rows = max(1, -(-len(labels) // n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), squeeze=False,
                             constrained_layout=True)
    rng = np.random.default_rng(seed)
    img = None
    for ax, label in zip(axes.flat, labels):
        rows = table[table["label"] == label]
        row = rows.iloc[int(rng.integers(len(rows)))]
        try:
            y, sr = load_audio(row["path"], sr=params.sr)
            r = params.resolve(sr)
            img = librosa.display.specshow(logmel(y, sr, params), sr=sr, hop_length=r["hop_length"],
                                           n_fft=r["n_fft"], x_axis="time", y_axis="mel", fmin=r["fmin"],
                                           fmax=r["fmax"], ax=ax, cmap="magma", vmin=-params.top_db, vmax=0)
        except AudiospecError as err:
            ax.text(0.5, 0.5, str(err), ha="center", va="center", wrap=True, fontsize=7)
        ax.set_title(label, fontsize=10)
        ax.label_outer()
    for ax in list(axes.flat)[len(labels):]:
        ax.axis("off")
    if img is not None:
        fig.colorbar(img, ax=axes, format="%+.0f dB", shrink=0.6, label="dB re max")
    return fig
