"""The two ways of making a map of a batch of windows for one class: Grad-CAM and occlusion.

Both take normalised images as the model takes them (``(n, 3, height, length)``, a batch of
:meth:`~audiospec_utils.learn.dataloaders.SpectrogramDataLoaders.windows_dl`) and return one map per
image at the image's size, not normalised, with the logits of the unchanged images:

* :func:`gradcam`: class activation maps from gradients, LayerCAM (Jiang et al., IEEE TIP 2021)
  on a ResNet's ``layer2`` and ``layer3`` fused by default, or Grad-CAM (Selvaraju et al., ICCV 2017) on any block,
  one forward and one backward pass per window;
* :func:`occlusion`: occlusion sensitivity (Zeiler and Fergus, ECCV 2014), one forward pass per
  patch position.

What the methods measure, their defaults and how they were chosen, and their limits are described
in :mod:`audiospec_utils.explain.explanation`, which places these window maps back on a whole clip.
"""

from __future__ import annotations

import math

import numpy as np

from ..exceptions import ParameterError

__all__ = ["METHODS", "WEIGHTINGS", "AUTO_ROWS", "gradcam", "occlusion", "stages", "resolve_layer", "auto_stages"]

#: The methods of :func:`audiospec_utils.explain.explanation.explain_clip`.
METHODS = ("gradcam", "occlusion")
#: How :func:`gradcam` weighs the activations: one weight per channel, or one per channel and position.
WEIGHTINGS = ("gradcam", "layercam")
#: ``layer="auto"`` fuses the two deepest of the first three stages with at least this many rows (frequency cells).
AUTO_ROWS = 3



def _body(model):
    """The convolutional body of a fastai vision model (``model[0]``), or the model itself."""
    import torch.nn as nn

    return model[0] if isinstance(model, nn.Sequential) and len(model) > 1 else model


def _last_block(model):
    """The last convolutional block: the last child of the body (``model[0]``) of a fastai vision model."""
    children = list(_body(model).children())
    if not children:
        raise ParameterError("the model has no convolutional body to hook (expected fastai's vision_learner layout)")
    return children[-1]


def stages(model) -> list:
    """The stages of a fastai ResNet body: ``[layer1, layer2, layer3, layer4]``.

    Parameters
    ----------
    model : torch.nn.Module
        ``learn.model`` of a fastai vision learner (body ``model[0]``, then head).

    Returns
    -------
    list of torch.nn.Module
        The body's children that are ``nn.Sequential`` (a torchvision ResNet's ``layer1`` to
        ``layer4``, each halving both axes after the first: 1/4, 1/8, 1/16 and 1/32 of the input).
    """
    import torch.nn as nn

    return [c for c in _body(model).children() if isinstance(c, nn.Sequential)]


def auto_stages(rows) -> list[int]:
    """Which stages ``layer="auto"`` fuses: the two deepest of the first three with at least :data:`AUTO_ROWS` rows.

    ``layer4`` (2 rows at the ``quick`` recipe's 48 px) cannot say which frequency, and no single
    one of the others put it right for every model; their geometric mean (:func:`gradcam`) had the
    best worst case. Measured on known-answer clips: :mod:`audiospec_utils.explain.explanation`.

    Parameters
    ----------
    rows : sequence of int
        Rows (frequency cells) of each stage's activations, shallowest first.

    Returns
    -------
    list of int
        Their indices in `rows`, shallowest first: ``[1, 2]`` (``layer2`` and ``layer3``) from 33 px
        high images up, ``[0, 1]`` from 17 to 32 px, ``[0]`` below (the first stage when none has
        enough rows).
    """
    rows = list(rows)[:3] if len(rows) > 3 else list(rows)
    ok = [i for i, r in enumerate(rows) if r >= AUTO_ROWS]
    return ok[-2:] if ok else [0]


def resolve_layer(model, layer):
    """The block that `layer` names: None (the last block), ``"layerN"`` (a ResNet's stage N), or a module.

    Raises
    ------
    ParameterError
        A name that is not ``layer1`` to ``layerK`` of this model, or another type.
    """
    import torch.nn as nn

    if layer is None:
        return _last_block(model)
    if isinstance(layer, nn.Module):
        return layer
    found = stages(model)
    names = [f"layer{i + 1}" for i in range(len(found))]
    if isinstance(layer, str) and layer in names:
        return found[names.index(layer)]
    raise ParameterError(f"layer must be None, 'auto', a module or one of {', '.join(names) or '(no stages found)'}, "
                         f"got {layer!r}")


class _EvalMode:
    """The model in eval mode (BatchNorm with its running statistics, no dropout) for a while."""

    def __init__(self, model):
        self.model, self.was_training = model, model.training

    def __enter__(self):
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        self.model.train(self.was_training)


def gradcam(model, x, target: int, *, layer="auto", score: str = "log-odds", baseline: str = "mean",
            weighting: str = "layercam"):
    """Class activation maps of a batch of images for one class: LayerCAM (default) or Grad-CAM.

    LayerCAM: P.-T. Jiang, C.-B. Zhang, Q. Hou, M.-M. Cheng and Y. Wei, "LayerCAM: Exploring
    Hierarchical Class Activation Maps for Localization", IEEE TIP 30, 2021. Grad-CAM: R. R.
    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
    Localization", ICCV 2017. The paper's Grad-CAM is ``weighting="gradcam", layer=None,
    score="logit", baseline="zero"``.

    Parameters
    ----------
    model : torch.nn.Module
        A fastai vision model (``learn.model``: body, then head); it is put in eval mode for the
        call and given back in its former mode.
    x : torch.Tensor, float32, shape (n, 3, height, length)
        Normalised images as the model takes them (a batch of
        :meth:`~audiospec_utils.learn.dataloaders.SpectrogramDataLoaders.windows_dl`).
    target : int
        Class index (in ``learn.dls.vocab``).
    layer : "auto" or str or torch.nn.Module or None
        The block whose activations are weighted. ``"auto"`` (default): the two deepest of the
        body's first three stages whose activations have at least :data:`AUTO_ROWS` (3) rows
        (:func:`auto_stages`: ``layer2`` and ``layer3`` of a ResNet, 1/8 and 1/16 of the input
        along both axes, from 33 px high images up), each map made as below and upsampled, then
        fused by their geometric mean ``sqrt(M_2 M_3)`` (a position counts where both stages
        place the label: the finer rows of ``layer2``, the steadier answer of ``layer3``; the
        units stay those of one map, so windows can still be compared). None: the last
        convolutional block (``layer4``, 1/32). ``"layer1"`` to ``"layer4"``: that stage
        (:func:`resolve_layer`). A module of `model`: that one.
    score : {"log-odds", "logit"}
        What is differentiated. ``"logit"``: the label's score ``y^c`` before the softmax, as in
        the paper. ``"log-odds"`` (default): ``log(p / (1 - p)) = y^c - log(sum_{j != c} exp y^j)``
        (``y^c - y^other`` with two labels). A softmax ignores a constant added to every logit, so
        ``y^c`` alone also credits what raises every label (a loud clip, the background texture);
        the log-odds is what the label's probability depends on.
    weighting : {"layercam", "gradcam"}
        ``"layercam"`` (default): ``M = sum_k ReLU(dy/dA^k) * A^k``, position by position: each
        activation weighted by its own positive gradient, which keeps the map class-specific on
        blocks shallower than the last (Jiang et al.). ``"gradcam"``: ``M = sum_k alpha_k A^k``
        with ``alpha_k`` the gradient's mean over positions (Selvaraju et al.).
    baseline : {"mean", "zero"}
        What the weighted sum ``M`` is compared with before the ReLU. ``"zero"``:
        nothing, as in the paper. ``"mean"`` (default): its mean over the window's positions, so
        the map shows where the window speaks for the label more than it does on average. fastai's
        head normalises the pooled features with BatchNorm (their running means subtracted) before
        its linear layers, so a position counts by its activation relative to a baseline, not to
        zero; where every position's weighted sum is negative (the event only less so than the
        rest), the paper's map is all 0 although the gradient locates the event. Seen on 2 of 24
        tone-burst test clips of one model; see :mod:`audiospec_utils.explain.explanation` for the measured effect.

    Returns
    -------
    maps : np.ndarray, float32, shape (n, height, length)
        ``ReLU(M - baseline)``, interpolated linearly to the input size between the cells'
        centres (cell ``j`` of a block of stride ``s`` over pixel ``s j``, see :func:`_upsampling`);
        not normalised (the units of the score's gradient times activations): windows can be
        compared with one another.
    logits : np.ndarray, float32, shape (n, n_classes)

    Raises
    ------
    ParameterError
        An unknown `score`, `baseline`, `weighting` or `layer` name, or ``"auto"`` on a body
        without stages.

    Notes
    -----
    The activations are captured with fastai's ``hook_outputs`` (forward hooks, kept in the graph
    with ``detach=False``) and their gradient taken with ``torch.autograd.grad``: the same numbers
    as the backward hook of fastbook chapter 18, without PyTorch's deprecated module backward
    hooks.
    """
    import torch
    from fastai.callback.hook import hook_outputs

    if score not in ("log-odds", "logit"):
        raise ParameterError(f"score must be 'log-odds' or 'logit', got {score!r}")
    if baseline not in ("mean", "zero"):
        raise ParameterError(f"baseline must be 'mean' or 'zero', got {baseline!r}")
    if weighting not in WEIGHTINGS:
        raise ParameterError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    auto = isinstance(layer, str) and layer == "auto"
    candidates = stages(model) if auto else [resolve_layer(model, layer)]
    if not candidates:
        raise ParameterError("layer='auto' needs a ResNet body (stages layer1 to layer4); give the block to hook")
    with _EvalMode(model), torch.enable_grad(), hook_outputs(candidates, detach=False) as hooks:
        out = model(x)
        chosen = auto_stages([a.shape[-2] for a in hooks.stored]) if auto else [0]
        acts = [hooks.stored[i] for i in chosen]
        y = out[:, int(target)].float() if score == "logit" else _log_odds(out, int(target))
        grads = torch.autograd.grad(y.sum(), acts)  # windows are independent: the sum's gradient is each one's
        cams = [_weighted_map(a, g, weighting, baseline) for a, g in zip(acts, grads)]
    maps = [_to_input_size(cam.detach().cpu().numpy(), x.shape[-2], x.shape[-1]) for cam in cams]
    fused = np.prod(maps, axis=0) ** (1.0 / len(maps))                 # the geometric mean of the stages' maps
    return fused.astype(np.float32), out.detach().float().cpu().numpy()


def _to_input_size(cam: np.ndarray, height: int, length: int) -> np.ndarray:
    """Maps of shape (n, h', w') brought to (n, height, length) by :func:`_upsampling`, float64."""
    rows = _upsampling(height, cam.shape[1])                            # (height, h')
    cols = _upsampling(length, cam.shape[2])                            # (length, w')
    return np.einsum("ih,nhw,jw->nij", rows, cam.astype(np.float64), cols)


def _weighted_map(acts, grads, weighting: str, baseline: str):
    """``ReLU(M - baseline)`` of one block's activations and gradients, shape (n, h', w')."""
    import torch

    if weighting == "gradcam":
        alpha = grads.float().mean(dim=(2, 3), keepdim=True)            # (n, channels, 1, 1)
    else:                                                               # LayerCAM: each position its own weight
        alpha = torch.relu(grads.float())                               # (n, channels, h', w')
    cam = (alpha * acts.float()).sum(dim=1)                             # (n, h', w')
    if baseline == "mean":
        cam = cam - cam.mean(dim=(1, 2), keepdim=True)
    return torch.relu(cam)


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
