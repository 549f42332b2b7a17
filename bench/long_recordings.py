"""Is a long recording read as its parts? (issue 30, item 4)

Real clips: the FSDKaggle2018 subset of ../shared (10 labels, 240 train + 60 test clips, 44.1 kHz).
To stand for a data set of fixed-length clips (UrbanSound8K's 4 s slices), every clip is cut to its
first 4 s (shorter clips are kept whole) and laid out as a folder per class. A run is trained from
scratch with the CLI's defaults on the 240 training clips (``audiospec render`` then ``audiospec
train --recipe quick --no-pretrained``: the CPU recipe from scratch, a ResNet-18), so its
``segment_seconds`` is 4 s. The 60 held-out clips are put end to end in threes of
three different labels (20 recordings, 60 parts, the same for every seed); the timeline of each
recording (``predict --timeline``'s windows) is averaged over the windows inside each part, and its
top label compared with the label the part gets when predicted alone: with the run's parameters
(one dB reference per segment of 4 s) and with ``segment_seconds=None`` (one reference for the whole
recording, as before). Parts shorter than 4 s do not fall on the segment grid: the figures are
given for all parts and for the recordings made only of 4 s parts.

Usage::

    python bench/long_recordings.py [--shared ../shared] [--work /tmp/long_bench] [--seed 0]

Prints one JSON object (the agreement before and after, per group of parts, the machine); nothing
is written into the project.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

SECONDS = 4.0


def lay_out(shared: Path, work: Path) -> tuple[Path, list[tuple[Path, str]]]:
    """The 4 s excerpts: ``work/train/<label>/*.wav`` and the held-out ``(path, label)`` pairs."""
    import soundfile as sf

    sub = shared / "data" / "fsdkaggle2018-subset"
    raw = work / "raw"
    if not raw.is_dir():
        for name in ("FSDKaggle2018.audio_train.zip", "FSDKaggle2018.audio_test.zip", "FSDKaggle2018.meta.zip"):
            with zipfile.ZipFile(sub / name) as z:
                z.extractall(raw)
    meta = raw / "FSDKaggle2018.meta"
    train = pd.read_csv(meta / "train_post_competition.csv")
    test = pd.read_csv(meta / "test_post_competition_scoring_clips.csv")
    held_out = []
    for table, folder, side in ((train, "FSDKaggle2018.audio_train", "train"),
                                (test, "FSDKaggle2018.audio_test", "test")):
        for row in table.itertuples():
            src = raw / folder / row.fname
            if not src.is_file():
                continue
            out = work / side / row.label / row.fname
            if not out.is_file():
                y, sr = sf.read(src, dtype="float32")
                out.parent.mkdir(parents=True, exist_ok=True)
                sf.write(out, y[:int(SECONDS * sr)], sr)
            if side == "test":
                held_out.append((out, row.label))
    return work / "train", held_out


def recordings(held_out, work: Path, seed: int = 0) -> list[dict]:
    """Held-out clips end to end, three different labels each."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    pool = list(held_out)
    rng.shuffle(pool)
    out, k = [], 0
    while len(pool) >= 3:
        parts = []
        for item in list(pool):
            if item[1] not in {p[1] for p in parts}:
                parts.append(item)
                pool.remove(item)
            if len(parts) == 3:
                break
        if len(parts) < 3:
            break
        ys, bounds, t = [], [], 0.0
        for path, _ in parts:
            y, sr = sf.read(path, dtype="float32")
            ys.append(y)
            bounds.append((t, t + len(y) / sr))
            t += len(y) / sr
        path = work / "recordings" / f"rec{k:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.concatenate(ys), sr)
        out.append({"path": path, "parts": parts, "bounds": bounds})
        k += 1
    return out


def part_labels(entry, bounds, labels) -> list[str | None]:
    """Top label of the mean of the windows that lie inside each part (None: no window inside)."""
    out = []
    for start, end in bounds:
        inside = (entry["window_start"] >= start - 1e-6) & (entry["window_end"] <= end + 1e-6)
        out.append(labels[int(np.argmax(entry["window_probs"][inside].mean(axis=0)))] if inside.any() else None)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--work", type=Path, default=Path("/tmp/long_bench"))
    ap.add_argument("--seed", type=int, default=0, help="seed of the training run")
    args = ap.parse_args(argv)
    from audiospec_utils.infer.predict_batch import FastaiBackend

    t0 = time.time()
    train_dir, held_out = lay_out(args.shared, args.work)
    spec, run = args.work / "spec", args.work / f"run_seed{args.seed}"
    cli = [sys.executable, "-m", "audiospec_utils"]
    if not (spec / "manifest.csv").is_file():
        subprocess.run(cli + ["-q", "render", str(train_dir), "--out", str(spec)], check=True)
    if not (run / "export.pkl").is_file():
        subprocess.run(cli + ["-q", "train", str(spec), "--out", str(run), "--seed", str(args.seed),
                                 "--recipe", "quick", "--no-pretrained"], check=True)
    after = FastaiBackend(run)
    before = FastaiBackend(run)
    before.params = dataclasses.replace(before.params, segment_seconds=None)
    rows = []
    for rec in recordings(held_out, args.work):
        alone = [after.predict(p, 1)["top"][0]["label"] for p, _ in rec["parts"]]
        for name, backend in (("after", after), ("before", before)):
            entry = backend.predict(rec["path"], 1, windows=True)
            got = part_labels(entry, rec["bounds"], backend.labels)
            for (path, truth), (s, e), a, g in zip(rec["parts"], rec["bounds"], alone, got):
                rows.append({"reading": name, "recording": rec["path"].name, "part_seconds": e - s,
                             "full_length": abs(e - s - SECONDS) < 1e-3, "alone": a, "in_recording": g,
                             "truth": truth})
    df = pd.DataFrame(rows)
    df["same"] = df["alone"] == df["in_recording"]
    df["right"] = df["in_recording"] == df["truth"]
    full_recs = df.groupby("recording")["full_length"].transform("all")
    result = {
        "segment_seconds": after.params.segment_seconds,
        "n_recordings": int(df["recording"].nunique()), "n_parts": int(len(df) // 2),
        "parts_right_alone": float((df[df.reading == "after"]["alone"] == df[df.reading == "after"]["truth"]).mean()),
    }
    for name in ("before", "after"):
        d = df[df.reading == name]
        f = df[(df.reading == name) & full_recs]
        result[name] = {"same_label_as_alone": float(d["same"].mean()), "right": float(d["right"].mean()),
                        "same_label_as_alone_4s_recordings": float(f["same"].mean()) if len(f) else None,
                        "n_parts_in_4s_recordings": int(len(f))}
    result.update(seconds=round(time.time() - t0, 1), machine=platform.processor() or platform.machine(),
                  cpus=__import__("os").cpu_count(), seed=args.seed)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
