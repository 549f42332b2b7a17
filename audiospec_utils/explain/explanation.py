"""See and hear what a trained model listens to: class activation maps of whole clips.

For one audio file and one label, :func:`explain_clip` gives a **map** of the clip's
time-frequency plane, aligned frame for frame and band for band with the clip's own spectrogram at
the run's parameters, that says where the evidence for the label lies. :func:`explain_files` does
it for many files and writes, per file, the map (``<stem>_cam.npy``), the spectrogram with the map
over it (``<stem>_cam.png``), the sound kept where the map is high (``<stem>_explained.wav``) and
one row of ``explain.json``.

Two methods
-----------
``"gradcam"`` (default): a class activation map from the network's gradients. The activations
    ``A^k`` of one block of the body are captured with fastai's
    :func:`~fastai.callback.hook.hook_outputs`, and the gradient of the label's score ``y^c`` with
    respect to them weighs them (:func:`gradcam`). One forward and one backward pass per window:
    fast. Two weightings:

    * ``weighting="layercam"`` (default): LayerCAM, P.-T. Jiang, C.-B. Zhang, Q. Hou, M.-M. Cheng
      and Y. Wei, "LayerCAM: Exploring Hierarchical Class Activation Maps for Localization", IEEE
      Transactions on Image Processing 30, 2021: each position its own weight, ``M = sum_k
      ReLU(dy^c/dA^k) * A^k``, so that a block with fine resolution still gives a map of the
      class (Jiang et al. show that Grad-CAM's one weight per channel, averaged over positions,
      turns noisy on shallow blocks);
    * ``weighting="gradcam"``: Grad-CAM, R. R. Selvaraju et al., "Grad-CAM: Visual Explanations
      from Deep Networks via Gradient-based Localization", ICCV 2017: one weight per channel,
      ``alpha_k = mean over positions of dy^c/dA^k``, ``M = sum_k alpha_k A^k``.

    The block (``layer``): ``"auto"`` (default) takes the two deepest of the ResNet's first three
    stages with at least 3 rows, ``layer2`` and ``layer3`` (1/8 and 1/16 of the image along both
    axes) from 33 px high images up, and fuses their maps by the geometric mean (below); ``None``
    the last block (``layer4``, 1/32, what fastbook chapter 18 and Selvaraju et al. use); or
    ``"layer1"`` to ``"layer4"``. Selvaraju et al. (section 3) expect the last convolutional layers
    to have "the best compromise between high-level semantics and detailed spatial information", on
    224 px photographs; at the ``quick`` recipe's **48 px** it has **2 rows** from bottom to top,
    which cannot say which frequency. Measured on the known-answer clips of
    ``bench/explain_known_answer.py`` (two labels differing only by a tone burst at 500 Hz or 2 kHz,
    with clicks and a 1 kHz decoy burst that both have; ResNet-18, ``quick`` recipe, two models,
    40 held-out clips each, windows blended as below): the map's centre in Hz fell within a
    factor 2 of the tone for 50 and 50% of the clips with Grad-CAM on ``layer4`` (no better than
    a map without frequency), 70 and 50% with Grad-CAM on ``layer3``, **98 and 100%** with
    LayerCAM on ``layer3``, 98 and 58% with LayerCAM on ``layer2``; the centre in time was within
    0.5 s of the burst for 100% with each. ``layer3`` alone did not carry to other models: on the
    8 kHz clips of ``tests/test_explain.py`` (four models on an AVX512-BF16 CPU, two with PyTorch
    held to AVX2 kernels) it was right in Hz for 50 to 92%, ``layer2`` for 96 to 100%, their
    geometric mean for 96 to 100%; on the bench's clips (two more models, seeds 0 and 1, 1 s crops,
    AVX512-BF16 CPU) 100 and 100%, 98 and 55%, 100 and 75% (README, "What does the model listen
    to?").

    Two defaults differ from both papers, options of :func:`gradcam`: ``y^c`` is the label's
    log-odds ``log(p / (1 - p))`` rather than its logit (a softmax ignores what raises every logit
    alike; ``score="logit"``), and the weighted sum is compared with its mean over the window
    rather than with 0 before the ReLU (fastai's head compares pooled features with their
    BatchNorm running means; ``baseline="zero"``). With LayerCAM on ``layer2`` the zero baseline
    put the centre in Hz right for 52% of the clips above (98% with the mean). Measured before
    with Grad-CAM on ``layer4`` on tone-burst clips without distractors, 8 models trained with
    different seeds and settings, 188 held-out clips: the map's centre of mass lay within 0.5 s of
    the burst's centre for 98% of the clips with the defaults, 95% with the logit, 90% with the
    zero baseline, 85% with both as in the paper. The cells are placed where a ResNet's receptive
    fields are centred (cell ``j`` of a block of stride ``s`` over pixel ``s j``); the usual
    bilinear upsampling puts them half a cell late (0.2 s for ``layer4``).
``"occlusion"``: occlusion sensitivity, M. D. Zeiler and R. Fergus, "Visualizing and
    Understanding Convolutional Networks", ECCV 2014. A patch of the image (default: 1/8 of its
    height by 1/16 of the window's length) is replaced by the background level of its rows (each
    row's median over the window; Zeiler and Fergus's grey square, the mean pixel, is an option),
    slid with a stride of half a patch, and the drop of the label's
    **log-odds** ``log(p / (1 - p))`` is recorded for every position; the map at a pixel is the
    mean drop (negative drops count as 0) over the patches that cover it. Zeiler and Fergus
    plotted the probability itself; a confident model's probability saturates at 1, so that a
    patch over half of the evidence changes nothing, while the log-odds keeps changing.
    Model-agnostic (only the outputs are used), resolution of the patch and stride (finer in
    frequency than Grad-CAM), and one forward pass per patch position: some hundreds per window,
    so slow on a CPU.

Limits
------
A map shows where the evidence *changes*. In a stationary sound (a snare roll, a drone) every
window looks alike, gets the same evidence, and Grad-CAM is left with the network's preference for
some positions within its window: a pattern repeating every window hop (half a window), whatever
the sound; seen on a 10 s FSDKaggle2018 snare roll (with Grad-CAM on ``layer4`` and windows
averaged). Where two segments of a long recording meet, no window spans the boundary, and the map
may step there. Occlusion does not have it (a patch removes the same sound
anywhere) but, on such a clip, little changes the prediction at all. Maps of a barely trained
model say little about the sound, and a model may rightly point at something else than the event
(the noise level, the absence of another label's sound): the test clips of
``tests/test_explain.py`` showed both.

From windows to the clip
------------------------
A clip is rendered and cut into windows exactly as :func:`audiospec_utils.infer.predict.predict_files`
does (same images, same height, same windows, same normalisation; a clip shorter than a window is
repeated to fill it; a recording longer than the run's ``segment_seconds`` is rendered as segments
of that length). The map of every window is placed back on the clip's frames by
:func:`audiospec_utils.explain.blend.blend_windows`: per frame, ``sum_w t_w e_w m_w / sum_w t_w``
over the windows ``w`` covering it, where ``e_w`` is the window's **evidence** for the label (its
odds relative to the clip's most convincing window, ``exp(L_w - max L)`` with ``L`` the window's
log-odds of the label, from the very probabilities ``predict`` averages; ``evidence=``) and
``t_w`` a **Hann taper** over the window (``taper=``), so that a window that does not hold the
sound fades instead of painting the clip, and windows meet without a step. Before (each window
counting once, a plain mean), on the known-answer clips above: Grad-CAM's centre in time was
within 0.5 s of the burst for 70 and 85% of the clips (two models), with hard steps every window
hop (the map's mean jump between adjacent frames at window edges 11.6 and 12.1 times that inside
windows); after, 100 and 100%, and 0.8 times (Grad-CAM on ``layer4`` still, to compare). Each
part alone, on the first model: the evidence without the taper 100% but steps of 14 times; the
taper without the evidence 70% and steps of 1.2 times; the probability ``p_w`` as the evidence
instead of the odds, 88%. A clip repeated within a window gets the
taper-weighted mean over its repetitions, and where segments overlap (the last segment of a
long recording) each counts by its windows' taper there. The label is the top label of the
averaged prediction unless one is asked for. The map is finally resized from the model's image
height to the spectrogram's rows (bilinear), turned so that row 0 is the **lowest** frequency (as
the spectrogram arrays of :mod:`audiospec_utils.features`, unlike the images), and divided by
its maximum, so its values lie in [0, 1] (all 0 when nothing speaks for the label).

Maps need a frequency axis: runs of kind ``"logmel"``, ``"stft"``, or ``"stack"`` of log-mel
channels (``logmel``, ``delta``, ``delta2``) can be explained; ``"mfcc"`` and ``"chroma"`` rows
are not frequencies and are refused with a :class:`~audiospec_utils.exceptions.ParameterError`.

Modules
-------
This module is the public face (every name below is importable from here) and does the clip and
file level: :func:`explain_clip`, :func:`explain_files`, :func:`explain_validation`. The steps have
their own modules: :mod:`audiospec_utils.explain.methods` (Grad-CAM/LayerCAM and occlusion on a
batch of windows), :mod:`audiospec_utils.explain.blend` (windows onto their images, weighted by
evidence and tapered; NumPy alone, for runtimes without torch), :mod:`audiospec_utils.explain.maps`
(images to the clip's grid, where a map lies, the map as sound) and
:mod:`audiospec_utils.explain.explanation` (the figures).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio.decode import load_audio
from ..exceptions import AudiospecError, ParameterError
from ..features.folders import write_json
from ..features.kinds import spectrogram
from ..learn.inference import predict_windows
from ..learn.run import Run
from .blend import EVIDENCE, TAPERS, blend_windows, window_evidence
from .maps import check_explainable, explained_audio, image_maps_to_clip, map_frequencies, map_stats, mean_map
from .methods import METHODS, WEIGHTINGS, gradcam, occlusion, resolve_layer

__all__ = ["plot_explanation", "plot_mean_maps", "EXPLAIN_JSON", "Explanation", "explain_clip", "explain_files", "save_explanation", "explain_validation"]

logger = logging.getLogger(__name__)

#: The table :func:`explain_files` writes in its output folder.
EXPLAIN_JSON = "explain.json"


# ----------------------------------------------------------------------------------------------
# Checks made before any work


def _check_method(method) -> None:
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def _check_options(learn, *, layer, score, baseline, weighting, fill, evidence, taper) -> None:
    """Refuse an unknown option of the methods or of the window blend before any file is read."""
    for name, value, allowed in (("score", score, ("log-odds", "logit")), ("baseline", baseline, ("mean", "zero")),
                                 ("weighting", weighting, WEIGHTINGS), ("fill", fill, ("median", "mean")),
                                 ("evidence", evidence, EVIDENCE), ("taper", taper, TAPERS)):
        if value not in allowed:
            raise ParameterError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    if not (isinstance(layer, str) and layer == "auto"):
        resolve_layer(learn.model, layer)


def _check_given_options(learn, options: dict) -> None:
    """:func:`_check_options` of the options given to :func:`explain_clip`, the others at its defaults."""
    import inspect

    names = ("layer", "score", "baseline", "weighting", "fill", "evidence", "taper")
    defaults = {k: p.default for k, p in inspect.signature(explain_clip).parameters.items() if k in names}
    _check_options(learn, **{**defaults, **{k: v for k, v in options.items() if k in names}})


def _check_label(label, vocab, where="the run") -> None:
    if label is not None and label not in vocab:
        shown = ", ".join(map(str, vocab[:20])) + (f", ... ({len(vocab)} in all)" if len(vocab) > 20 else "")
        raise ParameterError(f"label {label!r} is not one the model knows ({where}); its labels are: {shown}")


# ----------------------------------------------------------------------------------------------
# One clip


@dataclass
class Explanation:
    """The map of one clip for one label, with what is needed to show it and hear it.

    Attributes
    ----------
    file : str
    label : str
        The label explained (the top label unless one was asked for).
    probability : float
        The model's probability of `label` for the clip: the mean over its windows, as
        :func:`~audiospec_utils.infer.predict.predict_files` gives it.
    method : {"gradcam", "occlusion"}
    cam : np.ndarray, float32, shape (n_rows, n_frames)
        The map, values in [0, 1]; row 0 is the lowest frequency band, column ``i`` the STFT frame
        centred at ``i * hop_length / sr`` s: the shape and orientation of :attr:`spectrogram`.
    spectrogram : np.ndarray, float32, shape (n_rows, n_frames)
        The clip's spectrogram in dB (re its maximum) at the run's parameters (the log-mel for a
        stack).
    times : np.ndarray, float64, shape (n_frames,)
        Centre of each frame in seconds.
    freqs : np.ndarray, float64, shape (n_rows,)
        Centre frequency of each row in Hz (:func:`map_frequencies`).
    y : np.ndarray, float32, shape (n_samples,)
        The clip as the model heard it (mono, at `sr`).
    sr : int
        Sample rate in Hz: the run's ``sr``, or the file's own when the run keeps each file's rate.
    params : SpectrogramParams
    probs : np.ndarray, float32, shape (n_classes,)
        The clip's probabilities of every label (``vocab`` order).
    vocab : list of str
    n_windows : int
        Windows the clip was cut into.
    window_evidence : np.ndarray, float64, shape (n_windows,)
        The weight of each window's map in the clip's map, in [0, 1]
        (:func:`audiospec_utils.explain.blend.window_evidence`), windows in the order
        :func:`audiospec_utils.learn.inference.predict_windows` gives them.
    """

    file: str
    label: str
    probability: float
    method: str
    cam: np.ndarray
    spectrogram: np.ndarray
    times: np.ndarray
    freqs: np.ndarray
    y: np.ndarray
    sr: int
    params: object
    probs: np.ndarray
    vocab: list = field(default_factory=list)
    n_windows: int = 0
    window_evidence: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def duration(self) -> float:
        """Length of the clip in seconds."""
        return len(self.y) / self.sr

    def stats(self) -> dict:
        """:func:`map_stats` of the map: ``centre_s``, ``centre_hz``, ``share_above_half``."""
        return map_stats(self.cam, self.times, self.freqs)

    def row(self) -> dict:
        """The clip's row of ``explain.json`` (without the paths of the files written).

        Returns
        -------
        dict
            ``file``, ``label``, ``probability``, ``method``, ``centre_s`` (s), ``centre_hz`` (Hz),
            ``share_above_half`` (fraction of the map's cells), ``duration`` (s), ``sr`` (Hz),
            ``n_windows``; the centres are None for an all-zero map.
        """
        return {"file": self.file, "label": self.label, "probability": float(self.probability),
                "method": self.method, **self.stats(), "duration": float(self.duration), "sr": int(self.sr),
                "n_windows": int(self.n_windows)}

    def explained_audio(self) -> np.ndarray:
        """:func:`explained_audio` of this clip: float32, shape (n_samples,), at :attr:`sr`."""
        return explained_audio(self.y, self.sr, self.cam, self.params)

    def plot(self, ax=None, **kwargs):
        """:func:`plot_explanation` of this clip; returns the axes."""
        return plot_explanation(self, ax=ax, **kwargs)


def _display_spectrogram(y, sr, params) -> np.ndarray:
    """The spectrogram a map is drawn on: the run's own kind, or the log-mel of a stack."""
    shown = params if params.kind in ("logmel", "stft") else dataclasses.replace(params, kind="logmel", cmap=None)
    return spectrogram(y, sr, shown)


def _window_maps(learn, cache, rows, target: int, method: str, *, bs: int, **options):
    """The map of every window of the images `rows` of `cache` (:func:`gradcam` or :func:`occlusion`).

    Returns
    -------
    window_maps : np.ndarray, float32, shape (n_windows, height, length)
    windows : the windows' dataset (``rows``: image of each window, ``starts``: its first column)
    """
    cfg = learn.dls.config
    dl, _ = learn.dls.windows_dl(cache, rows, bs=bs)
    maps = []
    for b in dl:
        xb = b[0]
        if method == "gradcam":
            m, _ = gradcam(learn.model, xb, target, layer=options["layer"], score=options["score"],
                           baseline=options["baseline"], weighting=options["weighting"])
        else:
            m, _ = occlusion(learn.model, xb, target, patch=options["patch"], stride=options["stride"],
                             fill=options["fill"], bs=bs)
        maps.append(m)
    window_maps = np.concatenate(maps) if maps else np.zeros((0, cfg["height"], cfg["length"]), np.float32)
    return window_maps, dl.dataset


def explain_clip(run, path, *, label: str | None = None, method: str = "gradcam", learn=None, params=None,
                 layer="auto", score: str = "log-odds", baseline: str = "mean", weighting: str = "layercam",
                 patch=None, stride=None, fill: str = "median", evidence: str = "odds", taper: str = "hann",
                 bs: int = 64) -> Explanation:
    """The map of one audio file for one label: where the model finds the label in the clip.

    Parameters
    ----------
    run : Run or str or os.PathLike
        A trained run folder.
    path : str or os.PathLike
        An audio file (any format :func:`audiospec_utils.audio.decode.load_audio` reads, any length).
    label : str or None
        The label to explain; default the clip's top label.
    method : {"gradcam", "occlusion"}
        See the module docstring: a class activation map from gradients (fast; by default
        LayerCAM on the ResNet's ``layer2`` and ``layer3`` fused, 1/8 and 1/16 of the image's
        resolution), or occlusion of sliding patches (slow, finer, model-agnostic).
    learn : fastai.learner.Learner or None
        The run's learner, already loaded (saves loading ``export.pkl`` per call).
    params : SpectrogramParams or None
        Default: the run's (the map must be made on what the model saw).
    layer : {"auto", "layer1", "layer2", "layer3", "layer4"} or None or torch.nn.Module
        Gradient maps' block: ``"auto"`` (default) the geometric mean of the maps of the two deepest
        of the first three ResNet stages with at least 3 rows (``layer2`` and ``layer3`` from 33 px
        high images up); None the last block (as Grad-CAM's paper); see :func:`gradcam`.
    score, baseline :
        What is differentiated (default the label's log-odds) and what the weighted activations
        are compared with (default their mean over the window); see :func:`gradcam`.
    weighting : {"layercam", "gradcam"}
        One weight per position and channel (LayerCAM, Jiang et al. 2021; default) or per channel
        (Grad-CAM, Selvaraju et al. 2017). ``weighting="gradcam", layer=None`` is the paper's Grad-CAM.
    patch, stride, fill :
        Occlusion's patch and stride in pixels of the model's image, and what a patch is replaced
        with (see :func:`occlusion`).
    evidence : {"odds", "probability", "none"}
        How each window's map is weighted by the window's own evidence for the label
        (:func:`audiospec_utils.explain.blend.window_evidence`): by default its odds relative to the
        clip's most convincing window; ``"none"``: every window alike.
    taper : {"hann", "flat"}
        The weight over each window's columns when overlapping windows are blended
        (:func:`audiospec_utils.explain.blend.window_taper`); ``"flat"`` with ``evidence="none"``
        is the plain mean of the windows used before issue 30.
    bs : int
        Windows (or occluded copies) per forward pass.

    Returns
    -------
    Explanation
        ``cam`` of shape (n_rows, n_frames) float32 in [0, 1], aligned with ``spectrogram``;
        ``window_evidence`` the weight each window got.

    Raises
    ------
    ParameterError
        Before any file is read: `method` or an option unknown, a `layer` the model does not have,
        a `label` the model does not know (the message lists its labels), or a run whose images
        have no frequency axis (kind ``mfcc``, ``chroma``).
    AudioLoadError
        The file cannot be read (missing, empty, not audio...); the message names it.
    DatasetError
        The run folder cannot be used (no ``export.pkl``, no parameters).
    """
    _check_method(method)
    run = Run(run)
    learn = learn if learn is not None else run.learner()
    params = params if params is not None else run.spec_params
    check_explainable(params, run.path)
    vocab = [str(v) for v in learn.dls.vocab]
    _check_label(label, vocab, run.path)
    _check_options(learn, layer=layer, score=score, baseline=baseline, weighting=weighting, fill=fill,
                   evidence=evidence, taper=taper)

    y, sr = load_audio(path, sr=params.target_sr)           # the rate the run renders at (None: the file's own)
    seen = predict_windows(learn, path, params, bs=bs)          # the images the model sees, as predict_files
    out, cache, probs = seen.rendered, seen.cache, seen.probs
    if int(out["sr"]) != int(sr):
        raise AudiospecError(f"{path}: rendered at {out['sr']} Hz but loaded at {sr} Hz")
    rows = np.arange(len(cache))
    target = int(np.argmax(probs)) if label is None else vocab.index(label)
    window_maps, windows = _window_maps(learn, cache, rows, target, method, bs=bs, layer=layer, score=score,
                                        baseline=baseline, weighting=weighting, patch=patch, stride=stride,
                                        fill=fill)
    weights = window_evidence(seen.window_probs, target, evidence)
    image_maps, coverage = blend_windows(window_maps, windows.rows, windows.starts, cache.widths, evidence=weights,
                                         taper=taper)
    S = _display_spectrogram(y, sr, params)
    cam = image_maps_to_clip(image_maps, out["images"], params, y, sr, S.shape[1], coverage=coverage)
    if cam.shape != S.shape:
        raise AudiospecError(f"{path}: map of shape {cam.shape} but spectrogram of shape {S.shape}")
    peak = float(cam.max()) if cam.size else 0.0
    cam = (cam / peak if peak > 0 else np.zeros_like(cam)).astype(np.float32)
    hop = params.resolve(int(sr))["hop_length"]
    return Explanation(file=str(path), label=vocab[target], probability=float(probs[target]), method=method,
                       cam=cam, spectrogram=S, times=np.arange(S.shape[1]) * hop / sr,
                       freqs=map_frequencies(params, sr, S.shape[0]), y=y, sr=int(sr), params=params,
                       probs=probs, vocab=vocab, n_windows=len(window_maps), window_evidence=weights)


# ----------------------------------------------------------------------------------------------
# Many files


def _unique_stem(path, used: set) -> str:
    """A file name stem for `path` not in `used` (``<stem>``, ``<stem>_2``...); added to `used`."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem) or "clip"
    name, k = stem, 2
    while name in used:
        name, k = f"{stem}_{k}", k + 1
    used.add(name)
    return name


def save_explanation(expl: Explanation, out_dir, stem: str | None = None) -> dict:
    """Write one clip's map, picture and sound.

    Parameters
    ----------
    expl : Explanation
    out_dir : str or os.PathLike
        Created if needed.
    stem : str or None
        File name stem; default the audio file's.

    Returns
    -------
    dict
        ``cam_npy``, ``cam_png``, ``explained_wav``: the paths written: ``<stem>_cam.npy``
        (float32, shape (n_rows, n_frames)), ``<stem>_cam.png`` (:func:`plot_explanation`, 110
        dpi), ``<stem>_explained.wav`` (:func:`explained_audio`, 16-bit PCM at the clip's rate).
    """
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or Path(expl.file).stem
    paths = {"cam_npy": out_dir / f"{stem}_cam.npy", "cam_png": out_dir / f"{stem}_cam.png",
             "explained_wav": out_dir / f"{stem}_explained.wav"}
    np.save(paths["cam_npy"], expl.cam.astype(np.float32))
    ax = plot_explanation(expl)
    try:
        ax.figure.savefig(paths["cam_png"], dpi=110)
    finally:
        plt.close(ax.figure)
    sf.write(paths["explained_wav"], expl.explained_audio(), expl.sr, subtype="PCM_16")
    return {k: str(v) for k, v in paths.items()}


def explain_files(run, files, out_dir, *, label: str | None = None, method: str = "gradcam", learn=None,
                  params=None, progress: bool = False, **options) -> list[dict]:
    """Explain audio files: a map, a picture and a sound per file, and ``explain.json``.

    Parameters
    ----------
    run : Run or str or os.PathLike
        A trained run folder.
    files : sequence of str or os.PathLike
        Audio files of any length.
    out_dir : str or os.PathLike
        Where ``<stem>_cam.npy``, ``<stem>_cam.png``, ``<stem>_explained.wav`` and
        ``explain.json`` go (created). Two files of the same stem get ``<stem>_2``...
    label : str or None
        Explain this label for every file; default each file's top label.
    method : {"gradcam", "occlusion"}
    learn : fastai.learner.Learner or None
        The run's learner, already loaded.
    params : SpectrogramParams or None
        Default: the run's.
    progress : bool
        Log one line per file.
    **options
        ``layer``, ``score``, ``baseline``, ``weighting``, ``patch``, ``stride``, ``fill``,
        ``evidence``, ``taper``, ``bs`` of :func:`explain_clip`.

    Returns
    -------
    list of dict
        One row per file, in order, as written to ``explain.json``: :meth:`Explanation.row`
        (``file``, ``label``, ``probability``, ``method``, ``centre_s``, ``centre_hz``,
        ``share_above_half``...) plus the paths of :func:`save_explanation`; a file that failed
        gets ``{"file", "method", "error"}`` with the reason, and the others go on.

    Raises
    ------
    ParameterError
        Before any file is read: `method` or an option unknown, `label` not one of the run's
        labels (the message lists them), or a run whose images have no frequency axis.
    DatasetError
        The run folder cannot be used.
    """
    _check_method(method)
    run = Run(run)
    learn = learn if learn is not None else run.learner()
    params = params if params is not None else run.spec_params
    check_explainable(params, run.path)
    _check_label(label, [str(v) for v in learn.dls.vocab], run.path)
    _check_given_options(learn, options)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, used = [], set()
    for f in files:
        row = {"file": str(f), "method": method}
        try:
            expl = explain_clip(run, f, label=label, method=method, learn=learn, params=params, **options)
            row = {**expl.row(), **save_explanation(expl, out_dir, _unique_stem(f, used))}
        except AudiospecError as err:
            row["error"] = getattr(err, "reason", None) or str(err)
        except Exception as err:  # a decoder bug must not stop the other files
            row["error"] = f"unexpected error: {type(err).__name__}: {err}"
        if progress:
            logger.info("%s: %s", f, row.get("error") or f"{row['label']} ({row['probability']:.2f})")
        rows.append(row)
    write_json(out_dir / EXPLAIN_JSON, rows)
    return rows


# ----------------------------------------------------------------------------------------------
# Validation clips of a run (audiospec interpret --cam)



def explain_validation(run, learn, clips, probs, targets, losses, *, k: int = 9, method: str = "gradcam",
                       out_dir=None, max_per_label: int | None = 20, n_times: int = 100, **options) -> dict:
    """Maps of a run's validation clips: the top losses, and a mean map per label.

    Parameters
    ----------
    run : Run or str or os.PathLike
    learn : fastai.learner.Learner
    clips : pandas.DataFrame
        One row per validation clip with its audio ``path`` (as
        :func:`audiospec_utils.explain.interpret.clip_embeddings` gives them), aligned with the arrays.
    probs : np.ndarray, shape (n_clips, n_classes)
    targets : np.ndarray of int, shape (n_clips,)
    losses : np.ndarray, shape (n_clips,)
    k : int
        Top losses explained, worst first, each for the label the model gave it (what it heard).
    method : {"gradcam", "occlusion"}
    out_dir : str or os.PathLike or None
        Default ``RUN/cam``: ``top_losses/`` (the files of :func:`explain_files`),
        ``mean_maps.npy`` (float32, shape (n_labels, n_rows, n_times), labels in the order of
        ``mean_maps.json``), ``mean_maps.json`` and ``mean_maps.png``.
    max_per_label : int or None
        At most this many correctly predicted clips per label enter its mean (the first ones);
        None: all.
    n_times : int
        Points of the common time grid (:func:`mean_map`).
    **options
        Passed to :func:`explain_clip`.

    Returns
    -------
    dict
        ``top_losses`` (the rows of ``top_losses/explain.json``), ``mean_maps`` (label -> number
        of clips, ``centre_rel`` (centre of mass in fraction of the clip) and ``centre_hz``),
        ``figure`` (path of ``mean_maps.png``), ``errors`` (clips that could not be explained).
    """
    _check_method(method)
    run = Run(run)
    params = run.spec_params
    check_explainable(params, run.path)
    _check_given_options(learn, options)
    out_dir = Path(out_dir) if out_dir is not None else run.path / "cam"
    vocab = [str(v) for v in learn.dls.vocab]
    probs, targets, losses = np.asarray(probs), np.asarray(targets), np.asarray(losses)
    common = dict(method=method, learn=learn, params=params, **options)
    top = _explain_top_losses(run, clips, targets, losses, vocab, k, out_dir / "top_losses", **common)
    cams, freqs, errors = _maps_of_correct_clips(run, clips, probs, targets, vocab, max_per_label, **common)
    summary, figure = _save_mean_maps(cams, freqs, vocab, n_times, out_dir)
    write_json(out_dir / "mean_maps.json", {"labels": list(summary), "method": method, "n_times": n_times,
                                            "time": "fraction of each clip's duration", "per_label": summary,
                                            "errors": errors})
    return {"top_losses": top, "mean_maps": summary, "figure": figure, "errors": errors}


def _explain_top_losses(run, clips, targets, losses, vocab, k: int, out_dir: Path, **common) -> list[dict]:
    """:func:`explain_files` of the `k` worst clips into `out_dir`, each row with its ``true`` label and ``loss``."""
    order = np.argsort(-losses, kind="stable")[:k]
    top = explain_files(run, [clips["path"].iloc[i] for i in order], out_dir, **common)
    for row, i in zip(top, order):
        row["true"] = vocab[targets[i]] if targets[i] >= 0 else None
        row["loss"] = float(losses[i])
    write_json(out_dir / EXPLAIN_JSON, top)
    return top


def _maps_of_correct_clips(run, clips, probs, targets, vocab, max_per_label, **common):
    """The maps of the correctly predicted clips, for their label: (label -> maps, row frequencies, errors)."""
    correct = np.flatnonzero((targets >= 0) & (probs.argmax(axis=1) == targets))
    cams, errors, freqs = {}, [], None
    for i in correct:
        lab = vocab[targets[i]]
        if max_per_label is not None and len(cams.get(lab, [])) >= max_per_label:
            continue
        try:
            e = explain_clip(run, clips["path"].iloc[i], label=lab, **common)
        except AudiospecError as err:
            errors.append({"file": str(clips["path"].iloc[i]), "error": str(err)})
            continue
        cams.setdefault(lab, []).append(e.cam)
        freqs = e.freqs if freqs is None else freqs
    return cams, freqs, errors


def _save_mean_maps(cams: dict, freqs, vocab, n_times: int, out_dir: Path):
    """``mean_maps.npy`` and ``mean_maps.png`` of the labels with maps (in `vocab` order): (summary, figure path)."""
    import matplotlib.pyplot as plt

    labels = [lab for lab in vocab if lab in cams]
    means = {lab: mean_map(cams[lab], n_times) for lab in labels}
    out_dir.mkdir(parents=True, exist_ok=True)
    summary, figure = {}, None
    if labels:
        np.save(out_dir / "mean_maps.npy", np.stack([means[lab] for lab in labels]).astype(np.float32))
        rel = (np.arange(n_times) + 0.5) / n_times
        for lab in labels:
            s = map_stats(means[lab], rel, freqs)
            summary[lab] = {"n_clips": len(cams[lab]), "centre_rel": s["centre_s"], "centre_hz": s["centre_hz"]}
        fig = plot_mean_maps(means, freqs, {lab: len(cams[lab]) for lab in labels})
        figure = str(out_dir / "mean_maps.png")
        fig.savefig(figure, dpi=110)
        plt.close(fig)
    return summary, figure


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
