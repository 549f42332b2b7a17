"""The image rows of a comparison: a CNN trained with fastai on one kind of spectrogram image.

:class:`ImageClassifier` renders the clips of one spectrogram kind, trains a small CNN from scratch
(:func:`audiospec_utils.learn.estimator.small_cnn`) or a ResNet on them with the toolkit's estimator,
and predicts the validation clips of the comparison's split, windows of a clip averaged.
It has the interface of :class:`audiospec_utils.assess.baselines.GBMBaseline` (``prepare``, ``fit``,
``predict``, and the row's ``method``, ``feature``, ``pretrained``), so that
:func:`audiospec_utils.assess.compare.compare` runs both alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..audio.splits import Split
from ..exceptions import AudiospecError, ParameterError
from ..features.folders import RenderFolder
from ..features.params import SpectrogramParams
from ..features.render import render_spectrograms
from ..learn.config import ARCHS, TrainingConfig
from ..learn.estimator import SpectrogramClassifier

__all__ = ["ImageClassifier", "check_positive_ints"]


def check_positive_ints(**values) -> None:
    """Refuse training sizes that are not positive integers.

    Parameters
    ----------
    **values : int
        Setting name -> value (``epochs=3, img_size=64, bs=32``).

    Raises
    ------
    ParameterError
        The first value that is not an integer >= 1, named.
    """
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ParameterError(f"{name} must be a positive integer, got {value!r}")


class ImageClassifier:
    """A CNN on spectrogram images, trained with fastai on the course's DataLoaders.

    The toolkit's estimator (:class:`audiospec_utils.learn.estimator.SpectrogramClassifier`, built from
    :attr:`config`) on the split's clips, so that its validation split is the comparison's: the
    ResNet or the small CNN (:func:`~audiospec_utils.learn.estimator.small_cnn`) trained as
    ``audiospec train`` trains (``fine_tune`` from ImageNet weights, else ``fit_one_cycle``, the
    recipe's augmentation). The last epoch is kept (no best-epoch selection on the validation
    clips, which are the ones scored).

    Parameters
    ----------
    spec_dir : str or os.PathLike
        Render folder of this kind (created by :meth:`prepare`).
    arch : {"small_cnn", "resnet18", "resnet34", "resnet50"}
    params : SpectrogramParams
        How this kind is rendered (``kind`` included).
    epochs, img_size, bs : int
        Training epochs, image height in pixels, batch size.
    crop_seconds : float or None
        Length (s) of the training crops and validation windows; None: from the clips' durations
        (:func:`audiospec_utils.learn.dataloaders.default_crop_seconds`).
    pretrained : bool
        ImageNet weights (ResNets only).
    weights : str or os.PathLike or None
        Local ImageNet weights file (see :func:`audiospec_utils.learn.estimator.load_imagenet_weights`).
    lr : float or None
        Peak learning rate; default that of :func:`audiospec_utils.learn.train.fit`.
    path : str or os.PathLike or None
        Folder for the learner's files (``history.csv``).
    n_jobs : int
        Render workers.
    progress : bool
        Progress bars.

    Attributes
    ----------
    method, feature, pretrained
        The row's identity: `arch`, ``params.kind``, `pretrained`.
    """

    def __init__(self, spec_dir, arch: str = "resnet34", *, params=None, epochs: int = 3, img_size: int = 64,
                 bs: int = 32, crop_seconds: float | None = None, pretrained: bool = False, weights=None,
                 lr: float | None = None, path=None, n_jobs: int = -1, progress: bool = False):
        if arch != "small_cnn" and arch not in ARCHS:
            raise ParameterError(f"arch must be 'small_cnn' or one of {', '.join(ARCHS)}, got {arch!r}")
        if arch == "small_cnn" and pretrained:
            raise ParameterError("the small CNN has no pretrained weights; use pretrained=False")
        check_positive_ints(epochs=epochs, img_size=img_size, bs=bs)
        self.spec_dir = Path(spec_dir)
        self.arch, self.params = arch, params or SpectrogramParams()
        self.method, self.feature, self.pretrained = arch, self.params.kind, bool(pretrained)
        self.epochs, self.img_size, self.bs, self.lr = int(epochs), int(img_size), int(bs), lr
        self.crop_seconds = None if crop_seconds is None else float(crop_seconds)
        self.weights, self.n_jobs, self.progress = weights, n_jobs, progress
        self.path = Path(path) if path is not None else self.spec_dir / f"run_{arch}"
        #: The training, as every other path of the toolkit takes it (seeded with the split's seed at fit).
        self.config = TrainingConfig(arch=arch, epochs=self.epochs, img_size=self.img_size, bs=self.bs,
                                     crop_seconds=self.crop_seconds, pretrained=self.pretrained,
                                     weights=str(weights) if self.pretrained and weights is not None else None, lr=lr)

    def prepare(self, table: pd.DataFrame) -> set:
        """Render the clips into :attr:`spec_dir` (only what is missing); return the rendered ids.

        Parameters
        ----------
        table : pandas.DataFrame
            Clip table (``clip_id``, ``path``...).

        Returns
        -------
        set of str
            Clips that have an image.

        Raises
        ------
        ParameterError
            The folder holds images rendered with other parameters, or the kind is unknown.
        """
        manifest = render_spectrograms(table, self.spec_dir, self.params, n_jobs=self.n_jobs,
                                       progress=self.progress)
        return set(manifest.loc[manifest["image"] != "", "clip_id"])

    def fit(self, split: Split) -> "ImageClassifier":
        """Train on the training clips of `split` (seeded with ``split.seed``).

        Returns
        -------
        ImageClassifier
            `self`, with ``learn_`` and ``dls_``.

        Raises
        ------
        AudiospecError
            Some of the split's validation clips have no image in this render.
        WeightsUnavailableError
            `pretrained` and no ImageNet weights can be had.
        """
        images = RenderFolder(self.spec_dir).training_images()
        images = images[images["clip_id"].isin(set(split.clips["clip_id"]))].reset_index(drop=True)
        self.path.mkdir(parents=True, exist_ok=True)
        clf = SpectrogramClassifier(self.config.replace(seed=split.seed))
        clf.build(self.spec_dir, table=images, split=split, path=self.path, progress=self.progress)
        got = sorted(set(clf.dls_.valid_table["clip_id"]))
        if got != sorted(split.valid_ids):
            raise AudiospecError(f"{self.spec_dir}: {len(got)} of the split's {len(split.valid_ids)} validation "
                                 f"clips have images; clips are missing from this render")
        if clf.classes_ != list(split.vocab):
            raise AudiospecError(f"{self.spec_dir}: labels differ from the split's")
        self.estimator_ = clf.train(history=True)
        self.learn_, self.dls_ = clf.learn_, clf.dls_
        return self

    def predict(self, split: Split) -> pd.DataFrame:
        """Per-clip class probabilities on the validation clips (windows of a clip averaged).

        Parameters
        ----------
        split : Split
            The split :meth:`fit` was given.

        Returns
        -------
        pandas.DataFrame
            As :func:`audiospec_utils.learn.inference.clip_predictions`: ``clip_id``, ``label``, one column
            per class, ``pred``.
        """
        return self.estimator_.predict_proba()
