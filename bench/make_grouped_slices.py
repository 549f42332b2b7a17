"""Build a grouped data set of real audio: FSDKaggle2018 clips cut into short slices, in the UrbanSound8K layout.

UrbanSound8K (Salamon, Jacoby and Bello, ACM MM 2014) is 8,732 slices of at most 4 s cut from about
1,300 longer Freesound recordings, with 10 predefined folds that keep the slices of one recording
together. This script makes a data set with the same structure from the real FSDKaggle2018 clips
that ``../shared/data/fsdkaggle2018-subset`` holds (300 clips, 10 labels, 1 to 26 s): every clip is a
source recording (its ``freesound_id`` is the group, ``fsID``), cut into consecutive slices of
``--slice-seconds`` (the last one kept when it is at least half as long), and the recordings are
spread over ``--folds`` folds, stratified by label (scikit-learn's ``StratifiedGroupKFold``).

Slices of one recording sound alike, so a split per slice puts near-copies on both sides: exactly
the trap of UrbanSound8K. The toolkit reads the result like the real thing::

    python bench/make_grouped_slices.py --out /tmp/fsd_slices
    audiospec render /tmp/fsd_slices --out /tmp/fsd_slices_specs
    audiospec train /tmp/fsd_slices_specs --out /tmp/run --no-pretrained --test-fold 5

Nothing is written into the project: the output folder is yours to choose. The clips keep their
Creative Commons licences (``license`` column of FSDKaggle2018's metadata).
"""

from __future__ import annotations

import argparse
import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "data" / "fsdkaggle2018-subset"


def _clips(source: Path):
    """(fname, label, freesound_id, split, zip file, member) of every clip in the three Zenodo archives."""
    meta = zipfile.ZipFile(source / "FSDKaggle2018.meta.zip")
    rows = []
    for split, csv_name, zip_name, folder in (
            ("train", "train_post_competition.csv", "FSDKaggle2018.audio_train.zip", "FSDKaggle2018.audio_train"),
            ("test", "test_post_competition_scoring_clips.csv", "FSDKaggle2018.audio_test.zip",
             "FSDKaggle2018.audio_test")):
        table = pd.read_csv(io.BytesIO(meta.read(f"FSDKaggle2018.meta/{csv_name}")), dtype=str)
        for r in table.itertuples(index=False):
            rows.append((r.fname, r.label, r.freesound_id, split, source / zip_name, f"{folder}/{r.fname}"))
    return rows


def recording_folds(clips, n_folds: int, seed: int) -> dict:
    """Fold (1 to `n_folds`) of each source recording (``freesound_id``), stratified by label (``StratifiedGroupKFold``)."""
    from sklearn.model_selection import StratifiedGroupKFold

    labels = sorted({c[1] for c in clips})
    ids = np.array([c[2] for c in clips])
    y = np.array([labels.index(c[1]) for c in clips])
    fold_of = {}
    sgkf = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test_idx) in enumerate(sgkf.split(np.zeros(len(y)), y, ids), start=1):
        for i in test_idx:
            fold_of[ids[i]] = k
    return fold_of


def write_clip(out_dir: Path, fold: int, name: str, audio, sr: int) -> None:
    """One clip of the UrbanSound8K layout: ``audio/fold<fold>/<name>``, 16-bit PCM."""
    path = out_dir / "audio" / f"fold{fold}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, sr, subtype="PCM_16")


def write_metadata(rows: list, out_dir: Path) -> pd.DataFrame:
    """``metadata/UrbanSound8K.csv`` of the clips written (one dict per clip)."""
    meta = pd.DataFrame(rows)
    (out_dir / "metadata").mkdir(parents=True, exist_ok=True)
    meta.to_csv(out_dir / "metadata" / "UrbanSound8K.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    return meta


def print_summary(meta: pd.DataFrame, what: str, out) -> None:
    """Clips and recordings per fold, as both scripts print them."""
    per_fold = meta.groupby("fold").agg(clips=("fsID", "size"), recordings=("fsID", "nunique"))
    print(f"{len(meta)} {what} of {meta['fsID'].nunique()} recordings, {meta['class'].nunique()} labels in {out}")
    print(per_fold.to_string())


def make_grouped_slices(source=DEFAULT_SOURCE, out_dir="/tmp/fsd_slices", *, slice_seconds: float = 2.0,
                        n_folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """Cut every clip of an FSDKaggle2018 archive folder into slices; write the UrbanSound8K layout.

    Parameters
    ----------
    source : path-like
        Folder with ``FSDKaggle2018.audio_train.zip``, ``FSDKaggle2018.audio_test.zip`` and
        ``FSDKaggle2018.meta.zip`` (the Zenodo archives).
    out_dir : path-like
        Output root: ``audio/fold<k>/<fsID>-<classID>-0-<n>.wav`` (16-bit PCM at the clip's rate)
        and ``metadata/UrbanSound8K.csv``.
    slice_seconds : float
        Length of a slice in seconds; the last slice of a clip is kept when it has at least half
        of it; a clip shorter than that is one slice.
    n_folds : int
        Folds (at most 10, as UrbanSound8K), recordings stratified by label.
    seed : int
        Seed of the fold assignment.

    Returns
    -------
    pandas.DataFrame
        The metadata written (``slice_file_name, fsID, start, end, salience, fold, classID, class``).
    """
    source, out_dir = Path(source), Path(out_dir)
    clips = _clips(source)
    labels = sorted({c[1] for c in clips})
    fold_of = recording_folds(clips, n_folds, seed)
    rows = []
    archives = {}
    for fname, label, fsid, _split, zip_path, member in clips:
        archive = archives.setdefault(zip_path, zipfile.ZipFile(zip_path))
        with sf.SoundFile(io.BytesIO(archive.read(member))) as f:
            sr, audio = f.samplerate, f.read(dtype="int16")
        n = int(round(slice_seconds * sr))
        starts = list(range(0, max(len(audio), 1), n))
        starts = [s for i, s in enumerate(starts) if i == 0 or len(audio) - s >= n // 2]
        fold = fold_of[fsid]
        for i, s in enumerate(starts):
            piece = audio[s:s + n]
            name = f"{fsid}-{labels.index(label)}-0-{i}.wav"
            write_clip(out_dir, fold, name, piece, sr)
            rows.append({"slice_file_name": name, "fsID": fsid, "start": round(s / sr, 3),
                         "end": round((s + len(piece)) / sr, 3), "salience": 1, "fold": fold,
                         "classID": labels.index(label), "class": label})
    return write_metadata(rows, out_dir)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=str(DEFAULT_SOURCE), help="folder with the three FSDKaggle2018 Zenodo archives")
    p.add_argument("--out", default="/tmp/fsd_slices", help="output folder (UrbanSound8K layout)")
    p.add_argument("--slice-seconds", type=float, default=2.0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    meta = make_grouped_slices(args.source, args.out, slice_seconds=args.slice_seconds, n_folds=args.folds,
                               seed=args.seed)
    print_summary(meta, "slices", args.out)


if __name__ == "__main__":
    main()
