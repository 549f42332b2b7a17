"""What the random low-pass of training crops costs on full-band audio, and what it buys on band-limited copies.

For each held-out fold, seed and low-pass probability, one model is trained from scratch with the
``quick`` recipe (``audiospec_utils.learn.train.train_classifier``, the fold held out) and scored on
the held-out clips twice (``audiospec_utils.assess.evaluate.evaluate_run``): as they are, and as
copies resampled to a lower rate (16 kHz: a phone's or a web form's recording), which the toolkit
renders at the folder's rate, their top bands empty. The table (``OUT/low_pass.csv`` and stdout) has
one row per model and, below, the mean over seeds and folds with the paired difference per fold and
seed between each probability and 0 (the issue-29 rule: on by default if it costs less than 0.01 on
full-band audio).

The data of the README's figures (nothing is copied into the project)::

    python bench/make_grouped_slices.py --out /tmp/fsd_slices
    audiospec render /tmp/fsd_slices --out /tmp/fsd_slices_specs
    python bench/low_pass.py /tmp/fsd_slices_specs /tmp/fsd_slices --out /tmp/low_pass \\
        --folds 1 2 3 4 5 --seeds 1 2 3 --low-pass 0 0.05 0.1
    python bench/make_event_scenes.py --out /tmp/fsd_events     # the event scenes (see its --help)
    audiospec render /tmp/fsd_events --out /tmp/fsd_events_specs
    python bench/low_pass.py /tmp/fsd_events_specs /tmp/fsd_events --out /tmp/low_pass_events \\
        --folds 1 3 --seeds 1 2 3 --low-pass 0 0.05

Finished models are read back when the command runs again (delete a folder to redo it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd


def band_limited_copy(root: Path, out: Path, sr: int) -> Path:
    """A copy of an UrbanSound8K-layout folder (``audio/``, ``metadata/``) with every clip resampled to `sr` Hz."""
    import soundfile as sf
    import soxr

    done = out / ".complete"
    if done.is_file():
        return out
    for src in sorted((root / "audio").rglob("*.wav")):
        y, rate = sf.read(src, dtype="float32", always_2d=False)
        dst = out / src.relative_to(root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dst, soxr.resample(y, rate, sr), sr, subtype="PCM_16")
    shutil.copytree(root / "metadata", out / "metadata", dirs_exist_ok=True)
    done.write_text("")
    return out


def main(argv=None) -> pd.DataFrame:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("specs", help="render folder of the clips (with folds)")
    p.add_argument("audio", help="the clips themselves (UrbanSound8K layout), for the band-limited copies")
    p.add_argument("--out", required=True)
    p.add_argument("--folds", nargs="+", default=["5"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--low-pass", nargs="+", type=float, default=[0.0, 0.5])
    p.add_argument("--sr", type=int, default=16000, help="rate of the band-limited copies, Hz")
    p.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    args = p.parse_args(argv)

    from audiospec_utils.assess.evaluate import evaluate_run
    from audiospec_utils.learn.config import TrainingConfig
    from audiospec_utils.learn.train import train_classifier

    out = Path(args.out)
    copy = band_limited_copy(Path(args.audio), out / f"audio_{args.sr}", args.sr)
    rows = []
    for fold in args.folds:
        for seed in args.seeds:
            for lp in args.low_pass:
                run = out / f"fold{fold}_seed{seed}_lp{lp:g}"
                done = run / "low_pass_row.json"
                if done.is_file():
                    rows.append(json.loads(done.read_text()))
                    continue
                config = TrainingConfig(recipe="quick", pretrained=False, seed=seed, low_pass=lp, test_fold=fold,
                                        epochs=args.epochs)
                start = time.time()
                _, m = train_classifier(args.specs, run, config, progress=False)
                seconds = time.time() - start
                full = evaluate_run(run, progress=False)
                limited = evaluate_run(run, copy, spec_out=out / f"specs_{args.sr}", progress=False)
                row = {"fold": fold, "seed": seed, "low_pass": lp, "full_band": full["accuracy"],
                       f"at_{args.sr}_hz": limited["accuracy"], "n_test": full["n_scored"],
                       "train_seconds": round(m["seconds"], 1), "seconds": round(seconds, 1)}
                done.write_text(json.dumps(row))
                rows.append(row)
                print(row, flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "low_pass.csv", index=False)
    limited_col = f"at_{args.sr}_hz"
    summary = df.groupby("low_pass")[["full_band", limited_col, "train_seconds"]].agg(["mean", "std"]).round(3)
    print(df.round(3).to_string(index=False))
    print(summary.to_string())
    base = df[df["low_pass"] == 0].set_index(["fold", "seed"])
    for lp in sorted(set(df["low_pass"]) - {0.0}):
        other = df[df["low_pass"] == lp].set_index(["fold", "seed"])
        diff = (other["full_band"] - base["full_band"]).dropna()
        gain = (other[limited_col] - base[limited_col]).dropna()
        print(f"low_pass {lp:g} - 0 over {len(diff)} models: full band {diff.mean():+.3f} "
              f"(sd {diff.std(ddof=1) if len(diff) > 1 else np.nan:.3f}); at {args.sr} Hz {gain.mean():+.3f}")
    return df


if __name__ == "__main__":
    main()
