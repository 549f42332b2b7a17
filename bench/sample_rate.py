"""Does a run give the same answers for the same sounds recorded at another sample rate? (issue 18)

Real clips: the FSDKaggle2018 subset of ../shared (10 labels, 240 train + 60 test clips, all
44.1 kHz). To play a source recorded at one rate and new recordings made at others, every clip is
resampled (soxr) to 22,050 Hz and laid out as a folder per class with ``train/`` and ``test/``;
the 60 held-out test clips are also laid out at 44,100 Hz (their original files) and at 16,000 Hz.
A run is trained from scratch on the 22,050 Hz training clips (the CLI's defaults: ``quick`` on a
CPU) and evaluated on the three copies of the held-out clips; the same is done with the render
folder made as before the rate was fixed (``sr=None``: each file at its own rate).

Usage::

    python bench/sample_rate.py [--shared ../shared] [--work /tmp/sr_bench] [--seeds 42]

Prints one table (accuracy and MAP@3 with the 95% interval over clips, for each copy) and the
machine; nothing is written into the project.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))


def lay_out(shared: Path, work: Path) -> dict:
    """Extract the subset and write the copies at 22,050 (train + test), 44,100 and 16,000 Hz (test)."""
    import soundfile as sf

    from audiospec_utils.audio.decode import load_audio

    sub = shared / "data" / "fsdkaggle2018-subset"
    raw = work / "raw"
    if not raw.exists():
        for name in ("audio_train", "audio_test", "meta"):
            with zipfile.ZipFile(sub / f"FSDKaggle2018.{name}.zip") as z:
                z.extractall(raw)
    meta = raw / "FSDKaggle2018.meta"
    tables = {"train": pd.read_csv(meta / "train_post_competition.csv"),
              "test": pd.read_csv(meta / "test_post_competition_scoring_clips.csv")}
    roots = {sr: work / f"at{sr}" for sr in (22050, 44100, 16000)}
    for split, table in tables.items():
        for row in table.itertuples():
            src = raw / f"FSDKaggle2018.audio_{split}" / row.fname
            for sr, root in roots.items():
                if split == "train" and sr != 22050:
                    continue
                out = root / split / row.label / row.fname
                if not out.exists():
                    out.parent.mkdir(parents=True, exist_ok=True)
                    y, _ = load_audio(src, sr=sr)
                    sf.write(out, y, sr, subtype="PCM_16")
    return roots


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared"))
    ap.add_argument("--work", default="/tmp/sr_bench")
    ap.add_argument("--seeds", default="42", help="comma-separated training seeds")
    args = ap.parse_args(argv)

    from audiospec_utils.assess.evaluate import evaluate_run
    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.features import SpectrogramParams
    from audiospec_utils.learn.train import train_classifier
    from train_speed import machine_description

    work = Path(args.work)
    roots = lay_out(Path(args.shared), work)
    rows = []
    for mode, params in (("fixed rate (new default)", SpectrogramParams()),
                         ("each file's own rate (sr=None, before)", SpectrogramParams(sr=None))):
        specs = work / ("specs_fixed" if params.sr == "auto" else "specs_per_file")
        start = time.time()
        render_spectrograms(roots[22050], specs, params, progress=False)
        for seed in (int(s) for s in args.seeds.split(",")):
            run = work / f"run_{specs.name}_{seed}"
            if not (run / "export.pkl").exists():
                train_classifier(specs, run, pretrained=False, seed=seed, progress=False)
            minutes = (time.time() - start) / 60
            for sr, root in roots.items():
                m = evaluate_run(run, root, spec_out=work / f"test_{specs.name}_{seed}_{sr}", progress=False)
                rows.append({"render": mode, "seed": seed, "held-out copy": f"{sr} Hz",
                             "accuracy": m["accuracy"], "acc 95%": m["interval"].get("accuracy"),
                             "MAP@3": m["map_at_3"], "minutes": round(minutes, 1)})
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(df.to_string(index=False))
    print("machine:", machine_description())
    (work / "sample_rate.json").write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
