"""Tests of audiospec_utils.audio.mini: the synthetic mini dataset in FSDKaggle2018's layout."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiospec_utils.audio import mini
from audiospec_utils.exceptions import DatasetError, ParameterError

SMALL = dict(n_train_per_label=3, n_test_per_label=2)
TRAIN_DIR, TEST_DIR, META_DIR = "FSDKaggle2018.audio_train", "FSDKaggle2018.audio_test", "FSDKaggle2018.meta"
TRAIN_CSV = f"{META_DIR}/train_post_competition.csv"
TEST_CSV = f"{META_DIR}/test_post_competition_scoring_clips.csv"
TRAIN_COLUMNS = ["fname", "label", "manually_verified", "freesound_id", "license"]
TEST_COLUMNS = ["fname", "label", "usage", "freesound_id", "license"]
FNAME_RE = re.compile(r"^[0-9a-f]{8}\.wav$")


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def wav_bytes_by_clip(root: Path) -> dict[tuple[str, str, int], bytes]:
    """WAV bytes keyed by (split, label, rank of the fname within the label), not by fname."""
    out = {}
    for split, csv_name, audio_dir in (("train", TRAIN_CSV, TRAIN_DIR), ("test", TEST_CSV, TEST_DIR)):
        _, rows = read_csv(root / csv_name)
        by_label: dict[str, list[str]] = {}
        for r in rows:
            by_label.setdefault(r["label"], []).append(r["fname"])
        for label, names in by_label.items():
            for i, name in enumerate(sorted(names)):
                out[(split, label, i)] = (root / audio_dir / name).read_bytes()
    return out


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def centroid_hz(y: np.ndarray, sr: int) -> float:
    """Power-weighted spectral centroid of the whole clip (numpy FFT)."""
    power = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(y.size, 1.0 / sr)
    return float(np.sum(freqs * power) / np.sum(power))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("mini") / "fsd"
    out = mini.make_mini_dataset(dest, **SMALL, seed=0)
    assert out == dest and isinstance(out, Path)
    return dest


# ---------------------------------------------------------------------------------------------
# layout and metadata
# ---------------------------------------------------------------------------------------------

def test_labels_are_real_fsdkaggle2018_labels():
    assert 6 <= len(mini.MINI_LABELS) <= 8
    assert len(set(mini.MINI_LABELS)) == len(mini.MINI_LABELS)
    from audiospec_utils.audio import FSDKAGGLE2018_LABELS

    assert set(mini.MINI_LABELS) <= set(FSDKAGGLE2018_LABELS)


def test_layout_paths_and_columns(root):
    for rel in (TRAIN_DIR, TEST_DIR, META_DIR):
        assert (root / rel).is_dir(), rel
    for rel in (TRAIN_CSV, TEST_CSV, "mini_dataset.json"):
        assert (root / rel).is_file(), rel
    assert read_csv(root / TRAIN_CSV)[0] == TRAIN_COLUMNS
    assert read_csv(root / TEST_CSV)[0] == TEST_COLUMNS
    # written last and removed: nothing temporary is left behind
    assert not list(root.rglob("*.partial"))
    assert not (root / "mini_dataset.incomplete").exists()


@pytest.mark.parametrize("csv_name, audio_dir, n_per_label", [
    (TRAIN_CSV, TRAIN_DIR, SMALL["n_train_per_label"]),
    (TEST_CSV, TEST_DIR, SMALL["n_test_per_label"]),
])
def test_csv_rows_match_wav_files(root, csv_name, audio_dir, n_per_label):
    _, rows = read_csv(root / csv_name)
    names = [r["fname"] for r in rows]
    assert names == sorted(names), "rows must be sorted by fname"
    assert len(set(names)) == len(names)
    assert all(FNAME_RE.match(n) for n in names), names
    on_disk = sorted(p.name for p in (root / audio_dir).iterdir())
    assert on_disk == names, "every CSV row needs a WAV and every WAV a CSV row"
    labels = [r["label"] for r in rows]
    assert set(labels) == set(mini.MINI_LABELS)
    assert all(labels.count(lab) == n_per_label for lab in mini.MINI_LABELS)
    assert all(r["license"] == mini.MINI_LICENSE for r in rows)
    assert "synthetic" in mini.MINI_LICENSE
    ids = [int(r["freesound_id"]) for r in rows]
    assert len(set(ids)) == len(ids)


def test_fnames_unique_across_splits(root):
    train = {r["fname"] for r in read_csv(root / TRAIN_CSV)[1]}
    test = {r["fname"] for r in read_csv(root / TEST_CSV)[1]}
    assert train.isdisjoint(test)


def test_manually_verified_and_usage(tmp_path):
    # Enough clips to check the proportions: 2 labels x 20 train, 20 test.
    dest = mini.make_mini_dataset(tmp_path / "d", n_train_per_label=20, n_test_per_label=20,
                                  labels=("Hi-hat", "Knock"), seed=3)
    train, test = read_csv(dest / TRAIN_CSV)[1], read_csv(dest / TEST_CSV)[1]
    verified = [int(r["manually_verified"]) for r in train]
    assert set(verified) == {0, 1}
    assert 0.3 <= np.mean(verified) <= 0.5  # about 40 %
    usage = [r["usage"] for r in test]
    assert set(usage) == {"Public", "Private"}
    assert 0.4 <= usage.count("Public") / len(usage) <= 0.6


def test_settings_json(root):
    record = json.loads((root / "mini_dataset.json").read_text())
    assert record["seed"] == 0
    assert record["labels"] == list(mini.MINI_LABELS)
    assert record["n_train_per_label"] == 3 and record["n_test_per_label"] == 2
    assert record["sr"] == mini.MINI_SR == 44100
    assert record["synthetic"] is True


def test_module_says_audio_is_synthetic():
    assert "synthetic" in mini.__doc__.lower()
    assert "not freesound" in " ".join(mini.__doc__.lower().split())


# ---------------------------------------------------------------------------------------------
# audio format and content
# ---------------------------------------------------------------------------------------------

def test_audio_format_and_durations(root):
    durations = {}
    for split, audio_dir in (("train", TRAIN_DIR), ("test", TEST_DIR)):
        durations[split] = []
        for wav in sorted((root / audio_dir).iterdir()):
            info = sf.info(wav)
            assert (info.samplerate, info.channels, info.subtype, info.format) == (44100, 1, "PCM_16", "WAV"), wav
            durations[split].append(info.frames / info.samplerate)
        # each split holds a clip at (about) the 0.3 s minimum of FSDKaggle2018
        assert 0.3 <= min(durations[split]) <= 0.36, split
    everything = durations["train"] + durations["test"]
    assert min(everything) >= 0.3 and max(everything) <= 10.5
    assert min(everything) < 1.0 and max(everything) > 4.0, everything


def test_each_split_has_a_shortest_clip(tmp_path):
    # Violin clips are long (median 3 s): the 0.3 s clip of each split is there on purpose.
    dest = mini.make_mini_dataset(tmp_path / "d", n_train_per_label=2, n_test_per_label=1,
                                  labels=("Violin_or_fiddle",), seed=5)
    for audio_dir in (TRAIN_DIR, TEST_DIR):
        durations = [sf.info(p).duration for p in (dest / audio_dir).iterdir()]
        assert 0.3 <= min(durations) <= 0.36, (audio_dir, durations)


def test_levels_vary_and_never_clip(root):
    peaks = []
    for wav in sorted((root / TRAIN_DIR).iterdir()) + sorted((root / TEST_DIR).iterdir()):
        y, _ = sf.read(wav, dtype="int16")
        peak = int(np.max(np.abs(y.astype(np.int32))))
        assert 0 < peak <= int(round(0.99 * 32767)), wav
        peaks.append(20 * np.log10(peak / 32768))
    assert min(peaks) >= -31.0 and max(peaks) <= -0.05
    assert max(peaks) - min(peaks) > 10.0, "levels should vary between clips"


def _clips_by_label(root: Path) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for csv_name, audio_dir in ((TRAIN_CSV, TRAIN_DIR), (TEST_CSV, TEST_DIR)):
        for r in read_csv(root / csv_name)[1]:
            y, sr = sf.read(root / audio_dir / r["fname"], dtype="float32")
            assert sr == 44100
            out.setdefault(r["label"], []).append(y)
    return out


def test_classes_differ_on_the_spectrum(root):
    clips = _clips_by_label(root)
    centroid = {lab: [centroid_hz(y, 44100) for y in ys] for lab, ys in clips.items()}
    mean = {lab: float(np.mean(v)) for lab, v in centroid.items()}
    # Hi-hat is bright, Bass_drum is dark: far apart on average...
    assert mean["Hi-hat"] > 3 * mean["Bass_drum"], mean
    assert mean["Hi-hat"] > 4000.0 > mean["Bass_drum"], mean
    # ...and every Hi-hat clip is brighter than every Bass_drum clip.
    assert min(centroid["Hi-hat"]) > max(centroid["Bass_drum"]), centroid


def test_clips_of_a_label_vary(root):
    for label, ys in _clips_by_label(root).items():
        lengths = [y.size for y in ys]
        assert len(set(lengths)) > 1, f"{label}: all clips have the same length"
        # equal-length prefixes still differ (different pitch, timing, noise)
        m = min(lengths)
        prefixes = [y[:m] for y in ys]
        for i in range(len(prefixes)):
            for j in range(i + 1, len(prefixes)):
                assert not np.array_equal(prefixes[i], prefixes[j]), label
        cents = [centroid_hz(y, 44100) for y in ys]
        assert np.std(cents) > 0.02 * np.mean(cents), f"{label}: spectra barely vary {cents}"


def _dominant_hz(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y.astype(np.float64) * np.hanning(y.size)))
    freqs = np.fft.rfftfreq(y.size, 1.0 / sr)
    spec[freqs < 150] = 0  # ignore hum and rumble of the background
    return float(freqs[np.argmax(spec)])


def test_flute_and_violin_share_a_pitch_range():
    """The pitch alone must not separate Flute from Violin_or_fiddle: the model needs timbre."""
    def f0s(label):
        return [_dominant_hz(mini.synthesize_clip(label, np.random.default_rng([11, i]), duration=0.5), 44100)
                for i in range(12)]
    flute, violin = f0s("Flute"), f0s("Violin_or_fiddle")
    overlap_lo, overlap_hi = max(min(flute), min(violin)), min(max(flute), max(violin))
    assert overlap_lo < overlap_hi, (sorted(flute), sorted(violin))
    assert sum(overlap_lo <= f <= overlap_hi for f in flute + violin) >= 6


# ---------------------------------------------------------------------------------------------
# synthesize_clip
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("label", mini.MINI_LABELS)
def test_synthesize_clip_contract(label):
    y = mini.synthesize_clip(label, np.random.default_rng(1), duration=0.7)
    assert y.dtype == np.float32 and y.ndim == 1
    assert y.size == round(0.7 * mini.MINI_SR)
    assert np.all(np.isfinite(y))
    assert 0.03 < np.max(np.abs(y)) <= 0.99  # peak between about -30 and -1 dBFS
    again = mini.synthesize_clip(label, np.random.default_rng(1), duration=0.7)
    assert np.array_equal(y, again), "same generator state, same clip"
    other = mini.synthesize_clip(label, np.random.default_rng(2), duration=0.7)
    assert not np.array_equal(y, other)


def test_synthesize_clip_other_sampling_rate():
    y = mini.synthesize_clip("Hi-hat", np.random.default_rng(0), sr=16000, duration=1.0)
    assert y.size == 16000 and np.max(np.abs(y)) <= 0.99


def test_synthesize_clip_default_duration_range():
    rng = np.random.default_rng(5)
    sizes = [mini.synthesize_clip("Knock", rng, sr=16000).size / 16000 for _ in range(10)]
    assert all(0.3 <= d <= 10.0 for d in sizes) and len(set(sizes)) > 1


def test_synthesize_clip_unknown_label_lists_known_labels():
    with pytest.raises(ParameterError) as err:
        mini.synthesize_clip("Didgeridoo", np.random.default_rng(0))
    assert "Didgeridoo" in str(err.value)
    assert all(lab in str(err.value) for lab in mini.MINI_LABELS)


@pytest.mark.parametrize("kwargs, name", [
    (dict(rng=0), "rng"),
    (dict(sr=8000), "sr"),
    (dict(sr=44100.0), "sr"),
    (dict(duration=0.1), "duration"),
    (dict(duration=31.0), "duration"),
    (dict(duration="long"), "duration"),
])
def test_synthesize_clip_bad_parameters(kwargs, name):
    args = dict(label="Flute", rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(ParameterError, match=name):
        mini.synthesize_clip(**args)


# ---------------------------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------------------------

def test_same_seed_gives_identical_files(root, tmp_path):
    again = mini.make_mini_dataset(tmp_path / "again", **SMALL, seed=0)
    assert all_files(again) == all_files(root)


def test_other_seed_gives_other_audio(root, tmp_path):
    other = mini.make_mini_dataset(tmp_path / "other", **SMALL, seed=1)
    a, b = wav_bytes_by_clip(root), wav_bytes_by_clip(other)
    assert a.keys() == b.keys()
    assert set(a.values()).isdisjoint(b.values())
    names_a = {p.name for p in (root / TRAIN_DIR).iterdir()}
    names_b = {p.name for p in (other / TRAIN_DIR).iterdir()}
    assert names_a.isdisjoint(names_b)


def test_test_count_does_not_change_train_clips(root, tmp_path):
    fewer = mini.make_mini_dataset(tmp_path / "fewer", n_train_per_label=3, n_test_per_label=1, seed=0)
    assert (fewer / TRAIN_CSV).read_bytes() == (root / TRAIN_CSV).read_bytes()
    for wav in (root / TRAIN_DIR).iterdir():
        assert (fewer / TRAIN_DIR / wav.name).read_bytes() == wav.read_bytes()
    # the remaining test clip of each label is the first one of the bigger dataset
    assert set(p.name for p in (fewer / TEST_DIR).iterdir()) < set(p.name for p in (root / TEST_DIR).iterdir())


# ---------------------------------------------------------------------------------------------
# idempotency, overwrite, interrupted runs, foreign folders
# ---------------------------------------------------------------------------------------------

def test_second_call_rewrites_nothing(root):
    before = mtimes(root)
    assert mini.make_mini_dataset(str(root), **SMALL, seed=0) == root
    assert mtimes(root) == before


def test_other_settings_without_overwrite_raise(root):
    before = mtimes(root)
    with pytest.raises(DatasetError) as err:
        mini.make_mini_dataset(root, n_train_per_label=4, n_test_per_label=2, seed=0)
    msg = str(err.value)
    assert str(root) in msg and "n_train_per_label" in msg and "overwrite" in msg
    with pytest.raises(DatasetError, match="seed"):
        mini.make_mini_dataset(root, **SMALL, seed=2)
    assert mtimes(root) == before


def test_overwrite_regenerates(tmp_path):
    dest = tmp_path / "d"
    mini.make_mini_dataset(dest, n_train_per_label=2, n_test_per_label=1, labels=("Flute", "Knock"))
    (dest / "notes.txt").write_text("mine")  # not ours: must survive
    old_wavs = {p.name for p in (dest / TRAIN_DIR).iterdir()}
    mini.make_mini_dataset(dest, n_train_per_label=1, n_test_per_label=1, labels=("Cowbell",),
                           seed=4, overwrite=True)
    _, rows = read_csv(dest / TRAIN_CSV)
    assert [r["label"] for r in rows] == ["Cowbell"]
    new_wavs = {p.name for p in (dest / TRAIN_DIR).iterdir()}
    assert new_wavs == {rows[0]["fname"]} and new_wavs.isdisjoint(old_wavs)
    assert json.loads((dest / "mini_dataset.json").read_text())["labels"] == ["Cowbell"]
    assert (dest / "notes.txt").read_text() == "mine"
    # and it is now the complete dataset for these settings
    before = mtimes(dest)
    mini.make_mini_dataset(dest, n_train_per_label=1, n_test_per_label=1, labels=("Cowbell",), seed=4)
    assert mtimes(dest) == before


def test_interrupted_run_is_not_taken_as_complete(tmp_path, monkeypatch):
    settings = dict(n_train_per_label=2, n_test_per_label=1, labels=("Applause", "Telephone"), seed=9)
    reference = mini.make_mini_dataset(tmp_path / "ref", **settings)

    real_write = mini._write_wav_atomic
    calls = []

    def failing_write(path, y, sr):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt  # e.g. the user stops the notebook cell
        real_write(path, y, sr)

    dest = tmp_path / "crashed"
    monkeypatch.setattr(mini, "_write_wav_atomic", failing_write)
    with pytest.raises(KeyboardInterrupt):
        mini.make_mini_dataset(dest, **settings)
    monkeypatch.setattr(mini, "_write_wav_atomic", real_write)
    assert not (dest / "mini_dataset.json").exists()
    # no overwrite needed: the half-written folder is recognised as an unfinished mini dataset
    mini.make_mini_dataset(dest, **settings)
    assert all_files(dest) == all_files(reference)


def test_deleted_wav_is_regenerated(tmp_path):
    dest = mini.make_mini_dataset(tmp_path / "d", n_train_per_label=1, n_test_per_label=1, labels=("Hi-hat",))
    reference = all_files(dest)
    next((dest / TEST_DIR).iterdir()).unlink()
    mini.make_mini_dataset(dest, n_train_per_label=1, n_test_per_label=1, labels=("Hi-hat",))
    assert all_files(dest) == reference


def test_refuses_a_folder_with_foreign_fsdkaggle2018_files(tmp_path):
    dest = tmp_path / "real_fsd"
    (dest / TRAIN_DIR).mkdir(parents=True)
    real = dest / TRAIN_DIR / "00044347.wav"
    real.write_bytes(b"RIFF....a real recording")
    for overwrite in (False, True):
        with pytest.raises(DatasetError, match="did not write"):
            mini.make_mini_dataset(dest, n_train_per_label=1, n_test_per_label=1, overwrite=overwrite)
    assert real.read_bytes() == b"RIFF....a real recording"
    assert not (dest / "mini_dataset.json").exists()


def test_dest_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        mini.make_mini_dataset(f, n_train_per_label=1, n_test_per_label=1)


def test_writes_into_an_existing_unrelated_folder(tmp_path):
    (tmp_path / "README.md").write_text("hello")
    mini.make_mini_dataset(tmp_path, n_train_per_label=1, n_test_per_label=1, labels=("Knock",))
    assert (tmp_path / "README.md").read_text() == "hello"
    assert (tmp_path / "mini_dataset.json").is_file()


# ---------------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    (dict(n_train_per_label=0), "n_train_per_label"),
    (dict(n_train_per_label=-3), "n_train_per_label"),
    (dict(n_train_per_label=2.5), "n_train_per_label"),
    (dict(n_train_per_label=True), "n_train_per_label"),
    (dict(n_train_per_label="3"), "n_train_per_label"),
    (dict(n_test_per_label=0), "n_test_per_label"),
    (dict(labels=()), "labels"),
    (dict(labels="Flute"), "labels"),
    (dict(labels=("Flute", "Didgeridoo")), "Didgeridoo"),
    (dict(labels=("Flute", "Flute")), "labels"),
    (dict(labels=("Flute", 3)), "labels"),
    (dict(seed=-1), "seed"),
    (dict(seed=1.5), "seed"),
])
def test_bad_parameters(tmp_path, kwargs, name):
    dest = tmp_path / "never"
    with pytest.raises(ParameterError, match=name) as err:
        mini.make_mini_dataset(dest, **kwargs)
    assert isinstance(err.value, ValueError)  # ParameterError is also a ValueError
    assert not dest.exists(), "nothing is written before the parameters are checked"


def test_numpy_integer_parameters_are_accepted(tmp_path):
    dest = mini.make_mini_dataset(tmp_path / "d", n_train_per_label=np.int64(1), n_test_per_label=np.int32(1),
                                  labels=["Bass_drum"], seed=np.uint8(2))
    assert json.loads((dest / "mini_dataset.json").read_text())["seed"] == 2


# ---------------------------------------------------------------------------------------------
# the rest of the toolkit reads it as FSDKaggle2018
# ---------------------------------------------------------------------------------------------

def test_loads_as_fsdkaggle2018(root):
    datasets = pytest.importorskip("audiospec_utils.audio.datasets")
    table = datasets.load_fsdkaggle2018(root)
    n_labels = len(mini.MINI_LABELS)
    assert len(table) == n_labels * (SMALL["n_train_per_label"] + SMALL["n_test_per_label"])
    assert (table["split"] == "train").sum() == n_labels * SMALL["n_train_per_label"]
    assert set(table["label"]) == set(mini.MINI_LABELS)
    assert all(Path(p).is_file() for p in table["path"])


def test_progress_bar(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tqdm")
    # drawn as in a terminal (in a log or CI, where stderr is no terminal, the bar is left out: show_progress)
    monkeypatch.setattr(mini, "show_progress", lambda progress=True, stream=None: progress)
    mini.make_mini_dataset(tmp_path / "d", n_train_per_label=1, n_test_per_label=1, labels=("Flute",),
                           progress=True)
    assert "2/2" in capsys.readouterr().err


def test_a_second_process_waits_for_the_first_then_finds_the_dataset_made(tmp_path):
    """Two notebooks (or two test workers) asking for the same folder: the later call waits on the lock."""
    import subprocess
    import sys
    import time

    from filelock import FileLock

    dest = tmp_path / "mini"
    code = ("import sys; from audiospec_utils.audio.mini import make_mini_dataset; "
            "make_mini_dataset(sys.argv[1], n_train_per_label=1, n_test_per_label=1, labels=['Flute', 'Cowbell'])")
    with FileLock(dest / mini._LOCK_FILE):  # another process generating the folder
        proc = subprocess.Popen([sys.executable, "-c", code, str(dest)], stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert proc.poll() is None, f"did not wait for the lock: {proc.stderr.read()}"
        assert not list(dest.rglob("*.wav")), "wrote clips while another process held the folder"
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    made = {p: t for p, t in mtimes(dest).items() if p != mini._LOCK_FILE}
    assert len([p for p in made if p.endswith(".wav")]) == 4
    mini.make_mini_dataset(dest, n_train_per_label=1, n_test_per_label=1, labels=["Flute", "Cowbell"])
    assert {p: t for p, t in mtimes(dest).items() if p != mini._LOCK_FILE} == made  # found made: nothing rewritten
