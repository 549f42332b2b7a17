"""Clips: audio files read with clear errors, the clip table, datasets in their layouts, FSDKaggle2018's
download, the synthetic mini dataset, and splits that never cut a recording in two.

Modules
-------
* :mod:`~audiospec_utils.audio.benchmarks`: The public benchmark datasets, read in the layouts their
  archives extract to.
* :mod:`~audiospec_utils.audio.clip_table`: The common clip table: its columns, and the steps every
  loader of a source shares.
* :mod:`~audiospec_utils.audio.datasets`: Sources of labelled audio, all loaded into one table.
* :mod:`~audiospec_utils.audio.decode`: Reading audio files into NumPy arrays, with one clear error per
  kind of bad file.
* :mod:`~audiospec_utils.audio.download`: Download, verify and extract the FSDKaggle2018 dataset from
  Zenodo (or a mirror).
* :mod:`~audiospec_utils.audio.fsdkaggle2018`: FSDKaggle2018's published layout, described once:
  archives, folders, CSVs, columns, usages, labels.
* :mod:`~audiospec_utils.audio.http_download`: Download one file over HTTP, resuming after an
  interruption, and verify it (size, MD5).
* :mod:`~audiospec_utils.audio.mini`: A small built-in dataset of **synthetic** sounds, in
  FSDKaggle2018's on-disk layout.
* :mod:`~audiospec_utils.audio.splits`: Train / validation / test splits that never cut a source
  recording in two.
* :mod:`~audiospec_utils.audio.synthesis`: Synthetic sounds of eight FSDKaggle2018 labels: one recipe
  per label, all from noise and oscillators.
* :mod:`~audiospec_utils.audio.unzip`: Extract a zip archive safely ("zip slip" refused) and atomically
  per top-level entry.

Every public name below is importable from here (``from audiospec_utils.audio import ...``); it is
imported from its module when first asked for (``lazy_loader``, as librosa does), so that importing
one module of the subpackage never loads the heavy libraries (torch, fastai) another needs.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "benchmarks": ["URBANSOUND8K_COLUMNS", "ESC50_COLUMNS", "load_fsdkaggle2018", "find_urbansound8k",
                   "load_urbansound8k", "find_esc50", "load_esc50"],
    "clip_table": ["COLUMNS", "OPTIONAL_COLUMNS", "read_metadata_csv", "fold_string", "with_optional_columns",
                   "warn_missing_files", "sample_per_label"],
    "datasets": ["load_source", "load_folder_per_class", "load_csv", "groups_from_pattern"],
    "decode": ["AUDIO_EXTENSIONS", "load_audio", "audio_info", "is_audio_file", "most_common_rate"],
    "download": ["download_fsdkaggle2018", "load_md5sums", "archive_url"],
    "fsdkaggle2018": ["ZENODO_RECORD", "ZENODO_PAGE", "ZENODO_BASE_URL", "PART_FOLDERS", "PARTS", "DEFAULT_PARTS",
                      "ARCHIVE_SIZES", "APPROX_ARCHIVE_BYTES", "CHECKSUM_FILE", "MIRROR_MD5SUMS", "AUDIO_FOLDERS",
                      "META_FOLDER", "META_CSVS", "META_COLUMNS", "ZENODO_FILES", "KAGGLE_COMPETITION",
                      "KAGGLE_FILES", "KAGGLE_POST_COMPETITION", "SCORED_USAGES", "FSDKAGGLE2018_LABELS",
                      "part_folder", "find_fsdkaggle2018"],
    "http_download": ["RETRY_BASE_DELAY", "RETRY_MAX_DELAY", "download_file", "read_md5sums",
                      "check_transfer_settings", "http_session", "content_length", "partial_path", "tell"],
    "mini": ["MINI_LICENSE", "make_mini_dataset"],
    "splits": ["SPLIT_BY", "Split", "split_clips", "assign_folds", "PER_CLIP_WARNING"],
    "synthesis": ["MINI_LABELS", "MINI_SR", "SYNTH_VERSION", "PEAK_LIMIT", "synthesize_clip", "check_int"],
    "unzip": ["EXTRACT_PREFIX", "extract_zip", "member_parts"],
})
