"""Jupyter widgets of the course: upload a clip and see what the model hears; browse top losses.

:class:`PredictWidget` is an ipywidgets ``FileUpload`` plus three outputs: the clip's spectrogram
(rendered with the run's own parameters, as the network sees it), an audio player, and a bar chart
of the top predictions. Its work is done by :meth:`PredictWidget.handle_upload`, which takes a
file name and bytes, so it can be tested without a browser.

Every picture is an ``ipywidgets.Image`` holding PNG bytes, so the widgets render the same in
JupyterLab, Jupyter Notebook, VS Code and Colab.
"""

from __future__ import annotations

import io
import logging
import tempfile
from html import escape
from pathlib import Path

import numpy as np

from ..features.images import read_image
from ..infer.predict import load_model, predict_files, run_spectrogram_params

__all__ = ["PredictWidget", "predict_widget", "spectrogram_png", "bar_chart_png", "top_losses_widget"]

logger = logging.getLogger(__name__)

#: Audio formats the player widget is given as MIME subtypes (``audio/<format>``).
_AUDIO_FORMATS = {".wav": "wav", ".flac": "flac", ".ogg": "ogg", ".oga": "ogg", ".opus": "ogg", ".mp3": "mpeg",
                  ".m4a": "mp4", ".aif": "aiff", ".aiff": "aiff"}


def spectrogram_png(images, *, height: int = 192, cmap: str = "magma") -> bytes:
    """A PNG of rendered spectrogram image(s), side by side, coloured and enlarged for viewing.

    Parameters
    ----------
    images : sequence of np.ndarray, uint8
        Shape ``(n_mels, n_frames)`` (grey) or ``(n_mels, n_frames, 3)``, e.g. the windows of
        one clip from :func:`audiospec_utils.features.render_clip`.
    height : int
        Height of the PNG in pixels (the width keeps the aspect ratio, at most 4 x height).
    cmap : str
        Matplotlib colour map applied to grey images.

    Returns
    -------
    bytes
        PNG file content.
    """
    import matplotlib
    from PIL import Image

    arrays = [np.asarray(im) for im in images]
    if not arrays:
        raise ValueError("no image to show")
    grey = [a if a.ndim == 2 else np.asarray(Image.fromarray(a).convert("L")) for a in arrays]
    pixels = np.concatenate(grey, axis=1)
    rgb = (matplotlib.colormaps[cmap](pixels / 255.0)[..., :3] * 255).round().astype(np.uint8)
    width = int(min(4 * height, max(height, round(pixels.shape[1] * height / pixels.shape[0]))))
    buf = io.BytesIO()
    Image.fromarray(rgb).resize((width, height), Image.NEAREST).save(buf, format="PNG")
    return buf.getvalue()


def bar_chart_png(top: list[dict], *, title: str = "top predictions") -> bytes:
    """A horizontal bar chart (PNG) of predicted labels and their probabilities.

    Parameters
    ----------
    top : list of dict
        ``[{"label": str, "probability": float}, ...]``, best first (as
        :func:`audiospec_utils.infer.predict.predict_files` returns).
    title : str

    Returns
    -------
    bytes
        PNG file content.
    """
    from matplotlib.figure import Figure  # no pyplot: nothing is shown twice in a notebook

    fig = Figure(figsize=(4.5, 0.45 * len(top) + 1.0), dpi=100, layout="constrained")
    ax = fig.subplots()
    labels = [t["label"] for t in top][::-1]
    values = [t["probability"] for t in top][::-1]
    bars = ax.barh(labels, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=3, fontsize=9)
    ax.set(xlim=(0, 1.15), xlabel="probability", title=title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class PredictWidget:
    """Upload an audio clip; see its spectrogram, hear it, and see the model's top predictions.

    Parameters
    ----------
    run_dir : str or os.PathLike
        A trained run folder (``export.pkl``, ``params.json``).
    k : int
        Predictions shown.
    learn : fastai.learner.Learner or None
        An already loaded learner (default: loaded from `run_dir`).

    Attributes
    ----------
    upload : ipywidgets.FileUpload
    status : ipywidgets.HTML
        The file name and duration, or the error message.
    spectrogram : ipywidgets.Image
        PNG of the clip's spectrogram (all windows side by side).
    audio : ipywidgets.Audio
        The uploaded bytes, as a player.
    chart : ipywidgets.Image
        PNG bar chart of the top-`k` labels.
    widget : ipywidgets.VBox
        Everything above, laid out; displaying the PredictWidget displays it.
    result : dict or None
        The last :func:`~audiospec_utils.infer.predict.predict_files` entry.

    Examples
    --------
    In a notebook::

        PredictWidget("runs/course_mini")   # the last expression of a cell displays it
    """

    def __init__(self, run_dir, *, k: int = 3, learn=None):
        import ipywidgets as widgets

        self.run_dir = Path(run_dir)
        self.k = k
        self.learn = learn if learn is not None else load_model(run_dir)
        self.params = run_spectrogram_params(run_dir)
        self.result = None
        self.upload = widgets.FileUpload(accept=",".join(_AUDIO_FORMATS) + ",audio/*", multiple=False,
                                         description="Upload a clip")
        self.status = widgets.HTML(value="<i>Upload a sound (wav, flac, ogg, mp3) to classify it.</i>")
        self.spectrogram = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))
        self.audio = widgets.Audio(format="wav", autoplay=False, loop=False)
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="450px"))
        self.widget = widgets.VBox([
            self.upload, self.status,
            widgets.HBox([widgets.VBox([self.spectrogram, self.audio]), self.chart]),
        ])
        self.widget.add_class("audiospec-predict")
        self.upload.observe(self._on_upload, names="value")

    def _on_upload(self, change):
        files = change["new"]
        if not files:
            return
        item = files[-1]
        self.handle_upload(item["name"], bytes(item["content"]))

    def handle_upload(self, name: str, content: bytes) -> dict:
        """Classify one uploaded file and update the outputs.

        Parameters
        ----------
        name : str
            The file's name (its extension tells the audio format).
        content : bytes
            The file's bytes.

        Returns
        -------
        dict
            The :func:`~audiospec_utils.infer.predict.predict_files` entry: ``top`` (labels and
            probabilities) or ``error``. On error the outputs are cleared and `status` shows the
            reason; nothing is raised.
        """
        suffix = Path(name).suffix.lower() or ".wav"
        with tempfile.TemporaryDirectory(prefix="audiospec_upload_") as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(content)
            entry = predict_files(self.run_dir, [path], k=self.k, learn=self.learn, params=self.params,
                                  return_probs=True)[0]
        entry["file"] = name
        if "error" in entry:
            self.status.value = f"<b style='color:#b00'>{escape(name)}: {escape(entry['error'])}</b>"
            self.spectrogram.value = b""
            self.chart.value = b""
            self.audio.value = b""
        else:
            best = entry["top"][0]
            self.status.value = (f"<b>{escape(name)}</b>: {entry['duration']:.2f} s, {entry['n_windows']} "
                                 f"window(s). Best guess: <b>{escape(best['label'])}</b> ({best['probability']:.2f})")
            self.spectrogram.value = spectrogram_png(entry.pop("images"))
            self.audio.format = _AUDIO_FORMATS.get(suffix, "wav")
            self.audio.value = bytes(content)
            self.chart.value = bar_chart_png(entry["top"], title=f"top {self.k} predictions")
            entry.pop("probs", None)
        self.result = entry
        return entry

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def predict_widget(run_dir, *, k: int = 3) -> PredictWidget:
    """An upload-and-predict widget for a run folder (see :class:`PredictWidget`)."""
    return PredictWidget(run_dir, k=k)


def top_losses_widget(table, *, height: int = 128):
    """A column of the worst-predicted clips: spectrogram, predicted / true label, and audio player.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`audiospec_utils.explain.interpret.top_losses`: ``image_path``, ``path`` (audio),
        ``fname``, ``true``, ``predicted``, ``loss``, ``p_true``.
    height : int
        Height of each spectrogram in pixels.

    Returns
    -------
    ipywidgets.VBox
        One row per clip. A clip whose audio is missing shows the reason instead of a player.
    """
    import ipywidgets as widgets

    rows = []
    for r in table.itertuples(index=False):
        pic = widgets.Image(value=spectrogram_png([read_image(r.image_path)], height=height), format="png")
        text = widgets.HTML(f"<b>{escape(str(r.fname))}</b><br>predicted <b>{escape(str(r.predicted))}</b>, "
                            f"true <b>{escape(str(r.true))}</b><br>loss {r.loss:.2f}, p(true) {r.p_true:.2f}")
        suffix = Path(str(r.path)).suffix.lower()
        try:
            sound = widgets.Audio(value=Path(r.path).read_bytes(), format=_AUDIO_FORMATS.get(suffix, "wav"),
                                  autoplay=False, loop=False)
        except OSError as err:
            sound = widgets.HTML(f"<i>audio unavailable: {escape(str(err))}</i>")
        rows.append(widgets.HBox([pic, widgets.VBox([text, sound])]))
    return widgets.VBox(rows)
