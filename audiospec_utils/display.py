"""Labelled plots for the course: waveform and spectrogram (any kind) with real axes and a colour bar.

Every plot here shows the same array the images are made of (:func:`~audiospec_utils.spectrogram.spectrogram`
with the same :class:`~audiospec_utils.spectrogram.SpectrogramParams`), but with axes in seconds
and Hz, for people; the training images have no axes.
"""

from __future__ import annotations

import numpy as np

from .spectrogram import SpectrogramParams, spectrogram, spectrogram_image

__all__ = ["plot_clip", "plot_examples", "plot_kinds", "show_spectrogram"]

#: Axis label and colour-bar label of each kind.
_LABELS = {
    "logmel": ("frequency (Hz, mel scale)", "dB re max"),
    "stft": ("frequency (Hz)", "dB re max"),
    "mfcc": ("MFCC coefficient", "coefficient value"),
    "chroma": ("pitch class", "energy (1 = frame's max)"),
    "stack": ("mel band", None),
}


def show_spectrogram(S: np.ndarray, sr: int, params: SpectrogramParams | None = None, *, ax=None,
                     colorbar: bool = True, cmap: str = "magma"):
    """Draw a spectrogram of kind ``params.kind`` with labelled axes.

    Parameters
    ----------
    S : np.ndarray, float
        What :func:`~audiospec_utils.spectrogram.spectrogram` returned for `params`: shape
        ``(n_bins, n_frames)``, or ``(3, n_mels, n_frames)`` for ``"stack"``.
    sr : int
        Sample rate of the audio in Hz (for the time and frequency axes).
    params : SpectrogramParams or None
        The parameters `S` was computed with.
    ax : matplotlib.axes.Axes or None
        Where to draw; the current axes by default.
    colorbar : bool
        Add a colour bar (dB for ``"stft"``/``"logmel"``; none for ``"stack"``, whose colours
        are its three channels).
    cmap : str
        Colour map of the single-channel kinds.

    Returns
    -------
    matplotlib.collections.QuadMesh or matplotlib.image.AxesImage
        What was drawn. The x axis is time in s; the y axis is frequency in Hz on a mel scale
        (``"logmel"``), linear in Hz (``"stft"``), the coefficient index (``"mfcc"``), the pitch
        class C..B (``"chroma"``) or the mel band (``"stack"``, drawn as its RGB image).
    """
    import librosa.display
    import matplotlib.pyplot as plt

    params = params or SpectrogramParams()
    ax = ax or plt.gca()
    r = params.resolve(sr)
    hop, n_fft = r["hop_length"], r["n_fft"]
    common = dict(sr=sr, hop_length=hop, n_fft=n_fft, x_axis="time", ax=ax)
    ylabel, cbar_label = _LABELS[params.kind]
    if params.kind == "logmel":
        mappable = librosa.display.specshow(S, y_axis="mel", fmin=r["fmin"], fmax=r["fmax"], cmap=cmap,
                                            vmin=-params.top_db, vmax=0, **common)
    elif params.kind == "stft":
        freqs = np.arange(S.shape[0]) * sr / n_fft
        mappable = librosa.display.specshow(S, y_axis="linear", y_coords=freqs, cmap=cmap, vmin=-params.top_db,
                                            vmax=0, **common)
    elif params.kind == "mfcc":
        mappable = librosa.display.specshow(S, cmap=cmap, **common)
    elif params.kind == "chroma":
        mappable = librosa.display.specshow(S, y_axis="chroma", cmap=cmap, vmin=0, vmax=1, **common)
    else:  # stack: the RGB image itself, on real time and band axes
        pixels = spectrogram_image(S, _replace(params, width=None))
        seconds = (S.shape[-1] - 1) * hop / sr
        mappable = ax.imshow(pixels, aspect="auto", extent=[0, seconds, 0, S.shape[1]], interpolation="nearest")
        ax.set_title("R, G, B = " + ", ".join(params.channels), fontsize=9)
        colorbar = False
    ax.set(xlabel="time (s)", ylabel=ylabel)
    if colorbar and cbar_label:
        fmt = "%+.0f dB" if params.kind in ("logmel", "stft") else None
        ax.figure.colorbar(mappable, ax=ax, format=fmt, label=cbar_label)
    return mappable


def _replace(params: SpectrogramParams, **changes) -> SpectrogramParams:
    import dataclasses

    return dataclasses.replace(params, **changes)


def plot_clip(y: np.ndarray, sr: int, params: SpectrogramParams | None = None, *, title: str | None = None,
              fig=None):
    """Waveform above, spectrogram (of ``params.kind``) below, with time (s), frequency (Hz) and a colour bar.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float
        Mono audio.
    sr : int
        Sample rate in Hz.
    params : SpectrogramParams or None
        How the spectrogram is computed (the same settings the images use); its ``kind`` decides
        what is shown (log-mel by default).
    title : str or None
        Figure title (e.g. the label and file name).
    fig : matplotlib.figure.Figure or None
        Figure to draw into; a new 10 x 6 inch one by default.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: the waveform (amplitude vs. seconds) and the spectrogram (see
        :func:`show_spectrogram` for its axes) with a colour bar: dB relative to the clip's
        maximum for ``"logmel"`` and ``"stft"``, the coefficient value for ``"mfcc"``, 0..1 for
        ``"chroma"``, none for ``"stack"``.

    Raises
    ------
    ParameterError
        Parameters impossible at this `sr`.
    """
    import librosa.display
    import matplotlib.pyplot as plt

    params = params or SpectrogramParams()
    params.resolve(sr)
    if fig is None:
        fig = plt.figure(figsize=(10, 6))
    ax_wave, ax_spec = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    librosa.display.waveshow(y, sr=sr, ax=ax_wave, color="tab:blue")
    ax_wave.set(ylabel="amplitude", xlabel=None)
    ax_wave.label_outer()
    mappable = show_spectrogram(spectrogram(y, sr, params), sr, params, ax=ax_spec, colorbar=False)
    _, cbar_label = _LABELS[params.kind]
    if cbar_label:
        fmt = "%+.0f dB" if params.kind in ("logmel", "stft") else None
        fig.colorbar(mappable, ax=[ax_wave, ax_spec], format=fmt, label=cbar_label, location="right")
    if title:
        fig.suptitle(title)
    return fig


def plot_kinds(y: np.ndarray, sr: int, params: SpectrogramParams | None = None, *,
               kinds=("stft", "logmel", "mfcc", "chroma", "stack"), title: str | None = None):
    """The same clip as every kind of spectrogram, side by side.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float
        Mono audio.
    sr : int
        Sample rate in Hz.
    params : SpectrogramParams or None
        Shared settings; ``kind`` is replaced by each of `kinds` in turn.
    kinds : sequence of str
        Kinds to show, one panel each.
    title : str or None
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One row of panels with labelled axes (see :func:`show_spectrogram`) and colour bars.
    """
    import matplotlib.pyplot as plt

    params = params or SpectrogramParams()
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.4), squeeze=False,
                             constrained_layout=True)
    for ax, kind in zip(axes[0], kinds):
        p = _replace(params, kind=kind, cmap=None)
        show_spectrogram(spectrogram(y, sr, p), sr, p, ax=ax)
        ax.set_title(kind if kind != "stack" else "stack: " + ", ".join(p.channels), fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def plot_examples(table, params: SpectrogramParams | None = None, *, n_cols: int = 4, seed: int = 0,
                  labels=None):
    """A grid with one example spectrogram (of ``params.kind``) per label.

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
        One panel per label with time (s) and frequency axes (see :func:`show_spectrogram`) and
        one shared colour bar; clips that fail to load show their error instead.
    """
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
            y, sr = load_audio(row["path"], sr=params.target_sr)
            drawn = show_spectrogram(spectrogram(y, sr, params), sr, params, ax=ax, colorbar=False)
            img = drawn if params.kind != "mfcc" else None  # MFCC ranges differ per clip: no shared bar
        except AudiospecError as err:
            ax.text(0.5, 0.5, str(err), ha="center", va="center", wrap=True, fontsize=7)
        ax.set_title(label, fontsize=10)
        ax.label_outer()
    for ax in list(axes.flat)[len(labels):]:
        ax.axis("off")
    _, cbar_label = _LABELS[params.kind]
    if img is not None and cbar_label:
        fmt = "%+.0f dB" if params.kind in ("logmel", "stft") else None
        fig.colorbar(img, ax=axes, format=fmt, shrink=0.6, label=cbar_label)
    return fig
