"""Predict with an exported ONNX model: NumPy, soundfile, soxr and onnxruntime only.

:func:`audiospec_utils.infer.export_onnx.export_onnx` writes a run as one ONNX model whose input is raw
audio. This module is all a program needs to use it: decode a file (libsndfile), average its
channels, resample it to the model's rate (soxr, as rendering does), run the model, and name the
top labels. It imports neither torch, fastai nor librosa, so a process starts and answers in a
fraction of the time the training path takes (``bench/onnx_speed.py``)::

    from audiospec_utils.infer.onnx_predict import OnnxClassifier

    clf = OnnxClassifier("model.onnx")
    entry = clf.predict_file("dog.wav", k=3)
    for t in entry["top"]:
        print(t["label"], round(t["probability"], 3))

The results have the form of :func:`audiospec_utils.infer.predict.predict_files`'s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..audio.decode import load_audio
from ..exceptions import AudiospecError, ParameterError
from ..features.params import CLIP_POLICIES, clip_segments, segment_starts
from ..ranking import top_labels

__all__ = ["OnnxClassifier", "resample", "fit_length", "METADATA_KEY"]

#: Key of the model metadata entry holding every setting as JSON (written by
#: :func:`audiospec_utils.infer.export_onnx.export_onnx`, which imports it from here: this module needs no onnx).
METADATA_KEY = "audiospec"


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample mono audio as rendering does (``librosa.resample(res_type="soxr_hq")``), without librosa.

    Parameters
    ----------
    y : np.ndarray, float32, shape (n_samples,)
    orig_sr, target_sr : int
        Sample rates in Hz.

    Returns
    -------
    np.ndarray, float32, shape (ceil(n_samples * target_sr / orig_sr),)
        soxr's high-quality band-limited resampling, cut or zero-padded to exactly that length
        (as librosa's ``fix=True`` does), so both paths see the same samples.
    """
    if orig_sr == target_sr:
        return y
    import soxr

    n_out = int(np.ceil(y.shape[-1] * float(target_sr) / orig_sr))
    out = soxr.resample(y, orig_sr, target_sr, quality="soxr_hq")
    if len(out) > n_out:
        out = out[:n_out]
    elif len(out) < n_out:
        out = np.pad(out, (0, n_out - len(out)))
    return np.ascontiguousarray(out, dtype=np.float32)


def fit_length(y: np.ndarray, sr: int, clip_policy: str, duration: float | None,
               segment_seconds: float | None = None) -> list[np.ndarray]:
    """The clip-length policy of the render parameters (:func:`audiospec_utils.features.params.clip_segments`).

    Parameters
    ----------
    y : np.ndarray, float32, shape (n_samples,)
        Mono audio at `sr`.
    sr : int
        Sample rate in Hz.
    clip_policy : {"full", "pad", "loop", "windows"}
        The model's ``clip_policy`` metadata.
    duration : float or None
        The model's ``duration`` metadata, in seconds.
    segment_seconds : float or None
        The model's ``segment_seconds`` metadata (absent in models exported before it existed):
        a longer recording is run as segments of this length, each with its own dB reference.

    Returns
    -------
    list of np.ndarray
        The segments the model is run on: the whole clip (``"full"``), or its parts of
        `segment_seconds` (``"full"`` with a longer clip, the last part what is left), one
        of exactly ``round(duration * sr)`` samples (``"pad"``, ``"loop"``), or one per `duration`
        window (``"windows"``, the last zero-padded).

    Raises
    ------
    ParameterError
        A `clip_policy` this version does not know (a model exported by a later version).
    """
    if clip_policy not in CLIP_POLICIES:
        raise ParameterError(f"the model's clip_policy {clip_policy!r} is unknown to this version of audiospec")
    return clip_segments(y, sr, clip_policy, duration, segment_seconds)


class OnnxClassifier:
    """An exported audiospec model, ready to label audio files or arrays.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.onnx`` file written by :func:`audiospec_utils.infer.export_onnx.export_onnx`.
    threads : int or None
        Threads of onnxruntime's operators; ``None``: onnxruntime's default (all cores).
    providers : list of str or None
        onnxruntime execution providers; default the CPU.

    Attributes
    ----------
    labels : list of str
        The classes, in the order of the probability columns.
    sample_rate : int
        Input rate of the model in Hz; other rates are resampled to it.
    metadata : dict
        Everything the export recorded (render parameters, crop length, normalisation...).

    Raises
    ------
    ParameterError
        The file is missing, not an ONNX model onnxruntime can load, or not an audiospec export
        (no ``audiospec`` metadata).
    """

    def __init__(self, path, *, threads: int | None = None, providers=None):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ParameterError(f"{self.path}: no such ONNX model file")
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
        opts.log_severity_level = 3  # no shape warnings on stderr
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=providers or ["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types
            raise ParameterError(f"{self.path}: not an ONNX model onnxruntime can load ({type(err).__name__}: "
                                 f"{str(err).strip().splitlines()[0] if str(err).strip() else ''})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise ParameterError(f"{self.path}: not an audiospec model (no {METADATA_KEY!r} metadata); export one "
                                 f"with `audiospec export RUN --out model.onnx`")
        self.metadata = json.loads(props[METADATA_KEY])
        self.labels = list(self.metadata["labels"])
        self.sample_rate = int(self.metadata["sample_rate"])
        self._hop_seconds = self.metadata["hop_length"] / self.sample_rate

    def __repr__(self) -> str:
        return f"OnnxClassifier({str(self.path)!r}: {len(self.labels)} labels, {self.sample_rate} Hz)"

    # ------------------------------------------------------------------------------------------

    def run(self, y: np.ndarray) -> dict:
        """Run the model on one segment already at the model's rate.

        Parameters
        ----------
        y : np.ndarray, float32, shape (n_samples,)
            Mono audio at :attr:`sample_rate` Hz, at least one sample.

        Returns
        -------
        dict
            ``probabilities`` (n_classes,), ``window_probabilities`` (n_windows, n_classes),
            ``window_starts`` (n_windows,) in STFT frames, ``image`` (channels, height, n_frames).
        """
        names = ("probabilities", "window_probabilities", "window_starts", "image")
        outs = self.session.run(list(names), {"audio": np.ascontiguousarray(y, dtype=np.float32)})
        return dict(zip(names, outs))

    def analyse(self, y: np.ndarray, sr: int) -> dict:
        """Probabilities of a clip and of each of its windows, with the windows' times.

        Parameters
        ----------
        y : np.ndarray, float, shape (n_samples,) or (n_channels, n_samples)
            Audio; several channels are averaged (as :func:`audiospec_utils.audio.decode.load_audio` does).
        sr : int
            Its sample rate in Hz (resampled to :attr:`sample_rate` when different).

        Returns
        -------
        dict
            ``probs`` float32 (n_classes,): the mean over all the windows, as
            :func:`audiospec_utils.infer.predict.predict_files` averages them; ``window_probs`` float32
            (n_windows, n_classes); ``window_start``, ``window_end`` float64 (n_windows,) in
            seconds from the start of the clip; ``duration`` (s); ``n_windows``; ``images`` (list of
            the model's images, one per segment of the clip policy); ``segment_start`` float64
            (n_images,): where each image's segment starts, in seconds (a recording longer than the
            model's ``segment_seconds`` is made into one image per segment, each with its own dB
            reference).

        Raises
        ------
        ParameterError
            `y` holds no samples, is not 1-D or 2-D, contains NaN or infinity, or `sr` is not a
            positive integer.
        """
        if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise ParameterError(f"sr must be a positive integer number of Hz, got {sr!r}")
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2:
            y = y.mean(axis=0, dtype=np.float32) if y.shape[0] > 1 else y[0]
        if y.ndim != 1:
            raise ParameterError(f"audio must have shape (n_samples,) or (n_channels, n_samples), got {y.shape}")
        if y.size == 0:
            raise ParameterError("the audio has no samples (zero length)")
        if not np.isfinite(y).all():
            raise ParameterError("the audio contains NaN or infinite samples")
        duration = len(y) / sr
        y = resample(np.ascontiguousarray(y), int(sr), self.sample_rate)
        meta = self.metadata
        policy, seg_len = meta.get("clip_policy", "full"), meta.get("segment_seconds")
        segments = fit_length(y, self.sample_rate, policy, meta.get("duration"), seg_len)
        offsets = segment_starts(len(y), self.sample_rate, policy, meta.get("duration"), seg_len) / self.sample_rate
        probs, starts, seg_ends, images = [], [], [], []
        for offset, seg in zip(offsets, segments):
            out = self.run(seg)
            probs.append(out["window_probabilities"])
            starts.append(offset + out["window_starts"] * self._hop_seconds)
            # a window ends inside its own segment (and the clip): not past the segment's last sample
            seg_end = max(min(offset + len(seg) / self.sample_rate, duration), self._hop_seconds)
            seg_ends.append(np.full(len(out["window_starts"]), seg_end))
            images.append(out["image"])
        window_probs = np.concatenate(probs)
        start = np.concatenate(starts).astype(np.float64)
        end = np.minimum(start + meta["crop_frames"] * self._hop_seconds, np.concatenate(seg_ends))
        return {"probs": window_probs.mean(axis=0), "window_probs": window_probs, "window_start": start,
                "window_end": end, "duration": duration, "n_windows": len(window_probs), "images": images,
                "segment_start": offsets.astype(np.float64)}

    def top(self, probs: np.ndarray, k: int = 3) -> list[dict]:
        """The `k` most probable labels, best first (:func:`audiospec_utils.ranking.top_labels`).

        Parameters
        ----------
        probs : np.ndarray, shape (n_classes,)
            Probabilities in the order of :attr:`labels`.
        k : int >= 1

        Returns
        -------
        list of dict
            ``[{"label": str, "probability": float}, ...]``; ties: the lower class index first.

        Raises
        ------
        ParameterError
            `k` < 1.
        """
        return top_labels(probs, self.labels, k)

    def predict_array(self, y: np.ndarray, sr: int, k: int = 3) -> dict:
        """Top-`k` labels of audio in memory.

        Parameters
        ----------
        y : np.ndarray, float, shape (n_samples,) or (n_channels, n_samples)
        sr : int
            Sample rate of `y` in Hz.
        k : int >= 1

        Returns
        -------
        dict
            ``top`` (list of `k` ``{"label", "probability"}``, best first), ``probs`` (float32,
            (n_classes,)), ``duration`` (s), ``n_windows``.

        Raises
        ------
        ParameterError
            See :meth:`analyse`; `k` < 1.
        """
        _check_k(k)
        a = self.analyse(y, sr)
        return {"top": self.top(a["probs"], k), "probs": a["probs"], "duration": a["duration"],
                "n_windows": a["n_windows"]}

    def predict_file(self, path, k: int = 3, *, return_probs: bool = False) -> dict:
        """Top-`k` labels of one audio file.

        Parameters
        ----------
        path : str or os.PathLike
            Any format libsndfile decodes (WAV, FLAC, OGG, MP3...), any rate, any channels.
        k : int >= 1
        return_probs : bool
            Also return ``probs`` (float32, (n_classes,)).

        Returns
        -------
        dict
            ``{"file": str, "top": [{"label", "probability"}, ...k], "duration": s, "n_windows": int,
            "sr": the file's own rate (Hz), "band_limited": bool}`` (the file's rate is below the
            model's, so its highest bands are empty), as :func:`audiospec_utils.infer.predict.predict_files`
            gives.

        Raises
        ------
        AudioLoadError
            The file is missing, empty, not audio, or has no samples (the message names the file).
        ParameterError
            `k` < 1.
        """
        _check_k(k)
        y, sr = load_audio(path)
        a = self.analyse(y, sr)
        entry = {"file": str(path), "top": self.top(a["probs"], k), "duration": float(a["duration"]),
                 "n_windows": int(a["n_windows"]), "sr": int(sr), "band_limited": bool(sr < self.sample_rate)}
        if return_probs:
            entry["probs"] = a["probs"]
        return entry

    def predict_files(self, files, k: int = 3) -> list[dict]:
        """:meth:`predict_file` for each file; a bad file gets ``{"file", "error"}`` and the others go on.

        Raises
        ------
        ParameterError
            `k` < 1.
        """
        _check_k(k)
        results = []
        for f in files:
            try:
                results.append(self.predict_file(f, k))
            except AudiospecError as err:
                results.append({"file": str(f), "error": getattr(err, "reason", None) or str(err)})
            except Exception as err:  # a decoder bug must not stop the other files
                results.append({"file": str(f), "error": f"unexpected error: {type(err).__name__}: {err}"})
        return results


def _check_k(k) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ParameterError(f"k must be a positive integer, got {k!r}")

