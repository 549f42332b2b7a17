"""Clips: audio files read with clear errors, the clip table, datasets in their layouts, FSDKaggle2018's
download, the synthetic mini dataset, and splits that never cut a recording in two.

Modules
-------
* :mod:`~audiospec_utils.audio.benchmarks`: The public benchmark datasets, read in the layouts their archives extract to.
* :mod:`~audiospec_utils.audio.clip_table`: The common clip table: its columns, and the steps every loader of a source shares.
* :mod:`~audiospec_utils.audio.datasets`: Sources of labelled audio, all loaded into one table.
* :mod:`~audiospec_utils.audio.decode`: Reading audio files into NumPy arrays, with one clear error per kind of bad file.
* :mod:`~audiospec_utils.audio.download`: Download, verify and extract the FSDKaggle2018 dataset from Zenodo (or a mirror).
* :mod:`~audiospec_utils.audio.fsdkaggle2018`: FSDKaggle2018's published layout, described once: archives, folders, CSVs, columns, usages, labels.
* :mod:`~audiospec_utils.audio.http_download`: Download one file over HTTP, resuming after an interruption, and verify it (size, MD5).
* :mod:`~audiospec_utils.audio.mini`: A small built-in dataset of **synthetic** sounds, in FSDKaggle2018's on-disk layout.
* :mod:`~audiospec_utils.audio.splits`: Train / validation / test splits that never cut a source recording in two.
* :mod:`~audiospec_utils.audio.synthesis`: Synthetic sounds of eight FSDKaggle2018 labels: one recipe per label, all from noise and oscillators.
* :mod:`~audiospec_utils.audio.unzip`: Extract a zip archive safely ("zip slip" refused) and atomically per top-level entry.

Every public name below is importable from here (``from audiospec_utils.audio import ...``); it is
imported from its module when first asked for, so that importing one module of the subpackage never
loads the heavy libraries (torch, fastai) another needs.
"""

from __future__ import annotations

import importlib

#: Each public name and the module (of this subpackage) that defines it.
_WHERE = {
    "URBANSOUND8K_COLUMNS": "benchmarks",
    "ESC50_COLUMNS": "benchmarks",
    "load_fsdkaggle2018": "benchmarks",
    "find_urbansound8k": "benchmarks",
    "load_urbansound8k": "benchmarks",
    "find_esc50": "benchmarks",
    "load_esc50": "benchmarks",
    "COLUMNS": "clip_table",
    "OPTIONAL_COLUMNS": "clip_table",
    "read_metadata_csv": "clip_table",
    "fold_string": "clip_table",
    "with_optional_columns": "clip_table",
    "warn_missing_files": "clip_table",
    "sample_per_label": "clip_table",
    "load_source": "datasets",
    "load_folder_per_class": "datasets",
    "load_csv": "datasets",
    "groups_from_pattern": "datasets",
    "AUDIO_EXTENSIONS": "decode",
    "load_audio": "decode",
    "audio_info": "decode",
    "is_audio_file": "decode",
    "most_common_rate": "decode",
    "download_fsdkaggle2018": "download",
    "load_md5sums": "download",
    "archive_url": "download",
    "ZENODO_RECORD": "fsdkaggle2018",
    "ZENODO_PAGE": "fsdkaggle2018",
    "ZENODO_BASE_URL": "fsdkaggle2018",
    "PART_FOLDERS": "fsdkaggle2018",
    "PARTS": "fsdkaggle2018",
    "DEFAULT_PARTS": "fsdkaggle2018",
    "ARCHIVE_SIZES": "fsdkaggle2018",
    "APPROX_ARCHIVE_BYTES": "fsdkaggle2018",
    "CHECKSUM_FILE": "fsdkaggle2018",
    "MIRROR_MD5SUMS": "fsdkaggle2018",
    "AUDIO_FOLDERS": "fsdkaggle2018",
    "META_FOLDER": "fsdkaggle2018",
    "META_CSVS": "fsdkaggle2018",
    "META_COLUMNS": "fsdkaggle2018",
    "ZENODO_FILES": "fsdkaggle2018",
    "KAGGLE_COMPETITION": "fsdkaggle2018",
    "KAGGLE_FILES": "fsdkaggle2018",
    "KAGGLE_POST_COMPETITION": "fsdkaggle2018",
    "SCORED_USAGES": "fsdkaggle2018",
    "FSDKAGGLE2018_LABELS": "fsdkaggle2018",
    "part_folder": "fsdkaggle2018",
    "find_fsdkaggle2018": "fsdkaggle2018",
    "RETRY_BASE_DELAY": "http_download",
    "RETRY_MAX_DELAY": "http_download",
    "download_file": "http_download",
    "read_md5sums": "http_download",
    "check_transfer_settings": "http_download",
    "http_session": "http_download",
    "content_length": "http_download",
    "partial_path": "http_download",
    "tell": "http_download",
    "MINI_LICENSE": "mini",
    "make_mini_dataset": "mini",
    "SPLIT_BY": "splits",
    "Split": "splits",
    "split_clips": "splits",
    "assign_folds": "splits",
    "clip_table": "splits",
    "PER_CLIP_WARNING": "splits",
    "MINI_LABELS": "synthesis",
    "MINI_SR": "synthesis",
    "SYNTH_VERSION": "synthesis",
    "PEAK_LIMIT": "synthesis",
    "synthesize_clip": "synthesis",
    "check_int": "synthesis",
    "EXTRACT_PREFIX": "unzip",
    "extract_zip": "unzip",
    "member_parts": "unzip",
}

__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
