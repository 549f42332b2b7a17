"""An interactive spectrogram explorer for the course (ipywidgets).

Pick a label and a clip, listen to it, and see its waveform and spectrogram change as you move the
sliders (``n_fft``, ``hop_length``, ``n_mels``, ``fmax (Hz)``, ``top_db``) or switch the kind::

    from audiospec_utils.course.explorer import explorer
    explorer(table, cfg.params)          # the last line of a notebook cell

The picture is a PNG inside a ``widgets.Image``, redrawn when a control changes (on release of a
slider), so it changes in the page's DOM. The widget also exposes its state for tests and curious
learners: ``.params`` (the current :class:`~audiospec_utils.features.SpectrogramParams`),
``.spectrogram`` (the current array), ``.y``/``.sr`` (the clip), ``.sliders`` (by name).

Without a live widget frontend (a notebook rendered as HTML or on GitHub, JupyterLab without
ipywidgets, ``static=True`` or the environment variable ``AUDIOSPEC_STATIC_WIDGETS=1``) a static
figure with the default parameters is shown instead, with a sentence saying that the sliders need a
live Jupyter with ipywidgets.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import os

from ..audio.decode import load_audio
from ..exceptions import AudiospecError, ParameterError
from ..explain.display import plot_clip
from ..features.kinds import spectrogram
from ..features.params import KINDS, SpectrogramParams

__all__ = ["explorer", "SpectrogramExplorer", "StaticExplorer", "STATIC_NOTE"]

#: What a static render says in place of the sliders.
STATIC_NOTE = ("This is a static picture with the default parameters: the label/clip menus and the n_fft, "
               "hop_length, n_mels, fmax and top_db sliders need a live Jupyter (JupyterLab or Notebook) "
               "with ipywidgets.")

N_FFT_CHOICES = (256, 512, 1024, 2048, 4096, 8192)
HOP_CHOICES = (32, 64, 128, 256, 512, 1024, 2048)


def _figure_png(y, sr, params, title, figsize=(9, 5), dpi=72) -> bytes:
    """plot_clip into a pyplot-free figure, as PNG bytes (nothing is left open)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    plot_clip(y, sr, params, title=title, fig=fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _fallback_html(png: bytes, note: str = STATIC_NOTE) -> str:
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<div><img src="{src}" alt="waveform and spectrogram"/><p><em>{html.escape(note)}</em></p></div>'


def _clip_table(table):
    for col in ("path", "label"):
        if col not in table.columns:
            raise ParameterError(f"table must have a {col!r} column (a clip table from audiospec_utils.audio.datasets), "
                                 f"got columns {list(table.columns)}")
    table = table[table["label"].astype(str) != ""]
    if not len(table):
        raise ParameterError("table has no labelled clip to explore")
    return table


def _names(rows) -> list[tuple[str, str]]:
    col = "fname" if "fname" in rows.columns else "path"
    return [(os.path.basename(str(name)), str(path)) for name, path in zip(rows[col], rows["path"])]


class StaticExplorer:
    """What :func:`explorer` shows without a widget frontend: one figure and a sentence.

    Parameters
    ----------
    png : bytes
        The figure as PNG.
    params : SpectrogramParams
        The parameters it was drawn with.
    note : str
        The sentence shown under it.

    Attributes
    ----------
    png : bytes
        The figure (waveform and spectrogram of the first clip, default parameters) as PNG.
    params : SpectrogramParams
    note : str
        :data:`STATIC_NOTE`.
    """

    def __init__(self, png: bytes, params: SpectrogramParams, note: str = STATIC_NOTE):
        self.png, self.params, self.note = png, params, note

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": _fallback_html(self.png, self.note), "image/png": self.png, "text/plain": self.note}


def _widget_base():
    import ipywidgets as widgets

    return widgets.VBox


try:  # the class needs ipywidgets at definition time; without it, explorer() falls back
    _VBox = _widget_base()
except ImportError:  # pragma: no cover - ipywidgets is a dependency
    _VBox = object


class SpectrogramExplorer(_VBox):
    """The explorer widget (an ``ipywidgets.VBox``); build it with :func:`explorer`.

    Parameters
    ----------
    table : pandas.DataFrame
        Clip table with ``path`` and ``label``.
    params : SpectrogramParams or None
        Starting parameters.
    figsize : (float, float)
        Figure size in inches.
    dpi : int
        Resolution of the picture.

    Raises
    ------
    ParameterError
        The table lacks ``path`` or ``label``, or has no labelled clip.

    Attributes
    ----------
    label, clip : ipywidgets.Dropdown
        Which label, and which of its clips.
    kind : ipywidgets.ToggleButtons
        The spectrogram kind (:data:`~audiospec_utils.features.KINDS`).
    sliders : dict of str to ipywidgets widget
        ``"n_fft"``, ``"hop_length"`` (samples), ``"n_mels"``, ``"fmax"`` (Hz), ``"top_db"`` (dB);
        their ``description`` is what the page shows (``"fmax (Hz)"`` for fmax).
    image : ipywidgets.Image
        The current figure (PNG): waveform above, spectrogram below.
    audio : ipywidgets.Output
        A player for the current clip.
    status : ipywidgets.HTML
        The clip's duration and rate, or why the parameters cannot be used.
    params : SpectrogramParams
        The parameters of the picture shown.
    spectrogram : np.ndarray, float32
        The array shown, shape ``(n_bins, n_frames)`` (``(3, n_mels, n_frames)`` for ``"stack"``).
    y : np.ndarray, shape (n_samples,), float32
    sr : int
        The current clip and its sample rate in Hz.
    n_draws : int
        How many times the picture was drawn.
    """

    def __init__(self, table, params: SpectrogramParams | None = None, *, figsize=(9, 5), dpi: int = 72):
        import ipywidgets as widgets

        self.table = _clip_table(table)
        self.base = dataclasses.replace(params or SpectrogramParams(), clip_policy="full", duration=None,
                                        cmap=None, width=None)
        self.figsize, self.dpi = figsize, dpi
        self.params, self.spectrogram, self.y, self.sr, self.n_draws = self.base, None, None, None, 0
        self._busy = False
        labels = sorted(self.table["label"].astype(str).unique())
        lay = widgets.Layout(width="420px")
        style = {"description_width": "90px"}
        self.label = widgets.Dropdown(options=labels, value=labels[0], description="label", layout=lay, style=style)
        self.clip = widgets.Dropdown(options=_names(self.table[self.table["label"] == labels[0]]),
                                     description="clip", layout=lay, style=style)
        self.kind = widgets.ToggleButtons(options=list(KINDS), value=self.base.kind, description="kind",
                                          style={"description_width": "90px", "button_width": "70px"})
        slider = dict(continuous_update=False, layout=lay, style=style)
        self.sliders = {
            "n_fft": widgets.SelectionSlider(options=list(N_FFT_CHOICES), value=2048, description="n_fft", **slider),
            "hop_length": widgets.SelectionSlider(options=list(HOP_CHOICES), value=512, description="hop_length",
                                                  **slider),
            "n_mels": widgets.IntSlider(value=self.base.n_mels, min=8, max=256, step=8, description="n_mels",
                                        **slider),
            "fmax": widgets.FloatSlider(value=8000.0, min=500.0, max=22050.0, step=50.0, description="fmax (Hz)",
                                        readout_format=".0f", **slider),
            "top_db": widgets.FloatSlider(value=float(self.base.top_db), min=10.0, max=120.0, step=5.0,
                                          description="top_db", readout_format=".0f", **slider),
        }
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.audio = widgets.Output()
        self.status = widgets.HTML()
        controls = widgets.VBox([self.label, self.clip, self.kind, *self.sliders.values()])
        super().__init__([widgets.HBox([controls, self.audio]), self.status, self.image])
        self.label.observe(self._on_label, names="value")
        self.clip.observe(self._on_clip, names="value")
        for w in (self.kind, *self.sliders.values()):
            w.observe(self._on_param, names="value")
        self._load_clip()

    # -- state changes -------------------------------------------------------------------------

    def _on_label(self, change):
        self._busy = True
        try:
            self.clip.options = _names(self.table[self.table["label"] == change["new"]])
        finally:
            self._busy = False
        self._load_clip()

    def _on_clip(self, change):
        if not self._busy:
            self._load_clip()

    def _on_param(self, change):
        if not self._busy:
            self.redraw()

    def _load_clip(self):
        from IPython.display import Audio

        path = self.clip.value
        try:
            self.y, self.sr = load_audio(path, sr=self.base.target_sr)
        except AudiospecError as err:
            self.status.value = f"<b>cannot load this clip:</b> {html.escape(str(err))}"
            return
        r = dataclasses.replace(self.base, kind="logmel").resolve(self.sr)
        self._busy = True
        try:  # sliders start at this clip's resolved defaults; fmax goes up to its Nyquist frequency
            fmax = self.sliders["fmax"]
            fmax.max = self.sr / 2
            fmax.value = min(r["fmax"], self.sr / 2)
            for name in ("n_fft", "hop_length"):
                options = self.sliders[name].options
                if r[name] not in options:
                    self.sliders[name].options = tuple(sorted({*options, r[name]}))
                self.sliders[name].value = r[name]
        finally:
            self._busy = False
        self.audio.clear_output()
        self.audio.append_display_data(Audio(self.y, rate=self.sr))
        self.redraw()

    def current_params(self) -> SpectrogramParams:
        """The parameters the controls describe now.

        Raises
        ------
        ParameterError
            They cannot be used for this clip (e.g. ``n_mels`` above ``n_fft // 2 + 1``).
        """
        s = self.sliders
        p = dataclasses.replace(self.base, kind=self.kind.value, n_fft=int(s["n_fft"].value),
                                hop_length=int(s["hop_length"].value), n_mels=int(s["n_mels"].value),
                                fmax=float(s["fmax"].value), top_db=float(s["top_db"].value),
                                n_mfcc=min(self.base.n_mfcc, int(s["n_mels"].value)))
        p.resolve(self.sr)
        return p

    def redraw(self) -> None:
        """Compute the spectrogram for the current controls and redraw the picture.

        Parameters the clip cannot take are reported in :attr:`status` and leave the picture as it
        was.
        """
        if self.y is None:
            return
        try:
            p = self.current_params()
        except ParameterError as err:
            self.status.value = f"<b>these parameters cannot be used:</b> {html.escape(str(err))}"
            return
        self.params = p
        self.spectrogram = spectrogram(self.y, self.sr, p)
        title = f"{self.label.value}: {os.path.basename(str(self.clip.value))}"
        self.image.value = _figure_png(self.y, self.sr, p, title, self.figsize, self.dpi)
        self.n_draws += 1
        shape = " x ".join(str(n) for n in self.spectrogram.shape)
        self.status.value = (f"{len(self.y) / self.sr:.2f} s at {self.sr} Hz; {p.kind}: {shape} "
                             f"(n_fft {p.n_fft} = {1000 * p.n_fft / self.sr:.0f} ms, hop {p.hop_length} = "
                             f"{1000 * p.hop_length / self.sr:.1f} ms)")

    def _repr_mimebundle_(self, **kwargs):
        # a live frontend shows the widget; one without widget support falls back to this HTML
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if self.image.value:
            bundle["text/html"] = _fallback_html(self.image.value)
        bundle["text/plain"] = STATIC_NOTE
        return bundle


def _static_requested(static) -> bool:
    if static is not None:
        return bool(static)
    if os.environ.get("AUDIOSPEC_STATIC_WIDGETS", "").strip().lower() in ("1", "true", "yes"):
        return True
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return True
    return False


def explorer(table, params: SpectrogramParams | None = None, *, static: bool | None = None,
             figsize=(9, 5), dpi: int = 72):
    """An interactive explorer of the clips' spectrograms (or its static fallback).

    Parameters
    ----------
    table : pandas.DataFrame
        Clip table with ``path`` and ``label`` (``fname`` for the menu if present), e.g.
        :func:`audiospec_utils.course.config.course_table`.
    params : SpectrogramParams or None
        Starting parameters (``kind``, ``n_mels``, ``top_db``, ``sr``...); ``n_fft``,
        ``hop_length`` and ``fmax`` start at their resolved values for each clip's rate.
    static : bool or None
        ``True``: the static fallback. ``None`` (default): static when ipywidgets cannot be
        imported or the environment variable ``AUDIOSPEC_STATIC_WIDGETS`` is ``1``.
    figsize : (float, float)
        Figure size in inches.
    dpi : int
        Resolution of the picture.

    Returns
    -------
    SpectrogramExplorer or StaticExplorer
        The widget (display it as a cell's last expression); its ``sliders``, ``params`` and
        ``spectrogram`` can be used from code. A :class:`SpectrogramExplorer` displayed where no
        widget frontend runs shows its current picture and :data:`STATIC_NOTE`.

    Raises
    ------
    ParameterError
        The table lacks ``path`` or ``label``, or has no labelled clip.
    """
    if not _static_requested(static):
        return SpectrogramExplorer(table, params, figsize=figsize, dpi=dpi)
    table = _clip_table(table)
    params = dataclasses.replace(params or SpectrogramParams(), clip_policy="full", duration=None, cmap=None,
                                 width=None)
    for row in table.itertuples(index=False):
        try:
            y, sr = load_audio(row.path, sr=params.target_sr)
            params.resolve(sr)
        except AudiospecError:
            continue
        title = f"{row.label}: {os.path.basename(str(row.path))}"
        return StaticExplorer(_figure_png(y, sr, params, title, figsize, dpi), params)
    raise ParameterError("no clip of the table could be loaded with these parameters")
