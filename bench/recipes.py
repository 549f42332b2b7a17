"""Measure training recipes and their ingredients on real audio, scored on held-out clips.

Each configuration trains one model (``audiospec_utils.learn.train.train_classifier``) and scores it on
clips it never saw (``audiospec_utils.assess.evaluate.evaluate_run``): a held-out fold (``--test-fold``) or
the data's test split. With ``--cv``, every fold is held out once instead (``audiospec cv``) and the
mean and standard deviation over the folds are reported: one held-out fold of a hundred clips swings
by several points, so compare recipes by cross-validation where the time allows.

The data sets used for the README's table (nothing is copied into the project):

* ``../shared/data/fsdkaggle2018-subset``, extracted: 300 real FSDKaggle2018 clips (240 train, 60 test);
* the same clips cut into slices with ``bench/make_grouped_slices.py`` (UrbanSound8K layout: groups are
  the source recordings, 5 folds).

Examples::

    python bench/make_grouped_slices.py --out /tmp/fsd_slices
    audiospec render /tmp/fsd_slices --out /tmp/fsd_slices_specs
    python bench/recipes.py /tmp/fsd_slices_specs --out /tmp/recipes_slices --test-fold 5 \\
        --configs quick quick_aug quick_imagenet_norm
    python bench/recipes.py /tmp/fsd_slices_specs --out /tmp/recipes_slices_cv --cv --configs quick
    # recordings of events (bench/make_event_scenes.py): the default crop against 1 s crops, folds 1 and 3
    # held out, three seeds, paired by fold and seed
    python bench/make_event_scenes.py --out /tmp/fsd_events
    audiospec render /tmp/fsd_events --out /tmp/fsd_events_specs
    python bench/recipes.py /tmp/fsd_events_specs --out /tmp/cv_events --test-fold 1 3 --seeds 1 2 3 \
        --configs quick quick_crop1s

Finished configurations are read back when the command runs again (delete a folder to redo it).
The table goes to ``OUT/recipes.csv`` and to stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: `quick` before issue 21, every setting given.
_QUICK_BEFORE = {"recipe": "quick", "arch": "resnet34", "img_size": 64, "epochs": 10, "bs": 32, "spec_augment": False,
                 "time_shift": 0.0, "low_pass": 0.0, "mixup": 0.0, "label_smoothing": 0.0, "cpu_bf16": False}
_R18_1S = {**_QUICK_BEFORE, "arch": "resnet18", "crop_seconds": 1.0}

#: Named configurations: options of train_classifier (the recipe fills in what is not given).
CONFIGS = {
    "quick": {"recipe": "quick"},
    # `quick` before its random low-pass (QUICK_LOW_PASS): what the README's recipe tables measured
    "quick_no_low_pass": {"recipe": "quick", "low_pass": 0.0},
    "quick_20ep": {"recipe": "quick", "epochs": 20},
    "quick_aug": {"recipe": "quick", "spec_augment": True, "mixup": 0.4},
    "quick_aug_20ep": {"recipe": "quick", "spec_augment": True, "mixup": 0.4, "epochs": 20},
    "quick_ls": {"recipe": "quick", "label_smoothing": 0.1},
    "quick_imagenet_norm": {"recipe": "quick", "normalize": "imagenet"},
    "quick_crop1s": {"recipe": "quick", "crop_seconds": 1.0},
    "quick_crop2s": {"recipe": "quick", "crop_seconds": 2.0},
    "quick_crop3s": {"recipe": "quick", "crop_seconds": 3.0},
    "quick_crop4s": {"recipe": "quick", "crop_seconds": 4.0},
    "quick_crop4s_8ep": {"recipe": "quick", "crop_seconds": 4.0, "epochs": 8},
    "quick_crop4s_10ep": {"recipe": "quick", "crop_seconds": 4.0, "epochs": 10},
    "quick_crop2s_10ep": {"recipe": "quick", "crop_seconds": 2.0, "epochs": 10},
    # whole clips of 2 s, every 2 frames averaged into one column: what `quick` picks for events, on other data
    "quick_crop2s_pool2": {"recipe": "quick", "crop_seconds": 2.0, "time_pool": 2},
    "quick_128px": {"recipe": "quick", "img_size": 128},
    "quick_resnet18": {"recipe": "quick", "arch": "resnet18"},
    "full": {"recipe": "full"},
    "full_10ep": {"recipe": "full", "epochs": 10},
    # Issue 21's candidates for a cheaper CPU recipe, all spelled out (so that they keep their meaning
    # when the recipes change): "quick_before" is `quick` as it was before issue 21 (ResNet-34, 64 px,
    # crops of the median duration up to 2 s: 2 s on 4 s slices, 10 epochs, no augmentation);
    # "r18_1s" is ResNet-18 on 1 s crops, and each other row changes one ingredient of it.
    "quick_before": {**_QUICK_BEFORE, "crop_seconds": 2.0},
    "r18_1s": {**_R18_1S},
    "r18_1s_48px": {**_R18_1S, "img_size": 48},
    "r18_1s_32px": {**_R18_1S, "img_size": 32},
    "r18_1s_20ep": {**_R18_1S, "epochs": 20},
    "r18_1s_ls": {**_R18_1S, "label_smoothing": 0.1},
    "r18_1s_specaug": {**_R18_1S, "spec_augment": True},
    "r18_1s_mixup": {**_R18_1S, "mixup": 0.4},
    "r18_1s_shift": {**_R18_1S, "time_shift": 0.5},
    "r18_1s_bs64": {**_R18_1S, "bs": 64},
    "r18_1s_bs16": {**_R18_1S, "bs": 16},
    "r18_2s": {**_R18_1S, "crop_seconds": 2.0},
    "r18_whole": {**_R18_1S, "crop_seconds": 4.0},
    "r18_1s_20ep_aug": {**_R18_1S, "epochs": 20, "spec_augment": True, "mixup": 0.4, "label_smoothing": 0.1},
    "r18_1s_48px_20ep": {**_R18_1S, "img_size": 48, "epochs": 20},
    "r18_1s_48px_20ep_specaug": {**_R18_1S, "img_size": 48, "epochs": 20, "spec_augment": True},
    "r18_1s_48px_20ep_mixup": {**_R18_1S, "img_size": 48, "epochs": 20, "mixup": 0.4},
    "r18_1s_48px_15ep": {**_R18_1S, "img_size": 48, "epochs": 15},
    "r18_1s_48px_12ep": {**_R18_1S, "img_size": 48, "epochs": 12},
    "r18_1s_48px_15ep_specaug": {**_R18_1S, "img_size": 48, "epochs": 15, "spec_augment": True},
    "r18_1s_48px_15ep_bs64": {**_R18_1S, "img_size": 48, "epochs": 15, "bs": 64},
    "r18_1s_48px_15ep_bs64_lr6e-3": {**_R18_1S, "img_size": 48, "epochs": 15, "bs": 64, "lr": 6e-3},
    # bf16 autocast of the training batches, on a CPU with bf16 instructions (else it is float32)
    "r18_1s_48px_15ep_bf16": {**_R18_1S, "img_size": 48, "epochs": 15, "cpu_bf16": True},
    "r18_1s_48px_15ep_bs64_bf16": {**_R18_1S, "img_size": 48, "epochs": 15, "bs": 64, "cpu_bf16": True},
    "r18_1s_48px_15ep_bs64_bf16_lr5e-3": {**_R18_1S, "img_size": 48, "epochs": 15, "bs": 64, "cpu_bf16": True,
                                          "lr": 5e-3},
}


def _machine() -> str:
    from train_speed import machine_description  # bench/ is on sys.path when this script runs

    return machine_description()


def _epoch_seconds_per_1000(run_dir: Path) -> float:
    """Wall time of the training (setup, validation and checkpoints included) per epoch and 1,000 training clips.

    From ``metrics.json`` (``seconds``, ``epochs``, ``n_train``): fastai's per-epoch timer counts whole
    seconds, too coarse for the 1 s epochs of a small fold."""
    m = json.loads((run_dir / "metrics.json").read_text())
    epochs = int(m["epochs"]) + (int(m.get("freeze_epochs") or 0) if m.get("pretrained") else 0)
    return float(m["seconds"]) / epochs / int(m["n_train"]) * 1000


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system), in seconds.

    Less sensitive than wall time to other jobs on the machine: compare recipes by both."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _cv_seed(name: str, spec_dir, folder: Path, seed: int, options: dict) -> dict:
    """One seed of a cross-validated configuration: the mean over the folds, minutes and epoch time."""
    from audiospec_utils.assess.cv import cross_validate

    done = folder / "seed_result.json"
    if done.is_file():
        return json.loads(done.read_text())
    start, cpu_start = time.time(), _cpu_seconds()
    table = cross_validate(spec_dir, folder, seed=seed, progress=False, **options)
    per_fold = table[~table["fold"].astype(str).isin(["mean", "std"])]
    if per_fold["error"].fillna("").astype(str).str.len().gt(0).any():
        raise RuntimeError(f"{name}, seed {seed}: a fold failed, see {folder / 'cv.csv'}")
    fold_dirs = sorted(folder.glob("fold_*"))
    result = {"seed": seed, "folds": len(per_fold), "accuracy": float(per_fold["accuracy"].astype(float).mean()),
              "map_at_3": float(per_fold["map_at_3"].astype(float).mean()),
              "fold_std": float(per_fold["accuracy"].astype(float).std(ddof=1)),
              "minutes": (time.time() - start) / 60,
              "minutes_per_fit": (time.time() - start) / 60 / len(per_fold),
              "cpu_minutes_per_fit": (_cpu_seconds() - cpu_start) / 60 / len(per_fold),
              "epoch_s_per_1000": float(np.mean([_epoch_seconds_per_1000(d) for d in fold_dirs]))}
    done.write_text(json.dumps(result, indent=2))
    return result


def run_config(name: str, spec_dir, out: Path, *, test_fold=None, cv: bool = False, seed: int = 42,
               seeds=None, pretrained: bool = False, weights=None) -> dict:
    """Train and score one configuration (or cross-validate it over `seeds`); the row of the table.

    With `cv`, every fold is held out once for every seed of `seeds` (the seed sets the validation
    split inside each fold, the initial weights, the shuffling and the crops). The row gives the
    mean over seeds of each seed's mean over the folds, ``accuracy_seed_std`` the standard deviation
    of those means over the seeds (the spread a rerun would show), ``accuracy_fold_std`` the mean
    standard deviation over the folds, ``minutes_per_fit`` the mean wall time of training and
    scoring one fold, and ``epoch_s_per_1000`` the wall time of one epoch per 1,000 training clips.
    """
    from audiospec_utils.assess.evaluate import evaluate_run
    from audiospec_utils.learn.train import train_classifier

    options = dict(CONFIGS[name])
    options.update(pretrained=pretrained or weights is not None, weights=weights)
    folder = out / name
    done = folder / "recipe_result.json"
    if done.is_file():
        return json.loads(done.read_text())
    start = time.time()
    if cv:
        seeds = list(seeds or [seed])
        per_seed = [_cv_seed(name, spec_dir, folder / f"seed_{s}", s, options) for s in seeds]
        frame = pd.DataFrame(per_seed)
        row = {"config": name, "protocol": f"cv over {int(frame['folds'].iloc[0])} folds x {len(seeds)} seeds",
               "accuracy": frame["accuracy"].mean(),
               "accuracy_seed_std": frame["accuracy"].std(ddof=1) if len(frame) > 1 else 0.0,
               "accuracy_fold_std": frame["fold_std"].mean(),
               "map_at_3": frame["map_at_3"].mean(),
               "map_at_3_seed_std": frame["map_at_3"].std(ddof=1) if len(frame) > 1 else 0.0,
               "minutes_per_fit": frame["minutes_per_fit"].mean(),
               "cpu_minutes_per_fit": frame["cpu_minutes_per_fit"].mean(),
               "epoch_s_per_1000": frame["epoch_s_per_1000"].mean(),
               "seed_accuracies": " ".join(f"{a:.3f}" for a in frame["accuracy"])}
    else:
        _, m = train_classifier(spec_dir, folder, test_fold=test_fold, seed=seed, progress=False, **options)
        t = evaluate_run(folder, progress=False)
        row = {"config": name, "protocol": t["selected"], "accuracy": t["accuracy"],
               "accuracy_interval": t["interval"]["accuracy"], "map_at_3": t["map_at_3"],
               "valid_accuracy": m["accuracy"], "valid_interval": m["valid_interval"]["accuracy"],
               "epochs": m["epochs"], "img_size": m["img_size"], "crop_seconds": m["crop_seconds"],
               "normalize": m["normalize"], "epoch_s_per_1000": _epoch_seconds_per_1000(folder)}
    row.update(minutes=round((time.time() - start) / 60, 1), options=json.dumps(CONFIGS[name]), machine=_machine())
    done.write_text(json.dumps(row, indent=2, default=str))
    return row


def held_out_folds(spec_dir, out: Path, configs, folds, seeds, weights=None) -> pd.DataFrame:
    """Every configuration trained once per held-out fold and seed; the mean, the spread and the paired difference.

    One model per (fold, seed, configuration) in ``OUT/f<fold>_s<seed>/<config>/`` (read back when
    done), scored on its held-out fold. Prints one line per configuration: the mean held-out
    accuracy ± its standard deviation over the models, MAP@3, the mean minutes per model, and the
    mean and standard deviation of its difference to the first configuration on the same fold and
    seed (the paired comparison). The rows go to ``OUT/held_out_folds.csv``.
    """
    rows = []
    for seed in seeds:
        for fold in folds:
            for name in configs:
                r = run_config(name, spec_dir, out / f"f{fold}_s{seed}", test_fold=fold, seed=seed, weights=weights)
                rows.append({"config": name, "fold": fold, "seed": seed, "accuracy": r["accuracy"],
                             "map_at_3": r["map_at_3"], "minutes": r["minutes"], "crop_seconds": r["crop_seconds"]})
                pd.DataFrame(rows).to_csv(out / "held_out_folds.csv", index=False)
    table = pd.DataFrame(rows)
    first = table[table["config"] == configs[0]].set_index(["fold", "seed"])["accuracy"]
    for name in configs:
        t = table[table["config"] == name]
        diff = t.set_index(["fold", "seed"])["accuracy"] - first
        print(f"{name}: held-out accuracy {t['accuracy'].mean():.3f} +/- {t['accuracy'].std(ddof=1):.3f} "
              f"({len(t)} models: folds {' '.join(map(str, folds))} x seeds {' '.join(map(str, seeds))}), "
              f"MAP@3 {t['map_at_3'].mean():.3f}, {t['minutes'].mean():.1f} min per model, crop "
              f"{t['crop_seconds'].median():g} s; minus {configs[0]}: {diff.mean():+.3f} +/- {diff.std(ddof=1):.3f}")
    print(f"machine: {_machine()}")
    return table


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec_dir", help="render folder (audiospec render)")
    p.add_argument("--out", required=True)
    p.add_argument("--configs", nargs="+", default=["quick"], choices=sorted(CONFIGS))
    p.add_argument("--test-fold", nargs="+", default=None,
                   help="held-out fold(s) (default: the data's test split); with several folds or --seeds, one "
                        "model per fold and seed (OUT/f<fold>_s<seed>/<config>), and the mean over them with the "
                        "paired difference to the first configuration")
    p.add_argument("--cv", action="store_true", help="cross-validate every configuration instead")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="with --cv: cross-validate once per seed (default: --seed only)")
    p.add_argument("--weights", default=None, help="ImageNet ResNet-34 weights file (pretrained rows)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.test_fold and not args.cv and (len(args.test_fold) > 1 or args.seeds):
        held_out_folds(args.spec_dir, out, args.configs, args.test_fold, args.seeds or [args.seed], args.weights)
        return
    args.test_fold = args.test_fold[0] if args.test_fold else None
    rows = []
    for name in args.configs:
        rows.append(run_config(name, args.spec_dir, out, test_fold=args.test_fold, cv=args.cv, seed=args.seed,
                               seeds=args.seeds, weights=args.weights))
        pd.DataFrame(rows).to_csv(out / "recipes.csv", index=False)
        r = rows[-1]
        spread = f" +/- {r['accuracy_seed_std']:.3f} over seeds" if "accuracy_seed_std" in r else ""
        print(f"{name}: held-out accuracy {r['accuracy']:.3f}{spread}, MAP@3 {r['map_at_3']:.3f} "
              f"({r['minutes']} min)", flush=True)
    table = pd.DataFrame(rows)
    print(table.drop(columns=["options", "machine"]).round(3).to_string(index=False))
    print(f"machine: {rows[0]['machine']}")


if __name__ == "__main__":
    main()
