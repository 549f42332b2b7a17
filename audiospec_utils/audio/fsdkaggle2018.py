"""FSDKaggle2018's published layout, described once: archives, folders, CSVs, columns, usages, labels.

FSDKaggle2018 (Fonseca et al., DCASE 2018 Task 2) comes in two layouts, and every module that
reads, writes, downloads or looks for the dataset takes the names from here:

* **Zenodo** (record `2552860 <https://zenodo.org/records/2552860>`_): four zip archives, each
  extracting to one folder of the same name (:data:`PART_FOLDERS`, :data:`PARTS`)::

      FSDKaggle2018.audio_train/<fname>.wav                        9,473 train clips
      FSDKaggle2018.audio_test/<fname>.wav                         1,600 test clips
      FSDKaggle2018.meta/train_post_competition.csv                fname,label,manually_verified,freesound_id,license
      FSDKaggle2018.meta/test_post_competition_scoring_clips.csv   fname,label,usage,freesound_id,license
      FSDKaggle2018.doc/

* **Kaggle** (the ``freesound-audio-tagging`` competition's files, :data:`KAGGLE_FILES`)::

      audio_train/<fname>.wav, train.csv                 fname,label,manually_verified
      audio_test/<fname>.wav, sample_submission.csv      fname,label (placeholder predictions)

  and, published after the competition beside them (:data:`KAGGLE_POST_COMPETITION`),
  ``train_post_competition.csv`` and ``test_post_competition.csv`` (the test clips' labels and
  ``usage``: ``Public`` and ``Private`` clips were scored, ``Ignored`` ones are padding).

:func:`find_fsdkaggle2018` recognises either layout in a folder. This module holds names and
nothing else: it imports nothing from the package and nothing outside the standard library, so
that any module (the course's configuration included) can use it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ZENODO_RECORD",
    "ZENODO_PAGE",
    "ZENODO_BASE_URL",
    "PART_FOLDERS",
    "PARTS",
    "DEFAULT_PARTS",
    "ARCHIVE_SIZES",
    "APPROX_ARCHIVE_BYTES",
    "CHECKSUM_FILE",
    "MIRROR_MD5SUMS",
    "AUDIO_FOLDERS",
    "META_FOLDER",
    "META_CSVS",
    "META_COLUMNS",
    "ZENODO_FILES",
    "KAGGLE_COMPETITION",
    "KAGGLE_FILES",
    "KAGGLE_POST_COMPETITION",
    "SCORED_USAGES",
    "FSDKAGGLE2018_LABELS",
    "part_folder",
    "find_fsdkaggle2018",
]

# ------------------------------------------------------------------------------------ Zenodo archives

#: The Zenodo record of the dataset.
ZENODO_RECORD = 2552860
#: The record's page (its MD5s are shown there).
ZENODO_PAGE = f"https://zenodo.org/records/{ZENODO_RECORD}"
#: Base URL of the record's files.
ZENODO_BASE_URL = f"{ZENODO_PAGE}/files/"

#: Part name -> the folder its archive extracts to (at the archive's top level).
PART_FOLDERS = {
    "train": "FSDKaggle2018.audio_train",
    "test": "FSDKaggle2018.audio_test",
    "meta": "FSDKaggle2018.meta",
    "doc": "FSDKaggle2018.doc",
}

#: Part name -> archive name on Zenodo.
PARTS = {part: f"{folder}.zip" for part, folder in PART_FOLDERS.items()}

#: The parts a course or a download fetches unless told otherwise: audio of both splits and the CSVs.
DEFAULT_PARTS = ("train", "test", "meta")

#: Exact archive sizes in bytes, as published by Zenodo. ``None`` = not known to this
#: module: no exact value could be sourced when this table was written, so the size
#: check is skipped and the MD5 check (which implies the size) does the work. Fill in a
#: value only from Zenodo itself (``https://zenodo.org/api/records/2552860``, ``size``).
ARCHIVE_SIZES: dict[str, int | None] = {
    "FSDKaggle2018.audio_train.zip": None,
    "FSDKaggle2018.audio_test.zip": None,
    "FSDKaggle2018.meta.zip": None,
    "FSDKaggle2018.doc.zip": None,
}

#: Rough archive sizes, used ONLY to estimate the disk space needed when neither
#: :data:`ARCHIVE_SIZES` nor the server (``HEAD`` / ``Content-Length``) gives the size.
#: Never used to verify a file.
APPROX_ARCHIVE_BYTES: dict[str, int | None] = {
    "FSDKaggle2018.audio_train.zip": 4_100_000_000,
    "FSDKaggle2018.audio_test.zip": 500_000_000,
    "FSDKaggle2018.meta.zip": 150_000,
    "FSDKaggle2018.doc.zip": None,
}

#: The MD5 table of the Zenodo archives shipped with the package (``md5sum`` format).
CHECKSUM_FILE = Path(__file__).resolve().parent / "checksums" / "fsdkaggle2018.md5"

#: Name of the checksum file looked up on a mirror of the archives.
MIRROR_MD5SUMS = "md5sums.txt"


def part_folder(archive_name: str) -> str:
    """The folder an archive extracts to: its name without ``.zip``.

    Parameters
    ----------
    archive_name : str
        E.g. ``"FSDKaggle2018.meta.zip"``.

    Returns
    -------
    str
        E.g. ``"FSDKaggle2018.meta"`` (a name without ``.zip`` is returned as it is).
    """
    return archive_name[: -len(".zip")] if archive_name.endswith(".zip") else archive_name


# ------------------------------------------------------------------------------- the Zenodo layout

#: Split -> folder of its WAVs.
AUDIO_FOLDERS = {split: PART_FOLDERS[split] for split in ("train", "test")}
#: Folder of the CSVs.
META_FOLDER = PART_FOLDERS["meta"]
#: Split -> name of its CSV in :data:`META_FOLDER`.
META_CSVS = {
    "train": "train_post_competition.csv",
    "test": "test_post_competition_scoring_clips.csv",
}
#: Split -> the columns of its CSV, in order.
META_COLUMNS = {
    "train": ("fname", "label", "manually_verified", "freesound_id", "license"),
    "test": ("fname", "label", "usage", "freesound_id", "license"),
}
#: Split -> (audio folder, CSV path relative to the root) in the Zenodo layout.
ZENODO_FILES = {split: (AUDIO_FOLDERS[split], f"{META_FOLDER}/{META_CSVS[split]}") for split in ("train", "test")}

# ------------------------------------------------------------------------------- the Kaggle layout

#: The Kaggle competition whose data has the Kaggle layout (its folder name under ``/kaggle/input``).
KAGGLE_COMPETITION = "freesound-audio-tagging"
#: Split -> (audio folder, CSV) in the Kaggle layout; the test CSV holds placeholder predictions.
KAGGLE_FILES = {
    "train": ("audio_train", "train.csv"),
    "test": ("audio_test", "sample_submission.csv"),
}
#: Split -> the CSV published on the competition's page after it ended, beside the files above:
#: the labels and the ``usage`` (Public, Private; Ignored for the padding clips) of the test clips,
#: and the recordings' ``freesound_id`` of both splits.
KAGGLE_POST_COMPETITION = {"train": "train_post_competition.csv", "test": "test_post_competition.csv"}

#: ``usage`` of the test clips the competition scored (its public and private leaderboards).
SCORED_USAGES = ("Public", "Private")

#: The 41 labels of FSDKaggle2018 (Fonseca et al., DCASE 2018 task 2), in alphabetical order.
FSDKAGGLE2018_LABELS = (
    "Acoustic_guitar", "Applause", "Bark", "Bass_drum", "Burping_or_eructation", "Bus", "Cello",
    "Chime", "Clarinet", "Computer_keyboard", "Cough", "Cowbell", "Double_bass",
    "Drawer_open_or_close", "Electric_piano", "Fart", "Finger_snapping", "Fireworks", "Flute",
    "Glockenspiel", "Gong", "Gunshot_or_gunfire", "Harmonica", "Hi-hat", "Keys_jangling", "Knock",
    "Laughter", "Meow", "Microwave_oven", "Oboe", "Saxophone", "Scissors", "Shatter", "Snare_drum",
    "Squeak", "Tambourine", "Tearing", "Telephone", "Trumpet", "Violin_or_fiddle", "Writing",
)


def find_fsdkaggle2018(root) -> tuple[str, Path] | None:
    """Recognise an FSDKaggle2018 folder.

    Parameters
    ----------
    root : str or os.PathLike
        A folder that may hold the dataset.

    Returns
    -------
    (layout, root) or None
        ``layout`` is ``"zenodo"`` (extracted Zenodo archives: ``FSDKaggle2018.audio_train/``,
        ``FSDKaggle2018.meta/``...) or ``"kaggle"`` (competition files: ``audio_train/``,
        ``train.csv``); ``None`` when neither layout is there.
    """
    root = Path(root)
    if (root / ZENODO_FILES["train"][1]).is_file() or (root / ZENODO_FILES["test"][1]).is_file():
        return "zenodo", root
    audio_dir, csv_name = KAGGLE_FILES["train"]
    if (root / csv_name).is_file() and (root / audio_dir).is_dir():
        return "kaggle", root
    return None
