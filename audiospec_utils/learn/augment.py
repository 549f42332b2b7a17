"""The augmentations of spectrogram batches, as functions on tensors: SpecAugment masks and time shift.

Spectrograms are not photos: flipping one turns time backwards or puts low frequencies on top,
which no real sound does. What is done instead, on whole batches on the device:

* :func:`mask_bands`: SpecAugment's frequency and time masking (Park et al., 2019, "SpecAugment: A
  Simple Data Augmentation Method for Automatic Speech Recognition", Interspeech);
* :func:`circular_time_shift`: a random circular shift along time;
* :func:`low_pass_rows`: a random low-pass, every row above a random cut-off frequency set to
  silence, as a recording made at a lower sample rate (a phone's 16 kHz, a web clip's 22.05 kHz)
  looks once resampled to the folder's rate: its top bands empty.

The fastai transforms that apply them to training batches, :class:`~audiospec_utils.learn.dataloaders.SpecAugment`
and :class:`~audiospec_utils.learn.dataloaders.TimeShift`, live in :mod:`audiospec_utils.learn.dataloaders`
(exported learners refer to them there). Random numbers come from torch's global generator, so a
seeded run repeats exactly.
"""

from __future__ import annotations

import torch

__all__ = ["band_mask", "mask_bands", "circular_time_shift", "low_pass_rows"]


def band_mask(bs: int, size: int, n: int, width: float, device) -> torch.Tensor:
    """Random bands along one axis: `n` per item, each at most ``width`` of `size` long.

    Parameters
    ----------
    bs : int
        Items in the batch (each gets its own bands).
    size : int
        Length of the axis (image height or width), in pixels.
    n : int >= 0
        Bands per item.
    width : float in [0, 1)
        Largest band length as a fraction of `size`; each band's length is drawn uniformly in
        ``[0, width * size]`` and its start uniformly where it fits.
    device : torch.device or str

    Returns
    -------
    torch.Tensor, bool, shape (bs, size)
        True inside a band.
    """
    hide = torch.zeros(bs, size, dtype=torch.bool, device=device)
    if n == 0 or width == 0:
        return hide
    pos = torch.arange(size, device=device)
    for _ in range(n):
        w = (torch.rand(bs, device=device) * (width * size + 1)).long().clamp(max=size)
        start = (torch.rand(bs, device=device) * (size - w + 1).float()).long()
        hide |= (pos[None] >= start[:, None]) & (pos[None] < (start + w)[:, None])
    return hide


def mask_bands(x: torch.Tensor, freq_masks: int, freq_width: float, time_masks: int,
               time_width: float) -> torch.Tensor:
    """SpecAugment's masking: random horizontal (frequency) and vertical (time) bands of each image set to 0.

    Parameters
    ----------
    x : torch.Tensor, float, shape (bs, channels, height, width)
        Normalised images (0 is then the mean pixel, what the paper masks with).
    freq_masks, time_masks : int >= 0
        Frequency and time bands per image.
    freq_width, time_width : float in [0, 1)
        Largest band, as a fraction of the height or the width (:func:`band_mask`).

    Returns
    -------
    torch.Tensor
        Of the shape, dtype and device of `x`; `x` itself is unchanged.
    """
    bs, _, h, w = x.shape
    rows = band_mask(bs, h, freq_masks, freq_width, x.device)
    cols = band_mask(bs, w, time_masks, time_width, x.device)
    return x.masked_fill(rows[:, None, :, None] | cols[:, None, None, :], 0.0)


def circular_time_shift(x: torch.Tensor, max_shift: float) -> torch.Tensor:
    """Roll each image along time by a random number of columns (what leaves on the right comes back on the left).

    Parameters
    ----------
    x : torch.Tensor, shape (bs, channels, height, width)
    max_shift : float in [0, 1]
        Largest shift as a fraction of the width; each image's shift is drawn uniformly in
        ``[-max_shift, max_shift]`` (rounded to whole columns). Frequencies are never moved.

    Returns
    -------
    torch.Tensor
        Of the shape of `x` (`x` itself when `max_shift` is 0).
    """
    bs, c, h, w = x.shape
    if max_shift == 0:
        return x
    shift = ((torch.rand(bs, device=x.device) * 2 - 1) * max_shift * w).round().long()
    idx = (torch.arange(w, device=x.device)[None] - shift[:, None]) % w
    return x.gather(3, idx[:, None, None, :].expand(bs, c, h, w))


def low_pass_rows(x: torch.Tensor, row_hz: torch.Tensor, floor: torch.Tensor, p: float, low_hz: float,
                  high_hz: float) -> torch.Tensor:
    """Low-pass some images of a batch: every row above a random cut-off frequency set to `floor`.

    A clip recorded at a lower sample rate and resampled to the folder's has nothing above its
    Nyquist frequency: in the image those rows are silence (pixel 0, ``top_db`` below the clip's
    loudest band). Shown such images while training, a network learns not to need the top bands,
    and a band-limited recording is classified as its full-band copy would be.

    Parameters
    ----------
    x : torch.Tensor, float, shape (bs, channels, height, width)
        Normalised images, row 0 the highest frequency.
    row_hz : torch.Tensor, float, shape (height,)
        Centre frequency of each row in Hz, row 0 first (the highest).
    floor : torch.Tensor, float, shape (channels,)
        The value of silence in each channel after normalisation (``-mean / std``).
    p : float in [0, 1]
        Probability that an image is low-passed.
    low_hz, high_hz : float
        The cut-off of a low-passed image is drawn uniformly in ``[low_hz, high_hz]`` Hz.

    Returns
    -------
    torch.Tensor
        Of the shape, dtype and device of `x`; `x` itself is unchanged.
    """
    bs, c, h, _ = x.shape
    if p == 0 or h != len(row_hz):
        return x
    on = torch.rand(bs, device=x.device) < p
    cut = low_hz + torch.rand(bs, device=x.device) * (high_hz - low_hz)
    hide = on[:, None] & (row_hz.to(x.device)[None, :] > cut[:, None])  # (bs, height)
    return torch.where(hide[:, None, :, None], floor.to(x.device, x.dtype).view(1, c, 1, 1), x)
