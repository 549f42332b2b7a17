"""See and hear what a trained model listens to: class activation maps of whole clips.

For one audio file and one label, :func:`explain_clip` gives a **map** of the clip's
time-frequency plane, aligned frame for frame and band for band with the clip's own spectrogram at
the run's parameters, that says where the evidence for the label lies. :func:`explain_files` does
it for many files and writes, per file, the map (``<stem>_cam.npy``), the spectrogram with the map
over it (``<stem>_cam.png``), the sound kept where the map is high (``<stem>_explained.wav``) and
one row of ``explain.json``.

Two methods
-----------
``"gradcam"`` (default): Grad-CAM, R. R. Selvaraju et al., "Grad-CAM: Visual Explanations from
    Deep Networks via Gradient-based Localization", ICCV 2017. The activations ``A^k`` of the
    network's **last convolutional block** (the body's last stage, ``layer4`` of a ResNet: what
    fastbook chapter 18 hooks as ``learn.model[0]``) are captured with fastai's
    :func:`~fastai.callback.hook.hook_output`; the gradient of the label's score ``y^c`` with
    respect to them gives one weight per channel ``alpha_k = mean over positions of dy^c/dA^k``,
    and the map is ``ReLU(sum_k alpha_k A^k)``, interpolated linearly to the input image between
    the cells' centres (:func:`gradcam`). One forward and one backward pass per window: fast.
    Its resolution is that of the block: a ResNet divides both axes by **32**, so one cell of the
    map is 32 frames of time (0.37 s at 44.1 kHz with a hop of 512 samples) by 1/32 of the image
    height in frequency (a 64 px image has 2 cells from bottom to top): good for *when*, coarse
    for *which frequencies*.

    Two defaults differ from the paper, both options of :func:`gradcam`: ``y^c`` is the label's
    log-odds ``log(p / (1 - p))`` rather than its logit (a softmax ignores what raises every logit
    alike; ``score="logit"``), and the weighted sum is compared with its mean over the window
    rather than with 0 before the ReLU (fastai's head compares pooled features with their
    BatchNorm running means; ``baseline="zero"``). On tone-burst clips like those of
    ``tests/test_explain.py`` (two labels, without its "noise" one), 8 models trained with
    different seeds and settings, 188 held-out clips: the map's centre of mass lay within 0.5 s of
    the burst's centre for 98% of the clips with the defaults, 95% with the logit, 90% with the
    zero baseline, 85% with both as in the paper (75% and 79% for two of the models); on the
    three-label clips of the test itself, 4 seeds: 92 to 100% with the defaults, 54 to 67% with
    the zero baseline. The cells are placed where a ResNet's receptive fields are centred (cell
    ``j`` over pixel ``32 j``); the usual bilinear upsampling puts them half a cell late, and moved
    the maps by about 0.2 s on those clips.
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
window looks alike and Grad-CAM is left with the network's preference for some positions within
its window: a pattern repeating every window hop (half a window), whatever the sound; seen on a
10 s FSDKaggle2018 snare roll. Occlusion does not have it (a patch removes the same sound
anywhere) but, on such a clip, little changes the prediction at all. Maps of a barely trained
model say little about the sound, and a model may rightly point at something else than the event
(the noise level, the absence of another label's sound): the test clips of
``tests/test_explain.py`` showed both.

From windows to the clip
------------------------
A clip is rendered and cut into windows exactly as :func:`audiospec_utils.predict.predict_files`
does (same images, same height, same windows, same normalisation; a clip shorter than a window is
repeated to fill it). The map of every window is placed back on the clip's frames, a frame
covered by several windows (they overlap by half) gets their mean, each window counting once as
in the averaged prediction, and a clip repeated within a window gets the mean over its
repetitions. The label is the top label of the averaged prediction unless one is asked for. The
map is finally resized from the model's image height to the spectrogram's rows (bilinear), turned
so that row 0 is the **lowest** frequency (as the spectrogram arrays of
:mod:`audiospec_utils.spectrogram`, unlike the images), and divided by its maximum, so its values
lie in [0, 1] (all 0 when nothing speaks for the label).

Maps need a frequency axis: runs of kind ``"logmel"``, ``"stft"``, or ``"stack"`` of log-mel
channels (``logmel``, ``delta``, ``delta2``) can be explained; ``"mfcc"`` and ``"chroma"`` rows
are not frequencies and are refused with a :class:`~audiospec_utils.exceptions.ParameterError`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .exceptions import AudiospecError, ParameterError

__all__ = [
    "METHODS",
    "EXPLAIN_JSON",
    "Explanation",
    "check_explainable",
    "gradcam",
    "occlusion",
    "explain_clip",
    "explain_files",
    "save_explanation",
    "explained_audio",
    "map_stats",
    "map_frequencies",
    "plot_explanation",
    "mean_map",
    "explain_validation",
]

logger = logging.getLogger(__name__)

#: The methods of :func:`explain_clip`.
METHODS = ("gradcam", "occlusion")

#: The table :func:`explain_files` writes in its output folder.
EXPLAIN_JSON = "explain.json"

#: Stack channels whose rows are the mel bands of the log-mel.
_MEL_CHANNELS = ("logmel", "delta", "delta2")


# ----------------------------------------------------------------------------------------------
# What can be explained


def check_explainable(params, where="the run") -> None:
    """Refuse spectrogram parameters whose image rows are not frequencies.

    Parameters
    ----------
    params : SpectrogramParams
        The run's parameters.
    where : str or os.PathLike
        Named in the message (the run folder).

    Raises
    ------
    ParameterError
        Kind ``"mfcc"`` (rows are cepstral coefficients), ``"chroma"`` (pitch classes), or a
        ``"stack"`` with a channel other than ``logmel``, ``delta``, ``delta2``: the map could
        not be placed on frequencies nor turned back into sound.
    """
    if params.kind in ("logmel", "stft"):
        return
    if params.kind == "stack" and all(c in _MEL_CHANNELS for c in params.channels):
        return
    what = f"kind={params.kind!r}" + (f" with channels {','.join(params.channels)}" if params.kind == "stack" else "")
    raise ParameterError(
        f"{where}: cannot explain a run trained on {what}: its image rows are not frequencies, so a map "
        f"could not be placed on the spectrogram nor turned back into sound. Maps need kind 'logmel' or "
        f"'stft' (or a 'stack' of {', '.join(_MEL_CHANNELS)})")


def _check_method(method) -> None:
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def _check_label(label, vocab, where="the run") -> None:
    if label is not None and label not in vocab:
        shown = ", ".join(map(str, vocab[:20])) + (f", ... ({len(vocab)} in all)" if len(vocab) > 20 else "")
        raise ParameterError(f"label {label!r} is not one the model knows ({where}); its labels are: {shown}")


# ----------------------------------------------------------------------------------------------
# The two methods, on a batch of normalised windows


def _last_block(model):
    """The last convolutional block: the last child of the body (``model[0]``) of a fastai vision model."""
    import torch.nn as nn

    body = model[0] if isinstance(model, nn.Sequential) and len(model) > 1 else model
    children = list(body.children())
    if not children:
        raise ParameterError("the model has no convolutional body to hook (expected fastai's vision_learner layout)")
    return children[-1]


class _EvalMode:
    """The model in eval mode (BatchNorm with its running statistics, no dropout) for a while."""

    def __init__(self, model):
        self.model, self.was_training = model, model.training

    def __enter__(self):
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        self.model.train(self.was_training)


def gradcam(model, x, target: int, *, layer=None, score: str = "log-odds", baseline: str = "mean"):
    """Grad-CAM maps of a batch of images for one class (Selvaraju et al., ICCV 2017).

    Parameters
    ----------
    model : torch.nn.Module
        A fastai vision model (``learn.model``: body, then head); it is put in eval mode for the
        call and given back in its former mode.
    x : torch.Tensor, float32, shape (n, 3, height, length)
        Normalised images as the model takes them (a batch of
        :meth:`~audiospec_utils.dataloaders.SpectrogramDataLoaders.windows_dl`).
    target : int
        Class index (in ``learn.dls.vocab``).
    layer : torch.nn.Module or None
        The block whose activations are weighted; default the last convolutional block (the body's
        last stage, ``layer4`` of a ResNet: 1/32 of the input size along both axes).
    score : {"log-odds", "logit"}
        What is differentiated. ``"logit"``: the label's score ``y^c`` before the softmax, as in
        the paper. ``"log-odds"`` (default): ``log(p / (1 - p)) = y^c - log(sum_{j != c} exp y^j)``
        (``y^c - y^other`` with two labels). A softmax ignores a constant added to every logit, so
        ``y^c`` alone also credits what raises every label (a loud clip, the background texture);
        the log-odds is what the label's probability depends on.
    baseline : {"mean", "zero"}
        What the weighted sum ``sum_k alpha_k A^k`` is compared with before the ReLU. ``"zero"``:
        nothing, as in the paper. ``"mean"`` (default): its mean over the window's positions, so
        the map shows where the window speaks for the label more than it does on average. fastai's
        head normalises the pooled features with BatchNorm (their running means subtracted) before
        its linear layers, so a position counts by its activation relative to a baseline, not to
        zero; where every position's weighted sum is negative (the event only less so than the
        rest), the paper's map is all 0 although the gradient locates the event. Seen on 2 of 24
        tone-burst test clips of one model; see the module docstring for the measured effect.

    Returns
    -------
    maps : np.ndarray, float32, shape (n, height, length)
        ``ReLU(sum_k alpha_k A^k - baseline)``, interpolated linearly to the input size between the cells'
        centres (cell ``j`` over pixel ``32 j``, see :func:`_upsampling`); not normalised (the
        units of the logit times activations): windows can be compared with one another.
    logits : np.ndarray, float32, shape (n, n_classes)

    Raises
    ------
    ParameterError
        An unknown `score` or `baseline`.

    Notes
    -----
    The activations are captured with fastai's ``hook_output`` (a forward hook, kept in the graph
    with ``detach=False``) and their gradient taken with ``torch.autograd.grad``: the same numbers
    as the backward hook of fastbook chapter 18, without PyTorch's deprecated module backward
    hooks.
    """
    import torch
    from fastai.callback.hook import hook_output

    if score not in ("log-odds", "logit"):
        raise ParameterError(f"score must be 'log-odds' or 'logit', got {score!r}")
    if baseline not in ("mean", "zero"):
        raise ParameterError(f"baseline must be 'mean' or 'zero', got {baseline!r}")
    layer = _last_block(model) if layer is None else layer
    with _EvalMode(model), torch.enable_grad(), hook_output(layer, detach=False) as hook:
        out = model(x)
        acts = hook.stored
        y = out[:, int(target)].float() if score == "logit" else _log_odds(out, int(target))
        (grads,) = torch.autograd.grad(y.sum(), acts)  # windows are independent: the sum's gradient is each one's
        alpha = grads.float().mean(dim=(2, 3), keepdim=True)            # (n, channels, 1, 1)
        cam = (alpha * acts.float()).sum(dim=1)                         # (n, h', w')
        if baseline == "mean":
            cam = cam - cam.mean(dim=(1, 2), keepdim=True)
        cam = torch.relu(cam)
    cam = cam.detach().cpu().numpy().astype(np.float64)
    rows = _upsampling(x.shape[-2], cam.shape[1])                       # (height, h')
    cols = _upsampling(x.shape[-1], cam.shape[2])                       # (length, w')
    cam = np.einsum("ih,nhw,jw->nij", rows, cam, cols)
    return cam.astype(np.float32), out.detach().float().cpu().numpy()


def _upsampling(size: int, cells: int) -> np.ndarray:
    """Linear interpolation from `cells` feature cells to `size` input pixels, shape (size, cells).

    Cell ``j`` of a torchvision ResNet block lies over input pixel ``stride * j`` (every strided
    convolution and pooling is padded so that output ``j`` is centred on input ``2 j``), with
    ``stride`` the power of 2 nearest ``size / cells`` (32 for the last block). The map is linear
    between those centres and constant beyond the first and the last. ``F.interpolate(...,
    align_corners=False)`` would put cell ``j`` at ``stride * (j + 0.5)``: half a cell late, 0.19 s
    at 44.1 kHz with a hop of 512 samples.
    """
    if cells == 1:
        return np.ones((size, 1))
    stride = 2.0 ** round(math.log2(size / cells))
    centres = stride * np.arange(cells)
    eye = np.eye(cells)
    return np.stack([np.interp(np.arange(size), centres, eye[j]) for j in range(cells)], axis=1)


def _log_odds(logits, target: int):
    """``log(p / (1 - p))`` of class `target` from logits, shape (n,), computed stably."""
    import torch

    others = logits.float().clone()
    others[:, target] = float("-inf")
    if logits.shape[1] == 1:
        return logits[:, 0].float()
    return logits[:, target].float() - torch.logsumexp(others, dim=1)


def _positions(size: int, patch: int, stride: int) -> list[int]:
    """Starts of a patch slid over `size` pixels, the last one flush with the end."""
    if patch >= size:
        return [0]
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def occlusion(model, x, target: int, *, patch=None, stride=None, fill: str = "median", bs: int = 64):
    """Occlusion-sensitivity maps of a batch of images for one class (Zeiler and Fergus, ECCV 2014).

    Parameters
    ----------
    model : torch.nn.Module
        Any model taking `x` and returning logits (eval mode is set for the call).
    x : torch.Tensor, float32, shape (n, 3, height, length)
        Normalised images (0 is the mean pixel).
    target : int
        Class index.
    patch : (int, int) or None
        Patch height and width in pixels; default ``(max(1, height // 8), max(2, length // 16))``:
        1/8 of the mel bands by 1/16 of the window (0.125 s of a 2 s window).
    stride : (int, int) or None
        Step between patch positions in pixels; default half a patch. The last position of each
        axis is flush with the end, so every pixel is covered.
    fill : {"median", "mean"}
        What a patch is replaced with. ``"median"`` (default): each pixel row's median over the
        window, i.e. the band's background level: a sound event under the patch is removed and the
        stationary background kept. ``"mean"``: 0, the data set's mean pixel, Zeiler and Fergus's
        grey square; on a spectrogram that grey is louder than a quiet background and can itself
        look like a sound (a band of energy), which the model may take as evidence.
    bs : int
        Occluded copies per forward pass.

    Returns
    -------
    maps : np.ndarray, float32, shape (n, height, length)
        Mean drop of the class's log-odds over the patches covering each pixel, rises counted as
        0; in log-odds units (not normalised).
    logits : np.ndarray, float32, shape (n, n_classes)
        Of the unoccluded images.

    Raises
    ------
    ParameterError
        A patch or stride that is not a pair of positive integers, or an unknown `fill`.

    Notes
    -----
    Cost: one forward pass per patch position and image; the defaults make about 15 x 31 = 465
    per window, whatever its size.
    """
    import torch

    n, _, height, length = x.shape
    patch = (max(1, height // 8), max(2, length // 16)) if patch is None else tuple(patch)
    stride = (max(1, patch[0] // 2), max(1, patch[1] // 2)) if stride is None else tuple(stride)
    if fill not in ("median", "mean"):
        raise ParameterError(f"fill must be 'median' or 'mean', got {fill!r}")
    for name, v in (("patch", patch), ("stride", stride)):
        if len(v) != 2 or not all(isinstance(i, (int, np.integer)) and i > 0 for i in v):
            raise ParameterError(f"{name} must be two positive integers (height, width) in pixels, got {v!r}")
    ph, pw = min(int(patch[0]), height), min(int(patch[1]), length)
    boxes = [(t, l) for t in _positions(height, ph, int(stride[0])) for l in _positions(length, pw, int(stride[1]))]
    maps = np.zeros((n, height, length), np.float32)
    with _EvalMode(model), torch.no_grad():
        logits = model(x).float()
        base = _log_odds(logits, target)
        for i in range(n):
            acc = torch.zeros(height, length)
            cnt = torch.zeros(height, length)
            value = x[i].median(dim=-1).values[:, :, None] if fill == "median" else \
                torch.zeros(x.shape[1], height, 1, dtype=x.dtype, device=x.device)   # (channels, height, 1)
            for b in range(0, len(boxes), bs):
                chunk = boxes[b:b + bs]
                xb = x[i:i + 1].repeat(len(chunk), 1, 1, 1)
                for j, (t, l) in enumerate(chunk):
                    xb[j, :, t:t + ph, l:l + pw] = value[:, t:t + ph]
                drop = (base[i] - _log_odds(model(xb), target)).clamp(min=0).cpu()
                for j, (t, l) in enumerate(chunk):
                    acc[t:t + ph, l:l + pw] += drop[j]
                    cnt[t:t + ph, l:l + pw] += 1
            maps[i] = (acc / cnt.clamp(min=1)).numpy()
    return maps, logits.cpu().numpy()


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
        :func:`~audiospec_utils.predict.predict_files` gives it.
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


def map_frequencies(params, sr: int, n_rows: int | None = None) -> np.ndarray:
    """Centre frequency in Hz of each row of a map (and of the spectrogram) at `params` and `sr`.

    Parameters
    ----------
    params : SpectrogramParams
    sr : int
        Sample rate in Hz.
    n_rows : int or None
        Rows of the spectrogram (for ``"stft"``, the bins kept up to ``fmax``); default from the
        parameters.

    Returns
    -------
    np.ndarray, float64, shape (n_rows,)
        Log-mel (and stack): the centres of librosa's Slaney mel filters between ``fmin`` and
        ``fmax`` (``librosa.mel_frequencies(n_mels + 2, fmin, fmax)[1:-1]``); STFT: bin ``k`` at
        ``k * sr / n_fft``. Increasing: row 0 is the lowest.

    Raises
    ------
    ParameterError
        The kind has no frequency axis (see :func:`check_explainable`) or `params` is impossible at `sr`.
    """
    import librosa

    check_explainable(params, "these parameters")
    r = params.resolve(int(sr))
    if params.kind == "stft":
        n = (min(r["n_fft"] // 2 + 1, int(math.floor(r["fmax"] * r["n_fft"] / sr)) + 1) if n_rows is None
             else int(n_rows))
        return np.arange(n, dtype=np.float64) * sr / r["n_fft"]
    return librosa.mel_frequencies(n_mels=r["n_mels"] + 2, fmin=r["fmin"], fmax=r["fmax"])[1:-1].astype(np.float64)


def map_stats(cam: np.ndarray, times: np.ndarray, freqs: np.ndarray) -> dict:
    """Where a map's weight lies: its centre of mass in seconds and in Hz, and how spread it is.

    Parameters
    ----------
    cam : np.ndarray, shape (n_rows, n_frames), values >= 0
    times : np.ndarray, shape (n_frames,)
        Frame centres in seconds.
    freqs : np.ndarray, shape (n_rows,)
        Row centres in Hz, increasing.

    Returns
    -------
    dict
        ``centre_s``: ``sum(cam * t) / sum(cam)`` in seconds. ``centre_hz``: the centre of mass
        along the map's own rows (mel bands for a log-mel, where a row is a fixed step of pitch
        rather than of Hz), converted to Hz by interpolating `freqs`. ``share_above_half``: the
        fraction of the map's cells at or above half its maximum (small: a focused map; 1: flat).
        All None when the map is all 0.
    """
    cam = np.asarray(cam, dtype=np.float64)
    total = float(cam.sum()) if cam.size else 0.0
    if not total > 0 or not np.isfinite(total):
        return {"centre_s": None, "centre_hz": None, "share_above_half": None}
    centre_s = float((cam.sum(axis=0) * np.asarray(times, dtype=np.float64)).sum() / total)
    row = float((cam.sum(axis=1) * np.arange(cam.shape[0])).sum() / total)
    centre_hz = float(np.interp(row, np.arange(len(freqs)), np.asarray(freqs, dtype=np.float64)))
    share = float((cam >= 0.5 * cam.max()).mean())
    return {"centre_s": centre_s, "centre_hz": centre_hz, "share_above_half": share}


def _resize_rows(a: np.ndarray, height: int) -> np.ndarray:
    """Resize a float map along its rows only (bilinear, as the images were resized)."""
    if a.shape[0] == height:
        return a
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F")
    return np.asarray(img.resize((a.shape[1], int(height)), Image.Resampling.BILINEAR), dtype=np.float32)


def _resample_columns(a: np.ndarray, n: int) -> np.ndarray:
    """Linear resampling of a map's columns to `n` (undoing a render's fixed ``width``)."""
    w = a.shape[1]
    if w == n:
        return a
    pos = (np.arange(n) + 0.5) * w / n - 0.5           # where each of the n frames lies among the w columns
    return np.stack([np.interp(pos, np.arange(w), r) for r in a]).astype(np.float32)


def _place_windows(window_maps, rows, starts, widths) -> list[np.ndarray]:
    """Window maps back onto their images: per column, the mean over the windows that cover it.

    Parameters
    ----------
    window_maps : np.ndarray, shape (n_windows, height, length)
    rows, starts : np.ndarray of int, shape (n_windows,)
        Image of each window and its first column (as the windows DataLoader cuts them).
    widths : np.ndarray of int, shape (n_images,)

    Returns
    -------
    list of np.ndarray, float32, shape (height, width_i)
        A window longer than its image (a repeated clip) wraps around: its repetitions are averaged.
    """
    n_win, height, length = window_maps.shape
    acc = [np.zeros((height, int(w)), np.float64) for w in widths]
    cnt = [np.zeros(int(w), np.float64) for w in widths]
    for m, r, s in zip(window_maps, rows, starts):
        cols = (int(s) + np.arange(length)) % int(widths[r])
        np.add.at(acc[r].T, cols, m.T)
        np.add.at(cnt[r], cols, 1.0)
    return [(a / np.maximum(c, 1.0)).astype(np.float32) for a, c in zip(acc, cnt)]


def _segment_frames(params, seg_index: int, n_seg_frames: int, n_samples: int, hop: int, sr: int) -> np.ndarray:
    """The clip frame of each frame of a segment of the clip-length policy (-1: not in the clip)."""
    i = np.arange(n_seg_frames, dtype=np.int64)
    if params.clip_policy == "full":
        return i
    n = max(1, int(round(params.duration * sr)))
    if params.clip_policy == "windows":
        samples = seg_index * n + i * hop
    elif params.clip_policy == "loop" and n_samples > 0:
        samples = (i * hop) % n_samples
    else:  # pad
        samples = i * hop
    frames = np.rint(samples / hop).astype(np.int64)
    return np.where(samples < max(n_samples, 1), frames, -1)


def _n_frames(n_samples: int, params, sr: int) -> int:
    from .spectrogram import _n_frames

    r = params.resolve(int(sr))
    return _n_frames(int(n_samples), r["n_fft"], r["hop_length"])


def _to_clip(image_maps, images, params, y, sr, n_clip_frames: int) -> np.ndarray:
    """Image maps (model height, image width) -> one map on the clip's spectrogram grid (row 0 lowest)."""
    from .spectrogram import fit_length

    hop = params.resolve(int(sr))["hop_length"]
    segments = fit_length(y, sr, params)
    if len(segments) != len(image_maps):
        raise AudiospecError(f"{len(image_maps)} images but {len(segments)} segments: the render changed under the map")
    n_rows = images[0].shape[0]
    acc = np.zeros((n_rows, n_clip_frames), np.float64)
    cnt = np.zeros(n_clip_frames, np.float64)
    for k, (m, seg) in enumerate(zip(image_maps, segments)):
        m = _resize_rows(m, n_rows)[::-1]                        # image row 0 is the highest frequency
        n_seg = _n_frames(len(seg), params, sr)
        m = _resample_columns(m, n_seg)                          # a fixed render width back to frames
        frames = _segment_frames(params, k, n_seg, len(y), hop, sr)
        keep = (frames >= 0) & (frames < n_clip_frames)
        np.add.at(acc.T, frames[keep], m[:, keep].T)
        np.add.at(cnt, frames[keep], 1.0)
    out = acc / np.maximum(cnt, 1.0)
    return out.astype(np.float32)


def _display_spectrogram(y, sr, params) -> np.ndarray:
    import dataclasses

    from .spectrogram import spectrogram

    shown = params if params.kind in ("logmel", "stft") else dataclasses.replace(params, kind="logmel", cmap=None)
    return spectrogram(y, sr, shown)


def explain_clip(run, path, *, label: str | None = None, method: str = "gradcam", learn=None, params=None,
                 layer=None, score: str = "log-odds", baseline: str = "mean", patch=None, stride=None,
                 fill: str = "median",
                 bs: int = 64) -> Explanation:
    """The map of one audio file for one label: where the model finds the label in the clip.

    Parameters
    ----------
    run : Run or str or os.PathLike
        A trained run folder.
    path : str or os.PathLike
        An audio file (any format :func:`audiospec_utils.audio.load_audio` reads, any length).
    label : str or None
        The label to explain; default the clip's top label.
    method : {"gradcam", "occlusion"}
        See the module docstring: Grad-CAM on the last convolutional block (fast, 1/32 of the
        image's resolution), or occlusion of sliding patches (slow, finer).
    learn : fastai.learner.Learner or None
        The run's learner, already loaded (saves loading ``export.pkl`` per call).
    params : SpectrogramParams or None
        Default: the run's (the map must be made on what the model saw).
    layer, score, baseline :
        Grad-CAM's block (default the last), what it differentiates (default the label's
        log-odds) and what the weighted activations are compared with (default their mean over
        the window); see :func:`gradcam`.
    patch, stride, fill :
        Occlusion's patch and stride in pixels of the model's image, and what a patch is replaced
        with (see :func:`occlusion`).
    bs : int
        Windows (or occluded copies) per forward pass.

    Returns
    -------
    Explanation
        ``cam`` of shape (n_rows, n_frames) float32 in [0, 1], aligned with ``spectrogram``.

    Raises
    ------
    ParameterError
        `method` unknown, a `label` the model does not know (the message lists its labels), or a
        run whose images have no frequency axis (kind ``mfcc``, ``chroma``).
    AudioLoadError
        The file cannot be read (missing, empty, not audio...); the message names it.
    DatasetError
        The run folder cannot be used (no ``export.pkl``, no parameters).
    """
    from .audio import load_audio
    from .folders import Run
    from .image_cache import SpectrogramCache
    from .inference import window_probabilities
    from .spectrogram import render_clip

    _check_method(method)
    run = Run(run)
    learn = learn if learn is not None else run.learner()
    params = params if params is not None else run.spec_params
    check_explainable(params, run.path)
    vocab = [str(v) for v in learn.dls.vocab]
    _check_label(label, vocab, run.path)
    cfg = learn.dls.config

    y, sr = load_audio(path, sr=params.target_sr)           # the rate the run renders at (None: the file's own)
    out = render_clip(path, None, params)                         # the images the model sees, as predict_files
    if int(out["sr"]) != int(sr):
        raise AudiospecError(f"{path}: rendered at {out['sr']} Hz but loaded at {sr} Hz")
    cache = SpectrogramCache.from_arrays(out["images"], cfg["height"])
    rows = np.arange(len(cache))
    window_probs, _ = window_probabilities(learn, cache, rows, bs=bs)
    probs = window_probs.mean(axis=0)                            # exactly predict_files' average
    target = int(np.argmax(probs)) if label is None else vocab.index(label)
    dl, _ = learn.dls.windows_dl(cache, rows, bs=bs)
    maps = []
    for b in dl:
        xb = b[0]
        if method == "gradcam":
            m, _ = gradcam(learn.model, xb, target, layer=layer, score=score, baseline=baseline)
        else:
            m, _ = occlusion(learn.model, xb, target, patch=patch, stride=stride, fill=fill, bs=bs)
        maps.append(m)
    window_maps = np.concatenate(maps) if maps else np.zeros((0, cfg["height"], cfg["length"]), np.float32)
    image_maps = _place_windows(window_maps, dl.dataset.rows, dl.dataset.starts, cache.widths)
    S = _display_spectrogram(y, sr, params)
    cam = _to_clip(image_maps, out["images"], params, y, sr, S.shape[1])
    if cam.shape != S.shape:
        raise AudiospecError(f"{path}: map of shape {cam.shape} but spectrogram of shape {S.shape}")
    peak = float(cam.max()) if cam.size else 0.0
    cam = (cam / peak if peak > 0 else np.zeros_like(cam)).astype(np.float32)
    hop = params.resolve(int(sr))["hop_length"]
    return Explanation(file=str(path), label=vocab[target], probability=float(probs[target]), method=method,
                       cam=cam, spectrogram=S, times=np.arange(S.shape[1]) * hop / sr,
                       freqs=map_frequencies(params, sr, S.shape[0]), y=y, sr=int(sr), params=params,
                       probs=probs, vocab=vocab, n_windows=len(window_maps))


# ----------------------------------------------------------------------------------------------
# Hearing a map


def _bin_weights(cam: np.ndarray, params, sr: int) -> np.ndarray:
    """A map on the spectrogram's rows -> weights on the STFT's bins, shape (n_fft // 2 + 1, n_frames)."""
    from .spectrogram import _mel_basis

    r = params.resolve(int(sr))
    n_bins = r["n_fft"] // 2 + 1
    if params.kind == "stft":
        w = np.zeros((n_bins, cam.shape[1]), np.float32)
        w[:cam.shape[0]] = cam
        return w
    basis = _mel_basis(int(sr), r["n_fft"], r["n_mels"], r["fmin"], r["fmax"]).astype(np.float64)
    peak = basis.max(axis=1, keepdims=True)
    tri = basis / np.where(peak > 0, peak, 1.0)                  # each band's triangle, peak 1
    cover = tri.sum(axis=0)                                      # (n_bins,)
    w = tri.T @ cam.astype(np.float64)                           # (n_bins, n_frames)
    return np.where(cover[:, None] > 0, w / np.where(cover > 0, cover, 1.0)[:, None], 0.0).astype(np.float32)


def explained_audio(y: np.ndarray, sr: int, cam: np.ndarray, params) -> np.ndarray:
    """The sound kept where a map is high: the STFT magnitude weighted by the map, the clip's phase.

    Parameters
    ----------
    y : np.ndarray, float, shape (n_samples,)
        The clip, mono, at `sr` (as :attr:`Explanation.y`).
    sr : int
        Sample rate in Hz.
    cam : np.ndarray, shape (n_rows, n_frames), values in [0, 1]
        A map on the clip's spectrogram grid (row 0 lowest).
    params : SpectrogramParams
        The run's parameters (``n_fft``, ``hop_length``, mel bands).

    Returns
    -------
    np.ndarray, float32, shape (n_samples,)
        Same length and rate as `y`, clipped to [-1, 1].

    Raises
    ------
    ParameterError
        `cam` does not have the frames of `y`'s STFT at `params`.

    Notes
    -----
    The STFT is the spectrogram's own (``librosa.stft``: centred frames, periodic Hann window of
    ``n_fft`` samples, hop ``hop_length``; a clip shorter than ``n_fft`` is zero-padded to it
    first, as the spectrogram pads it). A log-mel map goes back to STFT bins through the mel
    filters: each bin gets the mean of the bands whose triangle covers it, weighted by the
    triangle's height (peak 1), so a bin between two band centres is a linear interpolation of
    their values; bins below ``fmin`` or above ``fmax``, which no band covers and the model never
    saw, get 0. Each complex STFT value is multiplied by its weight (magnitude scaled, phase kept)
    and ``librosa.istft`` inverts it (weighted overlap-add); ``length`` restores the exact length.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    r = params.resolve(int(sr))
    n_fft, hop = r["n_fft"], r["hop_length"]
    work = np.pad(y, (0, max(0, n_fft - len(y))))
    D = librosa.stft(work, n_fft=n_fft, hop_length=hop, window="hann", center=True, pad_mode="constant")
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim != 2 or cam.shape[1] != D.shape[1]:
        raise ParameterError(f"the map has shape {cam.shape}, but the clip's STFT has {D.shape[1]} frames at "
                             f"n_fft={n_fft}, hop_length={hop}")
    w = _bin_weights(cam, params, sr)
    out = librosa.istft(D * w, hop_length=hop, n_fft=n_fft, window="hann", center=True, length=len(work))
    return np.clip(out[:len(y)], -1.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Showing a map


def plot_explanation(expl: Explanation, ax=None, *, alpha: float = 0.5, cmap: str = "jet", colorbar: bool = True):
    """The clip's spectrogram in grey with the map over it in colour.

    Parameters
    ----------
    expl : Explanation
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


# ----------------------------------------------------------------------------------------------
# Many files


def _unique_stem(path, used: set) -> str:
    import re

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
    import soundfile as sf

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
        ``layer``, ``score``, ``baseline``, ``patch``, ``stride``, ``fill``, ``bs`` of :func:`explain_clip`.

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
        Before any file is read: `method` unknown, `label` not one of the run's labels (the
        message lists them), or a run whose images have no frequency axis.
    DatasetError
        The run folder cannot be used.
    """
    from .folders import Run, write_json

    _check_method(method)
    run = Run(run)
    learn = learn if learn is not None else run.learner()
    params = params if params is not None else run.spec_params
    check_explainable(params, run.path)
    _check_label(label, [str(v) for v in learn.dls.vocab], run.path)
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


def mean_map(cams, n_times: int = 100) -> np.ndarray:
    """The mean of maps of clips of different lengths, on a common grid of relative time.

    Parameters
    ----------
    cams : sequence of np.ndarray, shape (n_rows, n_frames_i)
        Maps of the same rows (same run), any number of frames.
    n_times : int
        Points of the common time grid: ``(j + 0.5) / n_times`` of each clip's duration, from its
        start (0) to its end (1); each map is linearly interpolated onto it.

    Returns
    -------
    np.ndarray, float32, shape (n_rows, n_times)
        Each clip counts once, whatever its length.

    Raises
    ------
    ParameterError
        No maps, maps with different rows, or `n_times` < 1.
    """
    cams = [np.asarray(c, dtype=np.float32) for c in cams]
    if not cams:
        raise ParameterError("no maps to average")
    if len({c.shape[0] for c in cams}) != 1:
        raise ParameterError(f"maps of different heights cannot be averaged: {sorted({c.shape[0] for c in cams})}")
    if not isinstance(n_times, (int, np.integer)) or n_times < 1:
        raise ParameterError(f"n_times must be a positive integer, got {n_times!r}")
    return np.mean([_resample_columns(c, int(n_times)) for c in cams], axis=0).astype(np.float32)


def _plot_mean_maps(means: dict, freqs: np.ndarray, counts: dict):
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


def explain_validation(run, learn, clips, probs, targets, losses, *, k: int = 9, method: str = "gradcam",
                       out_dir=None, max_per_label: int | None = 20, n_times: int = 100, **options) -> dict:
    """Maps of a run's validation clips: the top losses, and a mean map per label.

    Parameters
    ----------
    run : Run or str or os.PathLike
    learn : fastai.learner.Learner
    clips : pandas.DataFrame
        One row per validation clip with its audio ``path`` (as
        :func:`audiospec_utils.interpret.clip_embeddings` gives them), aligned with the arrays.
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
    import matplotlib.pyplot as plt

    from .folders import Run, write_json

    _check_method(method)
    run = Run(run)
    params = run.spec_params
    check_explainable(params, run.path)
    out_dir = Path(out_dir) if out_dir is not None else run.path / "cam"
    vocab = [str(v) for v in learn.dls.vocab]
    probs, targets, losses = np.asarray(probs), np.asarray(targets), np.asarray(losses)
    order = np.argsort(-losses, kind="stable")[:k]
    top = explain_files(run, [clips["path"].iloc[i] for i in order], out_dir / "top_losses", method=method,
                        learn=learn, params=params, **options)
    for row, i in zip(top, order):
        row["true"] = vocab[targets[i]] if targets[i] >= 0 else None
        row["loss"] = float(losses[i])
    write_json(out_dir / "top_losses" / EXPLAIN_JSON, top)
    correct = np.flatnonzero((targets >= 0) & (probs.argmax(axis=1) == targets))
    cams, errors, freqs = {}, [], None
    for i in correct:
        lab = vocab[targets[i]]
        if max_per_label is not None and len(cams.get(lab, [])) >= max_per_label:
            continue
        try:
            e = explain_clip(run, clips["path"].iloc[i], label=lab, method=method, learn=learn, params=params,
                             **options)
        except AudiospecError as err:
            errors.append({"file": str(clips["path"].iloc[i]), "error": str(err)})
            continue
        cams.setdefault(lab, []).append(e.cam)
        freqs = e.freqs if freqs is None else freqs
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
        fig = _plot_mean_maps(means, freqs, {lab: len(cams[lab]) for lab in labels})
        figure = str(out_dir / "mean_maps.png")
        fig.savefig(figure, dpi=110)
        plt.close(fig)
    write_json(out_dir / "mean_maps.json", {"labels": labels, "method": method, "n_times": n_times,
                                            "time": "fraction of each clip's duration", "per_label": summary,
                                            "errors": errors})
    return {"top_losses": top, "mean_maps": summary, "figure": figure, "errors": errors}
