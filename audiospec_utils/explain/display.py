"""Labelled plots for the course: waveform and spectrogram (any kind) with real axes and a colour bar.

Every plot here shows the same array the images are made of (:func:`~audiospec_utils.features.spectrogram`
with the same :class:`~audiospec_utils.features.SpectrogramParams`), but with axes in seconds
and Hz, for people; the training images have no axes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..audio.decode import load_audio
from ..exceptions import AudiospecError
from ..features.images import spectrogram_image
from ..features.kinds import image_frequencies, spectrogram
from ..features.params import SpectrogramParams

__all__ = ["plot_clip", "plot_examples", "plot_kinds", "show_spectrogram", "show_image", "plot_crop_windows"]

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
        What :func:`~audiospec_utils.features.spectrogram` returned for `params`: shape
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
        Clip table (``path``, ``label``), e.g. from :func:`audiospec_utils.audio.datasets.load_source`.
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


def show_image(pixels: np.ndarray, sr: int, params: SpectrogramParams | None = None, *, ax=None,
               start_frame: int = 0, cmap: str = "magma", n_ticks: int = 5):
    """Draw a rendered image (the pixels the network sees) with time (s) and frequency (Hz) axes.

    Parameters
    ----------
    pixels : np.ndarray, uint8 or float
        ``(height, width)`` grey or ``(height, width, 3)`` colour, low frequencies at the bottom
        (as :func:`~audiospec_utils.features.render_clip` and the render folders store them),
        possibly resized in height.
    sr : int
        Sample rate of the rendered audio in Hz.
    params : SpectrogramParams or None
        The render's parameters (for the hop length and the frequencies of the rows). A render
        with a fixed ``width`` has no time scale: its x axis is then in pixels.
    ax : matplotlib.axes.Axes or None
    start_frame : int
        Frame of the clip at the image's first column (for a crop or a window).
    cmap : str
        Colour map of a grey image.
    n_ticks : int
        Frequency ticks.

    Returns
    -------
    matplotlib.image.AxesImage
    """
    import matplotlib.pyplot as plt

    params = params or SpectrogramParams()
    ax = ax or plt.gca()
    pixels = np.asarray(pixels)
    height, width = pixels.shape[:2]
    if params.width is None:
        fps = sr / params.resolve(sr)["hop_length"]
        x0, x1, xlabel = start_frame / fps, (start_frame + width) / fps, "time (s)"
    else:
        x0, x1, xlabel = 0, width, "pixel column (whole clip squished: no time scale)"
    img = ax.imshow(pixels, aspect="auto", cmap=cmap if pixels.ndim == 2 else None, extent=[x0, x1, 0, height],
                    interpolation="nearest", origin="upper")
    if params.kind in ("logmel", "stft", "stack"):
        hz = image_frequencies(params if params.kind != "stack" else _replace(params, kind="logmel"), sr, height)
        rows = np.linspace(0, height - 1, n_ticks).round().astype(int)
        ax.set_yticks(rows + 0.5, [f"{hz[r]:.0f}" for r in rows])
        ax.set_ylabel("frequency (Hz)")
    else:
        ax.set_ylabel("row")
    ax.set_xlabel(xlabel)
    return img


def plot_crop_windows(pixels: np.ndarray, sr: int, params: SpectrogramParams, crop_seconds: float, *,
                      overlap: float = 0.5, seed: int = 0, title: str | None = None):
    """One clip's image with a random training crop (top) and the validation windows (bottom) drawn on it.

    Parameters
    ----------
    pixels : np.ndarray
        The clip's full image (one column per frame), low frequencies at the bottom.
    sr : int
        Sample rate of the rendered audio in Hz.
    params : SpectrogramParams
        The render's parameters (one column per frame: ``width`` None).
    crop_seconds : float
        Crop and window length in seconds.
    overlap : float
        Overlap of consecutive windows (0.5, as in the DataLoaders).
    seed : int
        Seed of the random crop.
    title : str or None

    Returns
    -------
    matplotlib.figure.Figure
        Two panels with time (s) and frequency (Hz) axes. A clip shorter than the crop is shown
        repeated, as the DataLoaders repeat it.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..learn.crops import frames_per_second, window_starts

    pixels = np.asarray(pixels)
    fps = frames_per_second(params, sr)
    length = max(8, int(round(crop_seconds * fps)))
    width = pixels.shape[1]
    shown = np.concatenate([pixels] * -(-length // width), axis=1) if width < length else pixels
    rng = np.random.default_rng(seed)
    span = width - length + 1 if width >= length else width
    start = int(rng.integers(span))
    starts = window_starts(width, length, overlap)
    fig, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True, constrained_layout=True)
    h = pixels.shape[0]
    for ax in axes:
        show_image(shown, sr, params, ax=ax)
        if width < length:
            ax.axvline(width / fps, color="white", ls=":", lw=1)
    axes[0].add_patch(Rectangle((start / fps, 0), length / fps, h, fill=False, ec="cyan", lw=2.5))
    axes[0].set_title(f"training: a random crop of {crop_seconds:g} s ({length} frames), anew every epoch", fontsize=9)
    colours = plt.cm.tab10(np.arange(len(starts)) % 10)
    for k, (s, c) in enumerate(zip(starts, colours)):
        y0 = h * (0.05 + 0.9 * (k % 2) * 0.5)
        axes[1].add_patch(Rectangle((s / fps, y0), length / fps, h * 0.45, fill=False, ec=c, lw=2))
    axes[1].set_title(f"validation and prediction: {len(starts)} window(s) overlapping by {overlap:.0%}, "
                      f"their probabilities averaged", fontsize=9)
    axes[0].set_xlabel(None)
    if title:
        fig.suptitle(title)
    return fig
