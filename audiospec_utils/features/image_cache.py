"""A render folder's images decoded once into one compact uint8 array, for fast training on crops.

Decoding a PNG and resizing it for every item of every epoch costs more CPU time than a training
step on a GPU (issue: a DataLoader at 523 images/s with 2 workers against a model at 2,800). The
images of a render folder are therefore decoded once, resized **in height only** (time keeps one
column per STFT frame), and laid end to end along time in a single array::

    pixels: uint8, shape (total_frames, channels, height)   # frame-major: one crop is one slice

``offsets[i]:offsets[i + 1]`` are the frames of image ``i``. A crop of ``length`` frames starting at
frame ``s`` of image ``i`` is ``pixels[offsets[i] + (s + arange(length)) % width_i]``: a clip shorter
than the crop repeats itself (padding by repetition), a longer one is cut. The gather is the same
indexing on a NumPy memmap (CPU) or on a torch tensor that lives on the GPU
(:meth:`SpectrogramCache.to_device`), so the per-batch work moves to the device without copying
the data set for every batch.

The cache of a render folder is a memory-mapped ``.npy`` file beside its manifest,
``<render folder>/cache/h<height>-<key>.npy`` with an index ``.json``; ``key`` hashes the render
parameters, the height and every image's name, size and modification time, so the cache is rebuilt
when any of them changes. Files are written under temporary names and renamed
(:mod:`audiospec_utils.fileio`): an interrupted build leaves no half-written cache. A read-only
render folder caches in ``$AUDIOSPEC_CACHE`` (default: the user's cache folder, ``~/.cache/audiospec``).

This module is in the images layer, beside :mod:`audiospec_utils.features.folders`, which uses it
(:meth:`audiospec_utils.features.folders.RenderFolder.cache`): it knows no file name of a render folder, the
caller gives it the parameters file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from ..exceptions import DatasetError, ParameterError
from ..fileio import atomic_path, write_text_atomic
from ..progress import show_progress
from .images import read_image

CACHE = "cache"  #: sub-folder of a render folder holding its caches

__all__ = ["SpectrogramCache", "resize_height", "as_frames"]

logger = logging.getLogger(__name__)

_VERSION = 1  # of the cache layout; part of the key


def resize_height(pixels: np.ndarray, height: int) -> np.ndarray:
    """Resize an image's height (frequency axis) only; its width (time) is kept.

    Parameters
    ----------
    pixels : np.ndarray, uint8, shape (H, W) or (H, W, 3)
        A spectrogram image as :func:`audiospec_utils.features.render_clip` makes it (row 0 is the
        highest frequency).
    height : int >= 1
        Target height in pixels.

    Returns
    -------
    np.ndarray, uint8, shape (height, W) or (height, W, 3)
        Pillow's bilinear filter (antialiased when shrinking), applied along the height only.

    Raises
    ------
    ParameterError
        `pixels` is not a 2-D or 3-channel uint8 image, or `height` < 1.
    """
    from PIL import Image

    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (1, 3))):
        raise ParameterError(f"pixels must be uint8 of shape (H, W) or (H, W, 3), got {pixels.dtype} {pixels.shape}")
    if not isinstance(height, (int, np.integer)) or height < 1:
        raise ParameterError(f"height must be a positive integer, got {height!r}")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.shape[0] == height:
        return pixels
    img = Image.fromarray(pixels).resize((pixels.shape[1], int(height)), Image.Resampling.BILINEAR)
    return np.asarray(img)


def as_frames(pixels: np.ndarray, height: int) -> np.ndarray:
    """An image as frames: resized in height, then laid out as ``(width, channels, height)`` uint8."""
    img = resize_height(pixels, height)
    if img.ndim == 2:
        img = img[:, :, None]
    return np.ascontiguousarray(img.transpose(1, 2, 0))


def _is_torch(x) -> bool:
    """Whether `x` is a torch tensor (NumPy 2 arrays also have a ``device`` attribute)."""
    return type(x).__module__.startswith("torch")


def _cache_home() -> Path:
    env = os.environ.get("AUDIOSPEC_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "audiospec"


class SpectrogramCache:
    """Images as one uint8 array of frames, and fixed-length crops of them.

    Build one with :meth:`for_folder` (a render folder, cached on disk) or :meth:`from_arrays`
    (images in memory, e.g. audio just rendered for a prediction).

    Attributes
    ----------
    pixels : np.ndarray (memmap) or torch.Tensor, uint8, shape (total_frames, channels, height)
    offsets : np.ndarray, int64, shape (n_images + 1,)
        Image ``i`` is ``pixels[offsets[i]:offsets[i + 1]]``.
    images : list of str
        Each image's name (its path relative to the render folder), or ``""`` in memory.
    height, channels : int
    path : pathlib.Path or None
        The ``.npy`` file, when cached on disk.
    """

    def __init__(self, pixels, offsets, images, path=None):
        self.pixels = pixels
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.images = list(images)
        self.path = path
        self.channels, self.height = int(pixels.shape[1]), int(pixels.shape[2])
        self._index = {name: i for i, name in enumerate(self.images)}

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        where = f" in {self.path}" if self.path else " in memory"
        return (f"SpectrogramCache({len(self)} images, {int(self.offsets[-1])} frames, {self.channels} channel(s) "
                f"x {self.height} px{where})")

    @property
    def on_device(self) -> bool:
        """Whether the pixels are a torch tensor (e.g. on the GPU) rather than a NumPy array."""
        return _is_torch(self.pixels)

    @property
    def widths(self) -> np.ndarray:
        """Width (frames) of each image, int64, shape (n_images,)."""
        return np.diff(self.offsets)

    @property
    def nbytes(self) -> int:
        """Size of the pixel array in bytes."""
        return int(self.offsets[-1]) * self.channels * self.height

    def rows(self, names) -> np.ndarray:
        """Positions of images by name (``image`` column of the manifest).

        Raises
        ------
        DatasetError
            A name that is not in the cache.
        """
        try:
            return np.array([self._index[n] for n in names], dtype=np.int64)
        except KeyError as err:
            raise DatasetError(f"image {err.args[0]!r} is not in the cache {self.path or ''}") from None

    def image(self, row: int) -> np.ndarray:
        """One whole image as uint8 ``(height, width)`` (grey) or ``(height, width, 3)``."""
        frames = self.pixels[self.offsets[row]:self.offsets[row + 1]]
        frames = np.asarray(frames.cpu() if _is_torch(frames) else frames)
        img = np.ascontiguousarray(frames.transpose(2, 0, 1))  # (width, channels, height) -> (height, width, channels)
        return img[:, :, 0] if self.channels == 1 else img

    def frame_index(self, rows, starts, length: int):
        """Frame positions of crops: ``offsets[row] + (start + arange(length)) % width``.

        Parameters
        ----------
        rows, starts : array-like of int, shape (n,)
            Image positions and the first frame of each crop (``0 <= start < width``).
        length : int
            Frames per crop.

        Returns
        -------
        np.ndarray or torch.Tensor, int64, shape (n, length)
            Of the same library as `rows` (a torch tensor stays on its device).
        """
        if _is_torch(rows):
            import torch

            offsets = self._offsets_on(rows.device)
            widths = offsets[1:] - offsets[:-1]
            pos = (starts[:, None] + torch.arange(length, device=rows.device)[None]) % widths[rows][:, None]
            return offsets[rows][:, None] + pos
        rows, starts = np.asarray(rows, dtype=np.int64), np.asarray(starts, dtype=np.int64)
        widths = self.widths
        pos = (starts[:, None] + np.arange(length)[None]) % widths[rows][:, None]
        return self.offsets[rows][:, None] + pos

    def _offsets_on(self, device):
        import torch

        cached = getattr(self, "_torch_offsets", None)
        if cached is None or cached.device != device:
            cached = self._torch_offsets = torch.as_tensor(self.offsets, device=device)
        return cached

    def crops(self, rows, starts, length: int):
        """Crops of `length` frames as uint8 ``(n, channels, height, length)``.

        Parameters
        ----------
        rows, starts : array-like of int, shape (n,)
        length : int >= 1

        Returns
        -------
        np.ndarray or torch.Tensor, uint8, shape (n, channels, height, length)
            NumPy for a memmap cache, a torch tensor on the cache's device after :meth:`to_device`.
        """
        idx = self.frame_index(rows, starts, length)
        if _is_torch(self.pixels):
            import torch

            idx = torch.as_tensor(idx, device=self.pixels.device)
            return self.pixels[idx].permute(0, 2, 3, 1)
        return np.ascontiguousarray(np.asarray(self.pixels[idx]).transpose(0, 2, 3, 1))

    def to_device(self, device) -> "SpectrogramCache":
        """A copy of this cache whose pixels live on a torch device (e.g. the GPU); the memmap stays.

        Returns
        -------
        SpectrogramCache
            The same images; :meth:`crops` then gathers on `device`.
        """
        import torch

        pixels = self.pixels if _is_torch(self.pixels) else torch.from_numpy(np.ascontiguousarray(self.pixels))
        out = SpectrogramCache(pixels.to(device), self.offsets, self.images, self.path)
        return out

    def for_device(self, device) -> "SpectrogramCache":
        """The cache the batches of `device` gather from: copied to a GPU once when it fits there.

        Parameters
        ----------
        device : torch.device
            Where the batches go.

        Returns
        -------
        SpectrogramCache
            On a CUDA device, a copy on it (:meth:`to_device`) when the pixels take less than half
            of its free memory; otherwise this cache (crops are then gathered in host memory).
        """
        if device.type != "cuda":
            return self
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        if self.nbytes < free // 2:
            return self.to_device(device)
        logger.info("image cache (%.1f GB) kept in host memory: too large for the GPU", self.nbytes / 1e9)
        return self

    def channel_stats(self, rows=None, *, max_frames: int = 2_000_000) -> tuple[list, list]:
        """Mean and standard deviation of each channel, in [0, 1] units, over some images.

        Parameters
        ----------
        rows : array-like of int or None
            Images to use (e.g. the training images); ``None``: all.
        max_frames : int
            At most this many frames are read (evenly spaced), to keep it quick on a large set.

        Returns
        -------
        (mean, std) : two lists of `channels` floats
        """
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        idx = np.concatenate([np.arange(self.offsets[r], self.offsets[r + 1]) for r in rows]) if len(rows) else \
            np.arange(int(self.offsets[-1]))
        if len(idx) > max_frames:
            idx = idx[np.linspace(0, len(idx) - 1, max_frames).astype(np.int64)]
        pixels = self.pixels[idx]
        pixels = np.asarray(pixels.cpu() if _is_torch(pixels) else pixels, dtype=np.float64) / 255.0
        mean = pixels.mean(axis=(0, 2))
        std = np.maximum(pixels.std(axis=(0, 2)), 1e-3)
        return [float(m) for m in mean], [float(s) for s in std]

    # ------------------------------------------------------------------------------------------
    # construction

    @classmethod
    def from_arrays(cls, images, height: int) -> "SpectrogramCache":
        """A cache in memory from uint8 images of any width.

        Parameters
        ----------
        images : sequence of np.ndarray, uint8, (H, W) or (H, W, 3)
            All grey or all RGB.
        height : int
            Height of the cache (each image is resized in height only).

        Returns
        -------
        SpectrogramCache

        Raises
        ------
        ParameterError
            No images, or grey and RGB images mixed.
        """
        if len(images) == 0:
            raise ParameterError("no images to cache")
        frames = [as_frames(img, height) for img in images]
        if len({f.shape[1] for f in frames}) != 1:
            raise ParameterError("the images mix grey and RGB; one cache holds one kind")
        offsets = np.concatenate([[0], np.cumsum([len(f) for f in frames])])
        return cls(np.concatenate(frames), offsets, [""] * len(frames))

    @classmethod
    def for_folder(cls, spec_dir, images, height: int, *, params_file=None, progress: bool = True,
                   n_jobs: int = 4) -> "SpectrogramCache":
        """The cache of some images of a render folder: opened when it is there and current, else built.

        Parameters
        ----------
        spec_dir : str or os.PathLike
            Render folder (``params.json``, ``manifest.csv``, ``images/``).
        images : sequence of str
            Image names relative to `spec_dir` (the manifest's ``image`` column), in the order the
            cache should hold them: pass every image of the folder (training and test), so that one
            cache serves training, evaluation and interpretation (an older cache of the same height
            is removed when a new one is built).
        height : int
            Image height in the cache, pixels.
        params_file : str or os.PathLike or None
            The parameters the images were rendered with (the render folder's ``params.json``,
            :attr:`audiospec_utils.features.folders.RenderFolder.params_file`): its bytes are part of the
            cache key. None: the key has no parameters, only the images (names, sizes, times).
        progress : bool
            Progress bar while building (stderr).
        n_jobs : int
            Threads decoding PNGs while building.

        Returns
        -------
        SpectrogramCache
            Memory-mapped, read-only.

        Raises
        ------
        DatasetError
            An image is missing or cannot be decoded (the message names it).
        ParameterError
            `height` < 1, or no images.
        """
        if not isinstance(height, (int, np.integer)) or height < 1:
            raise ParameterError(f"height must be a positive integer, got {height!r}")
        images = [str(i) for i in images]
        if not images:
            raise ParameterError(f"{spec_dir}: no images to cache")
        spec_dir = Path(spec_dir)
        key = cls._key(spec_dir, images, int(height), params_file)
        places = (spec_dir / CACHE, _cache_home() / hashlib.sha1(str(spec_dir.resolve()).encode()).hexdigest()[:12])
        for base in places:
            npy, index = base / f"h{height}-{key}.npy", base / f"h{height}-{key}.json"
            if npy.is_file() and index.is_file():
                try:
                    meta = json.loads(index.read_text())
                    pixels = np.load(npy, mmap_mode="r")
                    if meta.get("images") == images and pixels.shape[0] == meta["offsets"][-1]:
                        return cls(pixels, meta["offsets"], images, npy)
                except (OSError, ValueError, KeyError):
                    pass  # unreadable: build again
        for base in places:
            try:
                base.mkdir(parents=True, exist_ok=True)
                probe = base / f".probe-{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError:
                logger.info("%s is not writable; caching elsewhere", base)
                continue
            return cls._build(spec_dir, images, int(height), base, key, progress=progress, n_jobs=n_jobs)
        raise DatasetError(f"{spec_dir}: no writable place for the image cache (set AUDIOSPEC_CACHE)")

    @staticmethod
    def _key(spec_dir: Path, images: list, height: int, params_file) -> str:
        h = hashlib.sha1(f"v{_VERSION} h{height}\n".encode())
        params = Path(params_file) if params_file is not None else None
        h.update(params.read_bytes() if params is not None and params.is_file() else b"no params")
        for name in images:
            try:
                st = os.stat(spec_dir / name)
                h.update(f"{name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{name}\tmissing\n".encode())
        return h.hexdigest()[:16]

    @classmethod
    def _build(cls, spec_dir: Path, images: list, height: int, base: Path, key: str, *, progress: bool,
               n_jobs: int) -> "SpectrogramCache":
        from concurrent.futures import ThreadPoolExecutor

        from tqdm.auto import tqdm

        npy, index = base / f"h{height}-{key}.npy", base / f"h{height}-{key}.json"
        bar = tqdm(total=len(images), unit="image", desc=f"Caching images at {height} px", disable=not show_progress(progress))
        try:
            widths, channels = _image_widths(spec_dir, images)  # first pass: the array's shape, from the headers
            offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
            with atomic_path(npy) as tmp_npy, ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
                out = np.lib.format.open_memmap(tmp_npy, mode="w+", dtype=np.uint8,
                                                shape=(int(offsets[-1]), channels, height))
                chunk = 256
                for start in range(0, len(images), chunk):
                    names = images[start:start + chunk]
                    for j, frames in enumerate(pool.map(lambda name: _decoded_frames(spec_dir / name, height), names)):
                        i = start + j
                        if frames.shape[0] != widths[i] or frames.shape[1] != channels:
                            raise DatasetError(f"{spec_dir / images[i]}: the image changed while it was cached; "
                                               f"run again")
                        out[offsets[i]:offsets[i + 1]] = frames
                    bar.update(len(names))
                out.flush()
                del out  # closed before it is renamed
            write_text_atomic(index, json.dumps({"version": _VERSION, "height": height, "images": images,
                                                 "offsets": offsets.tolist()}))
        finally:
            bar.close()
        for stale in base.glob(f"h{height}-*.npy"):  # older caches of this height: superseded
            if stale != npy:
                stale.unlink(missing_ok=True)
                stale.with_suffix(".json").unlink(missing_ok=True)
        return cls(np.load(npy, mmap_mode="r"), offsets, images, npy)


def _image_widths(spec_dir: Path, images: list) -> tuple[list, int]:
    """Width (pixels) of each image and their common number of channels (1 or 3), from the PNG headers."""
    from PIL import Image

    widths, channels = [], None
    for name in images:
        path = spec_dir / name
        try:
            with Image.open(path) as im:
                widths.append(im.size[0])
                c = 3 if im.mode not in ("L", "1", "P", "I", "I;16", "F", "LA") else 1
        except FileNotFoundError:
            raise DatasetError(f"{path}: image listed in manifest.csv is missing; render again") from None
        except OSError as err:
            raise DatasetError(f"{path}: cannot read the image ({err}); delete it and render again") from None
        if channels is None:
            channels = c
        elif c != channels:
            raise DatasetError(f"{path}: the render folder mixes grey and colour images")
    return widths, channels


def _decoded_frames(path: Path, height: int) -> np.ndarray:
    """One image file decoded and laid out as frames (:func:`as_frames`) at `height` px."""
    try:
        arr = read_image(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: image listed in manifest.csv is missing; render again") from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot decode the image ({err}); delete it and render again") from None
    return as_frames(arr, height)
