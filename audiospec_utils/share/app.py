"""A web page for an exported model: drop a sound, read its labels, see where the model heard them.

``audiospec app MODEL`` serves it on this machine; ``audiospec space MODEL --out DIR`` writes a
folder that runs it as a Hugging Face Space. Both run this module, which needs Gradio, NumPy,
matplotlib and the light runtime only (:mod:`audiospec_utils.infer.onnx_predict`: soundfile, soxr,
onnxruntime; no torch), so that a Space copies it with the few modules it imports::

    from audiospec_utils.share.app import AppModel, build_app

    model = AppModel("model.onnx")                 # its window network and card beside it, when there
    demo = build_app(model, examples="clips/")
    demo.launch(server_name="127.0.0.1", server_port=7860)

The page (:func:`build_app`):

* audio in, by upload or from the microphone (any format libsndfile decodes, any rate, any
  channels: decoded and resampled as ``audiospec predict --onnx`` does);
* the top labels (``gr.Label``), the same as :meth:`~audiospec_utils.infer.onnx_predict.OnnxClassifier.predict_file`;
* the clip's spectrogram as the model saw it (time in s, frequency in Hz), then, a few seconds
  later, the occlusion map of the top label over it (:mod:`audiospec_utils.share.app_explain`);
* for a recording longer than one window, the label probabilities window by window (as
  ``audiospec predict --timeline`` plots them);
* examples, and the model card (labels, sample rate, training data, scores with intervals, split);
* a bad file (not audio, empty, silent, longer than the limit) gets a message in the page
  (``gr.Error``), never a traceback, and the server goes on;
* a named endpoint ``/predict``: one audio file in, the label first among its outputs (for
  ``gradio_client``), behind Gradio's queue with a concurrency limit.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from pathlib import Path

import numpy as np

from ..audio.decode import AUDIO_EXTENSIONS, audio_info, load_audio
from ..exceptions import AudioLoadError, AudiospecError, ParameterError
from ..infer.onnx_predict import OnnxClassifier
from .app_explain import explain_analysis, row_frequencies

__all__ = ["AppModel", "build_app", "launch_app", "serve_folder", "card_markdown", "spectrogram_figure",
           "timeline_figure", "example_files", "DEFAULT_MAX_SECONDS", "DEFAULT_EXPLAIN_WINDOWS",
           "SILENCE_PEAK", "MAX_UPLOAD"]

logger = logging.getLogger(__name__)

#: Longest input the app accepts by default, in seconds.
DEFAULT_MAX_SECONDS = 60.0
#: Windows explained per clip by default (those of most evidence): each costs hundreds of network passes.
DEFAULT_EXPLAIN_WINDOWS = 4
#: Peak amplitude at or below which an input counts as silent (-80 dB re full scale).
SILENCE_PEAK = 1e-4
#: Largest upload the page accepts (Gradio refuses larger files before they reach the model).
MAX_UPLOAD = "200mb"

#: Names of the files the app reads beside a model ``X.onnx`` (as audiospec_utils.share.export_app writes them).
_WINDOWS_SUFFIX, _CARD_SUFFIX = "_windows.onnx", "_card.json"
_CARD_KEY = "audiospec_card"


class AppModel:
    """An exported model with what the page shows beside it: its window network and its card.

    Parameters
    ----------
    model : str or os.PathLike
        The ``.onnx`` file written by ``audiospec export``.
    windows : str or os.PathLike or None
        Its window network (``audiospec_utils.share.export_app.export_window_network``); default
        ``X_windows.onnx`` beside ``X.onnx`` when it exists. Without one the page shows no map.
    card : dict or None
        The model card; default ``X_card.json`` beside the model, else the one stored in the
        window network, else one made of the model's metadata (labels, rate).
    threads : int or None
        onnxruntime threads per session (None: its default, all cores).

    Raises
    ------
    ParameterError
        A file is missing or is not an audiospec model (see :class:`OnnxClassifier`).
    """

    def __init__(self, model, windows=None, card: dict | None = None, *, threads: int | None = None):
        self.path = Path(model)
        self.clf = OnnxClassifier(self.path, threads=threads)
        self.metadata = self.clf.metadata
        self.labels = self.clf.labels
        if windows is None:
            candidate = self.path.with_name(self.path.stem + _WINDOWS_SUFFIX)
            windows = candidate if candidate.is_file() else None
        self.windows_path = Path(windows) if windows is not None else None
        self._windows = None
        stored = {}
        if self.windows_path is not None:
            self._windows = _session(self.windows_path, threads)
            stored = self._windows.get_modelmeta().custom_metadata_map
            self._windows_input = self._windows.get_inputs()[0].name
        if card is None:
            card_file = self.path.with_name(self.path.stem + _CARD_SUFFIX)
            if card_file.is_file():
                card = json.loads(card_file.read_text())
            elif _CARD_KEY in stored:
                card = json.loads(stored[_CARD_KEY])
            else:
                card = {"title": self.metadata.get("run") or self.path.stem, "labels": self.labels,
                        "sample_rate": self.clf.sample_rate, "window_seconds": self.metadata.get("crop_seconds"),
                        "trained_on": "unknown (no model card beside the model)", "scores": []}
        self.card = card
        self.rows_hz = row_frequencies(self.metadata)

    def __repr__(self) -> str:
        return (f"AppModel({str(self.path)!r}: {len(self.labels)} labels, "
                f"{'with' if self._windows is not None else 'without'} window network)")

    @property
    def can_explain(self) -> bool:
        """Whether the model has a window network (occlusion maps)."""
        return self._windows is not None

    def predict_windows(self, x: np.ndarray) -> np.ndarray:
        """The window network: float32 (n, 3, height, length) normalised windows -> probabilities (n, n_classes)."""
        if self._windows is None:
            raise ParameterError(f"{self.path}: no window network beside the model (X_windows.onnx): no maps")
        return self._windows.run(None, {self._windows_input: np.ascontiguousarray(x, dtype=np.float32)})[0]

    def read(self, path, *, max_seconds: float | None = DEFAULT_MAX_SECONDS) -> tuple[np.ndarray, int]:
        """Decode an input file, refusing what the page cannot answer.

        Parameters
        ----------
        path : str or os.PathLike or None
            The uploaded or recorded file.
        max_seconds : float or None
            Longest duration accepted (None: any).

        Returns
        -------
        y : np.ndarray, float32, shape (n_samples,)
            Mono samples at the file's own rate.
        sr : int
            The file's rate in Hz.

        Raises
        ------
        AudioLoadError
            No file; missing, empty or not audio (the reason :func:`audiospec_utils.audio.decode.load_audio`
            gives); longer than `max_seconds` (read from the header when it has one, before
            decoding); silent (peak at or below :data:`SILENCE_PEAK`).
        """
        if path is None or str(path) == "":
            raise AudioLoadError("(no file)", "no audio: upload a file or record one first")
        path = Path(path)
        try:
            duration = audio_info(path)["duration"]
        except AudioLoadError as err:
            if "empty file" in err.reason or "not found" in err.reason:
                raise
            duration = None  # a format libsndfile cannot parse: the decoder below says whether it is audio
        if max_seconds is not None and duration is not None and duration > max_seconds:
            raise AudioLoadError(path, f"too long: {duration:.1f} s, this page takes at most {max_seconds:g} s")
        y, sr = load_audio(path)
        if max_seconds is not None and len(y) / sr > max_seconds:
            raise AudioLoadError(path, f"too long: {len(y) / sr:.1f} s, this page takes at most {max_seconds:g} s")
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        if peak <= SILENCE_PEAK:
            raise AudioLoadError(path, f"silent: its loudest sample is {_dbfs(peak)} (below -80 dBFS), nothing to "
                                       f"classify")
        return y, sr

    def classify(self, path, *, k: int = 3, max_seconds: float | None = DEFAULT_MAX_SECONDS) -> dict:
        """Labels of one file, with what the page draws.

        Parameters
        ----------
        path : str or os.PathLike
        k : int
            Labels listed.
        max_seconds : float or None
            See :meth:`read`.

        Returns
        -------
        dict
            ``top`` (as :meth:`OnnxClassifier.top`), ``confidences`` (``{label: probability}`` of
            every label, best first), ``analysis`` (:meth:`OnnxClassifier.analyse`), ``duration``
            (s), ``sr`` (the file's rate), ``seconds`` (time taken).

        Raises
        ------
        AudioLoadError
            See :meth:`read`.
        """
        t0 = time.perf_counter()
        y, sr = self.read(path, max_seconds=max_seconds)
        a = self.clf.analyse(y, sr)
        order = np.argsort(-a["probs"], kind="stable")
        return {"top": self.clf.top(a["probs"], k), "analysis": a, "duration": float(a["duration"]), "sr": int(sr),
                "confidences": {self.labels[i]: float(a["probs"][i]) for i in order},
                "seconds": time.perf_counter() - t0}

    def explain(self, analysis: dict, label: int | str | None = None, *, max_windows: int | None = DEFAULT_EXPLAIN_WINDOWS
                ) -> dict:
        """The occlusion map of a classified clip (:func:`audiospec_utils.share.app_explain.explain_analysis`).

        Parameters
        ----------
        analysis : dict
            ``classify(...)["analysis"]``.
        label : int or str or None
            The label (its index or name); default the top one.
        max_windows : int or None
            Windows explained, those of most evidence.

        Raises
        ------
        ParameterError
            No window network, or an unknown label.
        """
        if label is None:
            label = int(np.argmax(analysis["probs"]))
        elif isinstance(label, str):
            if label not in self.labels:
                raise ParameterError(f"unknown label {label!r}; the model's labels: {', '.join(self.labels)}")
            label = self.labels.index(label)
        return explain_analysis(self.predict_windows, analysis, self.metadata, int(label), max_windows=max_windows)


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    if not path.is_file():
        raise ParameterError(f"{path}: no such window network file")
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = int(threads)
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own exception types
        raise ParameterError(f"{path}: not an ONNX model onnxruntime can load ({type(err).__name__})") from None


def _dbfs(peak: float) -> str:
    return "digital silence (all zeros)" if peak <= 0 else f"{20 * np.log10(peak):.0f} dBFS"


# ----------------------------------------------------------------------------------------------
# Figures (matplotlib's object interface: no pyplot state, so requests can draw at the same time)


def _canvas(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()


def _hz_ticks(ax, rows_hz: np.ndarray) -> None:
    """Label the image's rows (top row the highest frequency) in Hz at round values."""
    lo, hi = float(rows_hz.min()), float(rows_hz.max())
    ticks = [f for f in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if lo <= f <= hi]
    asc = rows_hz[::-1]                               # increasing, for np.interp
    pos = len(rows_hz) - 1 - np.interp(ticks, asc, np.arange(len(asc)))
    keep, last = [], None                             # from the top down, none closer than 1/14 of the height
    for i in np.argsort(pos):
        if last is None or pos[i] - last >= len(rows_hz) / 14:
            keep.append(i)
            last = pos[i]
    ax.set_yticks(pos[keep])
    ax.set_yticklabels([f"{ticks[i] / 1000:g}k" if ticks[i] >= 1000 else f"{ticks[i]:g}" for i in keep])
    ax.set_ylabel("frequency (Hz)")


def spectrogram_figure(image: np.ndarray, hop_seconds: float, rows_hz: np.ndarray, *, cam: np.ndarray | None = None,
                       title: str = "") -> np.ndarray:
    """The clip's spectrogram as the model saw it, time in s and frequency in Hz, with a map over it.

    Parameters
    ----------
    image : np.ndarray, shape (channels, height, n_frames)
        Pixels 0..255 (grey: one channel; a colour map: three), row 0 the highest frequency.
    hop_seconds : float
        Seconds between frames (frame ``f`` is centred on ``f * hop_seconds``).
    rows_hz : np.ndarray, shape (height,)
        Each row's frequency (:func:`audiospec_utils.share.app_explain.row_frequencies`).
    cam : np.ndarray, shape (height, n_frames), or None
        A map in 0..1 drawn over the spectrogram (colour and opacity grow with it).
    title : str

    Returns
    -------
    np.ndarray, uint8, shape (height_px, width_px, 3)
        The picture.
    """
    fig = _canvas(10, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    n = image.shape[-1]
    extent = (-0.5 * hop_seconds, (n - 0.5) * hop_seconds, image.shape[1] - 0.5, -0.5)
    if image.shape[0] == 3:
        ax.imshow(np.transpose(image, (1, 2, 0)).astype(np.uint8), aspect="auto", extent=extent,
                  interpolation="nearest")
    else:
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=255, aspect="auto", extent=extent, interpolation="nearest")
    if cam is not None and np.max(cam) > 0:
        import matplotlib

        rgba = matplotlib.colormaps["inferno"](np.clip(cam, 0, 1))
        rgba[..., 3] = 0.75 * np.clip(cam, 0, 1) ** 0.8
        ax.imshow(rgba, aspect="auto", extent=extent, interpolation="bilinear")
        mappable = matplotlib.cm.ScalarMappable(cmap="inferno", norm=matplotlib.colors.Normalize(0, 1))
        fig.colorbar(mappable, ax=ax, pad=0.01, fraction=0.03, label="evidence for the label")
    _hz_ticks(ax, rows_hz)
    ax.set_xlabel("time (s)")
    ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.08, right=0.93 if cam is not None else 0.985, bottom=0.14, top=0.91)  # no tight_layout:
    return _pixels(fig)                                                                               # one draw, not two


def timeline_figure(analysis: dict, labels, *, n_labels: int = 5, title: str = "") -> np.ndarray:
    """The probabilities of the most likely labels window by window (as ``audiospec predict --timeline``).

    Parameters
    ----------
    analysis : dict
        :meth:`OnnxClassifier.analyse` of a clip: ``window_probs`` (n_windows, n_classes),
        ``window_start``, ``window_end`` (s), ``duration`` (s).
    labels : sequence of str
    n_labels : int
        The labels drawn: those of highest probability in any window, at most this many.
    title : str

    Returns
    -------
    np.ndarray, uint8, shape (height_px, width_px, 3)
    """
    wp, start, end = analysis["window_probs"], analysis["window_start"], analysis["window_end"]
    order = np.argsort(-wp.max(axis=0), kind="stable")[:n_labels]
    centre = (start + end) / 2
    fig = _canvas(10, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    for j in order:
        ax.plot(centre, wp[:, j], marker="o" if len(centre) < 40 else None, ms=3, label=str(labels[j]))
    ax.set_xlim(0, max(float(analysis["duration"]), float(end.max()) if len(end) else 1.0))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time (s, window centre)")
    ax.set_ylabel("probability")
    ax.set_title(title or f"{len(wp)} windows", fontsize=9)
    ax.legend(fontsize=7, loc="upper right", ncol=min(len(order), 5))
    fig.subplots_adjust(left=0.07, right=0.985, bottom=0.16, top=0.9)
    return _pixels(fig)


# ----------------------------------------------------------------------------------------------
# The page


def card_markdown(card: dict) -> str:
    """The model card as Markdown (the page's card, the Space's README).

    Parameters
    ----------
    card : dict
        As :func:`audiospec_utils.share.export_app.model_card` makes it.

    Returns
    -------
    str
    """
    lines = [f"**Model** `{card.get('title', 'model')}`: {len(card.get('labels', []))} labels, input resampled to "
             f"{card.get('sample_rate')} Hz, read in windows of {float(card.get('window_seconds') or 0):.2f} s "
             f"(a longer recording: the mean over its windows)."]
    if card.get("labels"):
        lines.append("**Labels**: " + ", ".join(f"`{lab}`" for lab in card["labels"]))
    if card.get("trained_on"):
        lines.append(f"**Trained on**: {card['trained_on']}.")
    if card.get("training"):
        lines.append(f"**Training**: {card['training']}.")
    for s in card.get("scores") or []:
        if s.get("accuracy") is None:
            continue
        ci = f" ({s['interval_text']})" if s.get("interval_text") else ""
        extra = f", MAP@3 {s['map_at_3']:.3f}" if s.get("map_at_3") is not None else ""
        lines.append(f"**Score**: {s['name']} {s['accuracy']:.3f}{ci}{extra}, on {s.get('n_clips')} clips.")
    if not any(s.get("accuracy") is not None for s in card.get("scores") or []):
        lines.append("**Score**: not recorded with this model.")
    if card.get("split"):
        lines.append(f"**Split**: {card['split']}.")
    lines.append("Made with audiospec: log-mel spectrogram images classified by a ResNet; the map shows where "
                 "hiding a patch of the image lowers the label's probability most (occlusion).")
    return "\n\n".join(lines)


def example_files(folder, *, limit: int = 12) -> list[str]:
    """The audio files of a folder (searched recursively), sorted, at most `limit`.

    Raises
    ------
    ParameterError
        `folder` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ParameterError(f"{folder}: no such folder of examples")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    return [str(p) for p in files[:limit]]


def _user_message(err: BaseException) -> str:
    """The message of an error as the page shows it (HTML-escaped: the name of a file is the user's)."""
    import html

    if isinstance(err, AudioLoadError):
        name = Path(err.path).name if err.path and err.path != "(no file)" else ""
        text = f"{name}: {err.reason}" if name else err.reason
    else:
        text = str(err)
    return html.escape(text)


def build_app(model: AppModel, *, examples=None, max_seconds: float | None = DEFAULT_MAX_SECONDS, top_k: int = 3,
              explain_windows: int | None = DEFAULT_EXPLAIN_WINDOWS, concurrency: int = 2, title: str | None = None):
    """The page: audio in; labels, spectrogram with its map, timeline, examples and the model card out.

    Parameters
    ----------
    model : AppModel
    examples : str or os.PathLike or list or None
        A folder of audio files (:func:`example_files`) or a list of files shown as examples.
    max_seconds : float or None
        Longest input accepted (None: any length).
    top_k : int
        Labels listed.
    explain_windows : int or None
        Windows explained per clip (0: no map; None: every window with evidence).
    concurrency : int
        Requests computed at once (Gradio's queue holds the others: every request is answered).
    title : str or None
        The page's title; default from the card.

    Returns
    -------
    gradio.Blocks
        With its queue set (``default_concurrency_limit=concurrency``); launch it with
        :func:`launch_app` or ``.launch()``. The endpoint ``/predict`` takes one audio file and
        returns the label (``gr.Label``'s value), the spectrogram picture, the timeline picture and
        a status line.

    Raises
    ------
    ParameterError
        `top_k` < 1, `concurrency` < 1, or `examples` names a missing folder.
    """
    import gradio as gr

    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ParameterError(f"top_k must be a positive integer, got {top_k!r}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ParameterError(f"concurrency must be a positive integer, got {concurrency!r}")
    if examples is not None and not isinstance(examples, (list, tuple)):
        examples = example_files(examples)
    k = min(top_k, len(model.labels))
    title = title or f"{model.card.get('title', 'audiospec model')}: what sound is this?"
    hop_s = model.metadata["hop_length"] / model.clf.sample_rate
    explain = bool(explain_windows) and model.can_explain

    def predict(path):
        try:
            res = model.classify(path, k=k, max_seconds=max_seconds)
        except AudiospecError as err:
            raise gr.Error(_user_message(err), print_exception=False) from None
        except Exception as err:  # a decoder bug: a message, the traceback in the server's log only
            logger.error("unexpected error on %s:\n%s", path, traceback.format_exc())
            raise gr.Error(f"unexpected error ({type(err).__name__}); the server goes on", print_exception=False
                           ) from None
        a = res["analysis"]
        name = Path(path).name
        first = res["top"][0]
        spec = spectrogram_figure(_clip_image(a, model.metadata), hop_s, model.rows_hz,
                                  title=f"{name}: {first['label']} ({first['probability']:.2f})")
        timeline = None
        if a["n_windows"] > 1:
            timeline = timeline_figure(a, model.labels, title=f"{name}: {a['n_windows']} windows")
        status = (f"{name}: {res['duration']:.2f} s at {res['sr']} Hz, {a['n_windows']} window"
                  f"{'s' if a['n_windows'] != 1 else ''}; answered in {res['seconds']:.2f} s"
                  + (". Computing where the model heard it..." if explain else "."))
        state = {"analysis": a, "name": name, "label": first["label"], "probability": first["probability"]}
        return (res["confidences"], spec, gr.update(value=timeline, visible=timeline is not None), status, state)

    def explain_fn(state):
        if not state:
            return gr.skip(), gr.skip()
        try:
            e = model.explain(state["analysis"], state["label"], max_windows=explain_windows)
        except AudiospecError as err:
            return gr.skip(), f"No map: {err}"
        except Exception:  # the labels stand; the map is missing
            logger.error("explanation failed:\n%s", traceback.format_exc())
            return gr.skip(), "No map: the explanation failed (see the server's log)."
        n_exp, n_win = int(e["explained"].sum()), len(e["explained"])
        spec = spectrogram_figure(e["image"], hop_s, model.rows_hz, cam=e["map"],
                                  title=f"{state['name']}: where the model heard {state['label']} "
                                        f"({state['probability']:.2f})")
        note = (f"Map of {state['label']}: occlusion of {n_exp} of {n_win} window{'s' if n_win != 1 else ''}"
                + (" (those of most evidence)" if n_exp < n_win else "")
                + f", {e['passes']} network passes in {e['seconds']:.1f} s.")
        return spec, note

    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(f"# {title}\nUpload a sound or record one: the model names it and shows where in the "
                    f"spectrogram it heard it.")
        with gr.Row():
            with gr.Column(scale=1):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio (any format, any "
                                 "sample rate" + (f", up to {max_seconds:g} s)" if max_seconds else ")"),
                                 elem_id="audio-in")
                button = gr.Button("Classify", variant="primary", elem_id="classify")
                status = gr.Markdown("", elem_id="status")
            with gr.Column(scale=1):
                label = gr.Label(num_top_classes=k, label="Labels", elem_id="labels")
        spec = gr.Image(label="Spectrogram (s, Hz) and where the model heard the label", type="numpy", format="png",
                        interactive=False, elem_id="spectrogram", buttons=["download"])
        timeline = gr.Image(label="Label probabilities over time, window by window", type="numpy", format="png",
                            interactive=False, visible=False, elem_id="timeline", buttons=["download"])
        state = gr.State(None)
        outputs = [label, spec, timeline, status, state]
        event = gr.on([button.click, audio.upload, audio.stop_recording], predict, inputs=[audio], outputs=outputs,
                      api_name="predict")
        if explain:
            event.success(explain_fn, [state], [spec, status], api_name="explain", api_visibility="private")
        if examples:
            ex = gr.Examples(examples=[[str(e)] for e in examples], inputs=[audio], label="Examples",
                             cache_examples=False, elem_id="examples-list")
            run = ex.load_input_event.then(predict, [audio], outputs, api_name="predict_example",
                                           api_visibility="private")
            if explain:
                run.success(explain_fn, [state], [spec, status], api_name="explain_example", api_visibility="private")
        with gr.Accordion("Model card", open=True, elem_id="model-card"):
            gr.Markdown(card_markdown(model.card))
    demo.queue(default_concurrency_limit=concurrency, max_size=None)
    demo.audiospec_examples = [str(e) for e in examples or []]
    return demo


def _clip_image(analysis: dict, metadata: dict) -> np.ndarray:
    """The clip's pixels on one frame grid (segments placed at their offsets): for the first picture."""
    images = analysis["images"]
    if len(images) == 1:
        return images[0]
    hop_s = metadata["hop_length"] / metadata["sample_rate"]
    starts = analysis.get("segment_start")
    if starts is None:
        return np.concatenate(images, axis=-1)
    offsets = np.round(np.asarray(starts) / hop_s).astype(int)
    n = int(max(o + img.shape[-1] for o, img in zip(offsets, images)))
    out = np.zeros(images[0].shape[:2] + (n,), np.float32)
    for o, img in zip(offsets, images):
        out[:, :, o:o + img.shape[-1]] = img
    return out


def _theme():
    import gradio as gr

    # system fonts: the page asks no font server (a Space's visitors, a machine offline)
    return gr.themes.Default(font=["system-ui", "Helvetica", "Arial", "sans-serif"],
                             font_mono=["ui-monospace", "Menlo", "monospace"])


def launch_app(demo, *, host: str | None = None, port: int | None = None, block: bool = True, inline=None,
               quiet: bool = False):
    """Launch the page on `host`:`port`, files of its examples allowed.

    Parameters
    ----------
    demo : gradio.Blocks
        From :func:`build_app`.
    host : str or None
        Interface to listen on; default ``$GRADIO_SERVER_NAME`` or 127.0.0.1 (this machine only).
    port : int or None
        Default ``$PORT`` or ``$GRADIO_SERVER_PORT``; without any, 7860 or the next free one.
    block : bool
        Serve until interrupted (False: return once the server runs, as in a notebook).
    inline : bool or None
        Show the page in the notebook's output (Gradio's own default: in a notebook).
    quiet : bool
        No start-up lines from Gradio.

    Returns
    -------
    gradio.Blocks
        `demo`, running (``demo.local_url``).

    Raises
    ------
    ParameterError
        The port given is taken.
    """
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    env_port = os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT")
    port = port or (int(env_port) if env_port else None)
    allowed = sorted({str(Path(e).resolve().parent) for e in getattr(demo, "audiospec_examples", [])})
    try:
        demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, inline=inline, quiet=quiet,
                    allowed_paths=allowed, ssr_mode=False, theme=_theme(), show_error=False,
                    max_file_size=MAX_UPLOAD)
    except OSError as err:
        if "Cannot find empty port" not in str(err):
            raise
        raise ParameterError(f"port {port} on {host} is taken: choose another (--port, or $PORT)") from None
    return demo


def serve_folder(folder, *, max_seconds: float | None = DEFAULT_MAX_SECONDS, top_k: int = 3,
                 explain_windows: int | None = DEFAULT_EXPLAIN_WINDOWS, concurrency: int = 2, launch: bool = True):
    """The page of a folder written by ``audiospec space`` (its ``app.py`` calls this).

    Parameters
    ----------
    folder : str or os.PathLike
        Holds ``model.onnx``, ``model_windows.onnx``, ``model_card.json`` and ``examples/``.
    max_seconds, top_k, explain_windows, concurrency :
        See :func:`build_app`.
    launch : bool
        Serve it (host and port from the environment, see :func:`launch_app`) until interrupted.

    Returns
    -------
    gradio.Blocks
    """
    folder = Path(folder)
    model = AppModel(folder / "model.onnx")
    examples = example_files(folder / "examples") if (folder / "examples").is_dir() else None
    demo = build_app(model, examples=examples or None, max_seconds=max_seconds, top_k=top_k,
                     explain_windows=explain_windows, concurrency=concurrency)
    if launch:
        launch_app(demo)
    return demo
