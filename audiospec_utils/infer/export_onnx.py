"""Export a trained run as one ONNX model that takes raw audio and gives class probabilities.

The model does, inside one graph, everything :func:`audiospec_utils.infer.predict.predict_files` does after
decoding a file, so that a program with only ``onnxruntime`` and NumPy (see
:mod:`audiospec_utils.infer.onnx_predict`) answers as the training path does::

    audio (mono float32 at the run's rate)
      -> centred frames, periodic Hann window, DFT as a 1-D convolution with the DFT basis -> power
      -> mel filterbank (or the linear bins up to fmax for kind "stft")
      -> dB relative to the clip's maximum, clipped at -top_db -> 8-bit grey levels (rounded)
      -> colour map (when the run has one) -> image resized in height (Pillow's bilinear filter)
      -> windows of the training crop length, overlapping by half (a short clip repeated)
      -> /255, normalisation -> the network -> softmax -> mean over the windows

Inputs and outputs
------------------
``audio``
    float32, shape ``(n_samples,)``, mono, at ``sample_rate`` Hz (metadata); any length of at least
    one sample (dynamic axis ``n_samples``): a clip shorter than one FFT window is zero-padded to
    it, one shorter than a crop is repeated to fill the crop, as in prediction.
``probabilities``
    float32, shape ``(n_classes,)``: the mean of the windows' softmax probabilities, columns in
    the order of the ``labels`` metadata.
``window_probabilities``
    float32, shape ``(n_windows, n_classes)`` (dynamic axis ``n_windows``).
``window_starts``
    int64, shape ``(n_windows,)``: the first STFT frame of each window (frame ``f`` is centred on
    ``f * hop_length / sample_rate`` seconds).
``image``
    float32, shape ``(channels, height, n_frames)``: the pixels the network's windows are cut
    from (0..255; row 0 is the highest frequency), as the image cache holds them.

The graph uses ONNX opset :data:`OPSET` (the default domain only) and runs with onnxruntime 1.14
and later. The STFT is a ``Conv`` with the windowed DFT basis, not the ``STFT`` operator (opset
17): ``Conv`` exists in every ONNX runtime and converter, and on this project's CPU it was also
faster (24 ms against 31 ms for the power spectrogram of a 5 s clip at 44.1 kHz). The frames are
processed 256 at a time in a ``Loop``, so a long recording needs memory for its mel spectrogram
only (about 0.5 kB per frame), not for its whole STFT.

What cannot be exported
-----------------------
Kinds :data:`SUPPORTED_KINDS` only (``"logmel"``, the default, and ``"stft"``; grey or with a
colour map); ``"mfcc"``, ``"chroma"`` and ``"stack"`` are refused, as is a fixed image ``width``
(its time resampling depends on each clip's length). The clip-length policies ``"pad"``,
``"loop"`` and ``"windows"`` are applied to the audio before the model by
:class:`~audiospec_utils.infer.onnx_predict.OnnxClassifier` (the ``clip_policy`` and ``duration``
metadata say which); ``"full"`` (the default) needs nothing.
"""

from __future__ import annotations

import copy
import json
import math
import time
import warnings

import numpy as np

from .. import __version__
from ..exceptions import ParameterError
from ..features.images import colour_lut
from ..features.kinds import SILENCE_POWER, hann_window, mel_basis, stft_rows_kept
from ..fileio import write_bytes_atomic
from ..learn.run import Run
from .onnx_predict import METADATA_KEY

__all__ = ["export_onnx", "OPSET", "SUPPORTED_KINDS", "resize_matrix"]

#: ONNX opset of the exported graph (default domain).
OPSET = 18

#: Spectrogram kinds the exported graph can compute.
SUPPORTED_KINDS = ("logmel", "stft")

#: STFT frames computed per iteration of the graph's loop.
BLOCK_FRAMES = 256

_PIL_PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed-point precision for 8-bit resampling (libImaging/Resample.c)


def resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """The linear map of Pillow's 8-bit bilinear resize along one axis, as a matrix.

    Pillow (``Image.resize(..., Image.Resampling.BILINEAR)``) computes each output pixel as
    ``floor((sum_k pixel_k * w_k + 2**21) / 2**22)`` where the weights ``w_k`` are the triangle
    filter's (widened by the scale when shrinking, so it averages: antialiased), normalised to sum
    to 1 and rounded to 22-bit fixed point. This returns those weights divided by ``2**22``, so
    that ``floor(matrix @ pixels + 0.5)`` clipped to 0..255, computed in float64 (where every
    product and sum is exact), gives Pillow's result.

    Parameters
    ----------
    in_size, out_size : int >= 1
        Pixels before and after, along the resized axis.

    Returns
    -------
    np.ndarray, float64, shape (out_size, in_size)
        Multiples of ``2**-22``.

    Raises
    ------
    ParameterError
        A size below 1.
    """
    if in_size < 1 or out_size < 1:
        raise ParameterError(f"sizes must be at least 1 pixel, got {in_size} -> {out_size}")
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale  # bilinear: support 1
    out = np.zeros((out_size, in_size), np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        ss = 1.0 / filterscale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        w = np.array([max(0.0, 1.0 - abs((x - center + 0.5) * ss)) for x in range(xmin, xmax)])
        total = w.sum()
        if total != 0.0:
            w = w / total
        fixed = np.where(w < 0, np.trunc(-0.5 + w * (1 << _PIL_PRECISION_BITS)),
                         np.trunc(0.5 + w * (1 << _PIL_PRECISION_BITS)))
        out[xx, xmin:xmax] = fixed / (1 << _PIL_PRECISION_BITS)
    return out


def _dft_basis(n_fft: int, bins: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Windowed real and imaginary DFT rows for `bins`: shape (2 * len(bins), 1, n_fft), float32."""
    t = np.arange(n_fft, dtype=np.float64)
    phase = 2 * np.pi * np.outer(bins, t) / n_fft
    basis = np.concatenate([np.cos(phase), -np.sin(phase)]) * window.astype(np.float64)[None]
    return basis.astype(np.float32)[:, None, :]


def _feature_matrix(params, sr: int, r: dict) -> tuple[np.ndarray, np.ndarray]:
    """The FFT bins the image needs and the matrix from their power to the image rows (flipped).

    Returns
    -------
    bins : np.ndarray, int64
        FFT bins used (others have zero weight everywhere).
    matrix : np.ndarray, float32, shape (n_rows, len(bins))
        Row 0 is the image's top row (highest frequency).
    """
    n_fft = r["n_fft"]
    if params.kind == "logmel":
        mel = mel_basis(sr, n_fft, r["n_mels"], r["fmin"], r["fmax"])
        bins = np.flatnonzero(np.any(mel != 0, axis=0))
        return bins, np.ascontiguousarray(mel[::-1][:, bins])
    n_keep = stft_rows_kept(sr, n_fft, r["fmax"])
    bins = np.arange(n_keep)
    return bins, np.ascontiguousarray(np.eye(n_keep, dtype=np.float32)[::-1])


def _check_exportable(params) -> None:
    if params.kind not in SUPPORTED_KINDS:
        raise ParameterError(f"kind={params.kind!r} cannot be exported to ONNX; the exported graph computes the "
                             f"kinds {', '.join(SUPPORTED_KINDS)} (grey or with a colour map)")
    if params.width is not None:
        raise ParameterError(f"width={params.width} cannot be exported to ONNX: a fixed image width resamples each "
                             f"clip's time axis by its own length; export a run rendered with width=None")


def _network_proto(model, height: int, length: int, opset: int):
    """The network (with softmax) as an ONNX ModelProto: input (n_windows, 3, height, length)."""
    import torch

    class _Softmax(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return torch.softmax(self.net(x), dim=-1)

    net = _Softmax(copy.deepcopy(model).float().cpu().eval()).eval()
    x = torch.zeros(2, 3, height, length)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore")
        program = torch.onnx.export(net, (x,), None, dynamo=True, input_names=["x"], output_names=["p"],
                                    dynamic_shapes=({0: torch.export.Dim("n_windows", min=1)},),
                                    opset_version=opset, verbose=False, external_data=False,
                                    optimize=True)
    return program.model_proto


_NETWORK_CACHE: dict = {}


def _cached_network(run, learn, height: int, length: int):
    """The network's ONNX graph, traced once per ``export.pkl`` (exporting a run again reuses it)."""
    st = (run.path / run.EXPORT).stat()
    key = (str(run.path), st.st_mtime_ns, st.st_size, height, length, OPSET)
    if key not in _NETWORK_CACHE:
        _NETWORK_CACHE.clear()  # one network at a time: they weigh tens of MB
        _NETWORK_CACHE[key] = _network_proto(learn.model, height, length, OPSET)
    return _NETWORK_CACHE[key]


class _Graph:
    """A small helper to build an ONNX graph: unique names, constants as initializers."""

    def __init__(self, prefix: str = ""):
        self.nodes, self.inits, self.prefix, self.n = [], [], prefix, 0

    def name(self, base: str) -> str:
        self.n += 1
        return f"{self.prefix}{base}_{self.n}"

    def const(self, value, base: str = "c", dtype=None) -> str:
        from onnx import numpy_helper

        arr = np.asarray(value, dtype=dtype)
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, inputs, base: str | None = None, outputs: int = 1, out=None, **attrs):
        from onnx import helper

        names = [out] if out is not None else [self.name(base or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names


def _loop_body(n_fft: int, hop: int, basis: np.ndarray, matrix: np.ndarray, block: int):
    """Loop body: iteration i -> the power of frames [i * block, (i + 1) * block) projected on the image rows."""
    from onnx import TensorProto, helper

    g = _Graph("body/")
    span = (block - 1) * hop + n_fft
    start = g.op("Mul", ["i", g.const(block * hop, dtype=np.int64)])
    start1 = g.op("Unsqueeze", [start, g.const([0], dtype=np.int64)])
    stop1 = g.op("Add", [start1, g.const([span], dtype=np.int64)])
    seg = g.op("Slice", ["signal", start1, stop1, g.const([2], dtype=np.int64)])       # (1, 1, span)
    spec = g.op("Conv", [seg, g.const(basis)], strides=[hop])                            # (1, 2K, block)
    sq = g.op("Mul", [spec, spec])
    re, im = g.op("Split", [sq], outputs=2, axis=1, num_outputs=2)
    power = g.op("Add", [re, im])                                                        # (1, K, block)
    power2 = g.op("Squeeze", [power, g.const([0], dtype=np.int64)])                       # (K, block)
    g.op("MatMul", [g.const(matrix), power2], out="rows_out")                            # (n_rows, block)
    g.op("Identity", ["cond_in"], out="cond_out")
    inputs = [helper.make_tensor_value_info("i", TensorProto.INT64, []),
              helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
              ]
    outputs = [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
               helper.make_tensor_value_info("rows_out", TensorProto.FLOAT, [matrix.shape[0], block])]
    # the body reads `signal` from the enclosing graph; its constants are its own initializers
    return helper.make_graph(g.nodes, "stft_block", inputs, outputs, g.inits)


def _frontend(g: _Graph, params, sr: int, height: int, length: int, overlap: float, mean, std,
              quantize: bool, block: int) -> tuple[str, str, str]:
    """Nodes from ``audio`` to the normalised windows; returns (windows, window_starts, image) names."""
    r = params.resolve(sr)
    feats, n_rows = _spectrogram_rows(g, params, sr, r, block)
    grey = _grey_levels(g, feats, float(params.top_db), quantize)
    image, channels = _image(g, grey, params.cmap, n_rows, height, quantize)
    starts, windows = _normalised_windows(g, image, channels, length, overlap, mean, std)
    return windows, starts, image


def _spectrogram_rows(g: _Graph, params, sr: int, r: dict, block: int) -> tuple[str, int]:
    """Nodes from ``audio`` to the power on the image rows, shape (n_rows, n_frames); returns (name, n_rows)."""
    n_fft, hop = r["n_fft"], r["hop_length"]
    bins, matrix = _feature_matrix(params, sr, r)
    basis = _dft_basis(n_fft, bins, hann_window(n_fft))
    i64 = np.int64

    # frames: 1 + (max(n, n_fft) + 2 * (n_fft // 2) - n_fft) // hop (librosa's centred frames, short clips padded)
    n = g.op("Shape", ["audio"], base="n_samples")
    n_frames = g.op("Add", [g.op("Div", [g.op("Sub", [g.op("Max", [n, g.const([n_fft], dtype=i64)]),
                                                         g.const([n_fft - 2 * (n_fft // 2)], dtype=i64)]),
                                         g.const([hop], dtype=i64)]), g.const([1], dtype=i64)], base="n_frames")
    n_blocks = g.op("Div", [g.op("Add", [n_frames, g.const([block - 1], dtype=i64)]), g.const([block], dtype=i64)])
    # zero padding: n_fft // 2 in front (centred frames); behind, enough for every block to be whole
    pad_end = g.op("Add", [g.op("Sub", [g.op("Mul", [n_blocks, g.const([block * hop], dtype=i64)]), n]),
                           g.const([n_fft], dtype=i64)])
    pads = g.op("Concat", [g.const([n_fft // 2], dtype=i64), pad_end], axis=0)
    padded = g.op("Pad", ["audio", pads], mode="constant")
    g.op("Reshape", [padded, g.const([1, 1, -1], dtype=i64)], out="signal")
    trip = g.op("Squeeze", [n_blocks, g.const([0], dtype=i64)])
    blocks = g.op("Loop", [trip, g.const(True, dtype=bool)], base="blocks",
                  body=_loop_body(n_fft, hop, basis, matrix, block))                     # (n_blocks, n_rows, block)
    rows = g.op("Reshape", [g.op("Transpose", [blocks], perm=[1, 0, 2]),
                            g.const([matrix.shape[0], -1], dtype=i64)])
    feats = g.op("Slice", [rows, g.const([0], dtype=i64), n_frames, g.const([1], dtype=i64)])  # (n_rows, n_frames)
    return feats, matrix.shape[0]


def _grey_levels(g: _Graph, feats: str, top_db: float, quantize: bool) -> str:
    """dB relative to the clip's maximum, clipped at -top_db (a silent clip all -top_db), as grey levels 0..255."""
    peak = g.op("ReduceMax", [feats], keepdims=0, base="peak")
    floor = g.op("Mul", [peak, g.const(np.float32(1e-12))])
    ten_over_ln10 = g.const(np.float32(10.0 / math.log(10.0)))
    db = g.op("Sub", [g.op("Mul", [g.op("Log", [g.op("Max", [feats, floor])]), ten_over_ln10]),
                      g.op("Mul", [g.op("Log", [peak]), ten_over_ln10])])
    db = g.op("Max", [db, g.const(np.float32(-top_db))])
    silent_db = g.op("Expand", [g.const(np.float32(-top_db)), g.op("Shape", [feats])])
    db = g.op("Where", [g.op("Greater", [peak, g.const(np.float32(SILENCE_POWER))]), db, silent_db], base="db")
    # grey levels: round(255 * (dB + top_db) / top_db) in 0..255
    grey = g.op("Mul", [g.op("Add", [db, g.const(np.float32(top_db))]), g.const(np.float32(255.0 / top_db))])
    if quantize:
        grey = g.op("Round", [grey])
    return g.op("Clip", [grey, g.const(np.float32(0)), g.const(np.float32(255))], base="grey")


def _image(g: _Graph, grey: str, cmap: str | None, n_rows: int, height: int, quantize: bool) -> tuple[str, int]:
    """Grey levels -> the image cache's pixels (colour map, height resized); returns ("image", channels)."""
    from onnx import TensorProto

    i64 = np.int64
    if cmap is not None:
        lut = g.const(colour_lut(cmap).astype(np.float32))                                  # (256, 3)
        idx = g.op("Cast", [g.op("Clip", [grey, g.const(np.float32(0)), g.const(np.float32(255))])],
                   to=TensorProto.INT64)
        rgb = g.op("Gather", [lut, idx], axis=0)                                            # (rows, frames, 3)
        img = g.op("Transpose", [rgb], perm=[2, 0, 1])
        channels = 3
    else:
        img = g.op("Unsqueeze", [grey, g.const([0], dtype=i64)])                            # (1, rows, frames)
        channels = 1
    if height != n_rows:  # the image cache resizes the height with Pillow's bilinear filter (8-bit)
        if quantize:  # Pillow's fixed-point arithmetic, exact in float64
            img64 = g.op("MatMul", [g.const(resize_matrix(n_rows, height)),
                                    g.op("Cast", [img], to=TensorProto.DOUBLE)])
            img = g.op("Cast", [g.op("Floor", [g.op("Add", [img64, g.const(np.float64(0.5))])])],
                       to=TensorProto.FLOAT)
            img = g.op("Clip", [img, g.const(np.float32(0)), g.const(np.float32(255))])
        else:
            img = g.op("MatMul", [g.const(resize_matrix(n_rows, height).astype(np.float32)), img])
    return g.op("Identity", [img], out="image"), channels


def _normalised_windows(g: _Graph, image: str, channels: int, length: int, overlap: float, mean, std):
    """Windows of `length` frames overlapping by `overlap` (a short clip repeated), /255 and normalised.

    Returns ("window_starts", windows) names: the windows are of shape (n_windows, 3, height, length).
    """
    i64 = np.int64
    win_hop = max(1, int(round(length * (1 - overlap))))
    width = g.op("Gather", [g.op("Shape", [image]), g.const([2], dtype=i64)], axis=0)       # (1,)
    last = g.op("Max", [g.op("Sub", [width, g.const([length], dtype=i64)]), g.const([0], dtype=i64)])
    n_win = g.op("Add", [g.op("Div", [g.op("Add", [last, g.const([win_hop - 1], dtype=i64)]),
                                      g.const([win_hop], dtype=i64)]), g.const([1], dtype=i64)])
    k = g.op("Range", [g.const(0, dtype=i64), g.op("Squeeze", [n_win, g.const([0], dtype=i64)]),
                       g.const(1, dtype=i64)])
    starts = g.op("Min", [g.op("Mul", [k, g.const(win_hop, dtype=i64)]), last], out="window_starts")
    idx = g.op("Mod", [g.op("Add", [g.op("Unsqueeze", [starts, g.const([1], dtype=i64)]),
                                    g.const(np.arange(length, dtype=i64)[None])]), width])     # (n_win, length)
    crops = g.op("Gather", [image, idx], axis=2)                                            # (C, H, n_win, length)
    x = g.op("Div", [g.op("Transpose", [crops], perm=[2, 0, 1, 3]), g.const(np.float32(255.0))])
    if channels == 1:
        x = g.op("Concat", [x, x, x], axis=1)
    m = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    windows = g.op("Div", [g.op("Sub", [x, g.const(m)]), g.const(s)], base="windows")
    return starts, windows


def _metadata(run, params, sr, r, cfg, vocab, quantize) -> dict:
    return {
        "format": 1,
        "audiospec_version": __version__,
        "run": run.path.name,
        "labels": [str(v) for v in vocab],
        "sample_rate": int(sr),
        "n_fft": int(r["n_fft"]),
        "hop_length": int(r["hop_length"]),
        "window": "hann (periodic)",
        "n_mels": int(r["n_mels"]),
        "fmin": float(r["fmin"]),
        "fmax": float(r["fmax"]),
        "top_db": float(params.top_db),
        "kind": params.kind,
        "cmap": params.cmap,
        "clip_policy": params.clip_policy,
        "duration": params.duration,
        "segment_seconds": params.segment_seconds,
        "spectrogram_params": params.to_dict(),
        "height": int(cfg["height"]),
        "crop_frames": int(cfg["length"]),
        "crop_seconds": float(cfg["length"] * r["hop_length"] / sr),
        "overlap": float(cfg.get("overlap", 0.5)),
        "channels": int(cfg.get("channels", 1)),
        "mean": [float(v) for v in cfg["mean"]],
        "std": [float(v) for v in cfg["std"]],
        "quantized_pixels": bool(quantize),
        "opset": OPSET,
        "inputs": {"audio": "float32 (n_samples,), mono, at sample_rate Hz"},
        "outputs": {"probabilities": "float32 (n_classes,), mean over the windows",
                    "window_probabilities": "float32 (n_windows, n_classes)",
                    "window_starts": "int64 (n_windows,), first STFT frame of each window",
                    "image": "float32 (channels, height, n_frames), pixels 0..255, row 0 the highest frequency"},
    }


def export_onnx(run, out, *, sr: int | None = None, quantize: bool = True, check: bool = True) -> dict:
    """Write a run's whole prediction path (spectrogram, windows, network, softmax) as one ONNX model.

    Parameters
    ----------
    run : Run or str or os.PathLike
        A trained run folder (``export.pkl`` and the spectrogram parameters).
    out : str or os.PathLike
        The ``.onnx`` file to write (its folder is made); replaced atomically.
    sr : int or None
        Sample rate of the model's input in Hz. Default: the run's ``params.sr`` (every clip was
        resampled to it at rendering). A run rendered with ``sr=None`` (each file at its own rate)
        needs it; when the run has a rate, `sr` must be that rate or None.
    quantize : bool
        Round the pixels to 8-bit grey levels as the training images were (default). ``False``
        keeps them continuous (a slightly different input than training; for measuring what the
        quantisation changes).
    check : bool
        Run ``onnx.checker`` and ONNX shape inference on the result.

    Returns
    -------
    dict
        ``path`` (pathlib.Path), ``bytes`` (file size), ``seconds`` (time taken), ``metadata``
        (what the model's ``audiospec`` metadata entry holds: labels, sample rate, n_fft, hop,
        render parameters, height, crop length, normalisation...).

    Raises
    ------
    ParameterError
        A kind other than :data:`SUPPORTED_KINDS` (the message names them), a fixed ``width``, a
        run without a sample rate and no `sr`, an `sr` that contradicts the run's, or parameters
        impossible at `sr` (e.g. fmax above its Nyquist frequency).
    DatasetError
        The run folder has no ``export.pkl`` or no spectrogram parameters.

    Notes
    -----
    Needs torch, onnx and onnxscript (``pip install "audiospec[deploy]"``); the model then runs
    with onnxruntime alone. See the module docstring for the inputs, outputs and opset.
    """
    import onnx
    from onnx import TensorProto, helper

    t0 = time.perf_counter()
    run = Run(run)
    params = run.spec_params
    _check_exportable(params)
    run_sr = params.target_sr if hasattr(params, "target_sr") else params.sr  # "auto" or None: no fixed rate
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise ParameterError(f"sr must be a positive integer number of Hz, got {sr!r}")
    if run_sr is None and sr is None:
        raise ParameterError(f"{run.path}: the run was rendered with sr=None (each file at its own sample rate), so "
                             f"the model's input rate is unknown; pass sr= (--sr), e.g. the rate of the training "
                             f"clips (44100 for FSDKaggle2018)")
    if run_sr is not None and sr is not None and int(sr) != int(run_sr):
        raise ParameterError(f"sr={sr} differs from the run's sample rate {run_sr} Hz (every training clip was "
                             f"resampled to it); leave sr unset")
    sr = int(run_sr if sr is None else sr)
    r = params.resolve(sr)
    learn = run.learner()
    cfg, vocab = learn.dls.config, list(learn.dls.vocab)
    _check_activation(learn)
    height, length = int(cfg["height"]), int(cfg["length"])

    net = onnx.compose.add_prefix(_cached_network(run, learn, height, length), "net/", inplace=False)
    net_in, net_out = net.graph.input[0].name, net.graph.output[0].name

    g = _Graph("pre/")
    windows, starts, image = _frontend(g, params, sr, height, length, float(cfg.get("overlap", 0.5)),
                                       cfg["mean"], cfg["std"], quantize, BLOCK_FRAMES)
    g.op("Identity", [windows], out=net_in)
    tail = _Graph("post/")
    tail.op("Identity", [net_out], out="window_probabilities")
    tail.op("ReduceMean", ["window_probabilities", tail.const([0], dtype=np.int64)], out="probabilities",
            keepdims=0)
    n_classes = len(vocab)
    channels = 3 if params.cmap is not None else 1
    graph = helper.make_graph(
        g.nodes + list(net.graph.node) + tail.nodes, "audiospec",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["n_samples"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [n_classes]),
         helper.make_tensor_value_info("window_probabilities", TensorProto.FLOAT, ["n_windows", n_classes]),
         helper.make_tensor_value_info("window_starts", TensorProto.INT64, ["n_windows"]),
         helper.make_tensor_value_info("image", TensorProto.FLOAT, [channels, height, "n_frames"])],
        g.inits + list(net.graph.initializer) + tail.inits)
    opsets = {o.domain: o.version for o in net.opset_import}
    opsets[""] = OPSET
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
                              producer_name="audiospec", functions=list(net.functions))
    model.ir_version = min(net.ir_version or 10, 10)
    meta = _metadata(run, params, sr, r, cfg, vocab, quantize)
    model.doc_string = (f"audiospec classifier of {run.path.name}: mono float32 audio at {sr} Hz -> probabilities "
                        f"of {n_classes} labels (mean over windows of {meta['crop_seconds']:.2f} s).")
    for key, value in {METADATA_KEY: json.dumps(meta), "labels": json.dumps(meta["labels"]),
                       "sample_rate": str(sr), "n_fft": str(r["n_fft"]), "hop_length": str(r["hop_length"])}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    if check:
        onnx.checker.check_model(model, full_check=True)
    out = write_bytes_atomic(out, model.SerializeToString())
    return {"path": out, "bytes": out.stat().st_size, "seconds": time.perf_counter() - t0, "metadata": meta}


def _check_activation(learn) -> None:
    """The learner's output activation must be a softmax over the labels (what get_preds applies)."""
    import torch

    act = getattr(learn.loss_func, "activation", None)
    if act is None:
        return
    z = torch.linspace(-3, 3, 2 * len(learn.dls.vocab)).reshape(2, -1)
    if not torch.allclose(act(z).float(), torch.softmax(z, dim=-1), atol=1e-6):
        raise ParameterError(f"the learner's loss ({type(learn.loss_func).__name__}) does not end in a softmax; "
                             f"only single-label classifiers can be exported")
