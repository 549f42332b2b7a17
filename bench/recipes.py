"""Measure training recipes and their ingredients on real audio, scored on held-out clips.

Each configuration trains one model (``audiospec_utils.train.train_classifier``) and scores it on
clips it never saw (``audiospec_utils.evaluate.evaluate_run``): a held-out fold (``--test-fold``) or
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

Finished configurations are read back when the command runs again (delete a folder to redo it).
The table goes to ``OUT/recipes.csv`` and to stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

#: Named configurations: options of train_classifier (the recipe fills in what is not given).
CONFIGS = {
    "quick": {"recipe": "quick"},
    "quick_20ep": {"recipe": "quick", "epochs": 20},
    "quick_aug": {"recipe": "quick", "spec_augment": True, "mixup": 0.4},
    "quick_aug_20ep": {"recipe": "quick", "spec_augment": True, "mixup": 0.4, "epochs": 20},
    "quick_ls": {"recipe": "quick", "label_smoothing": 0.1},
    "quick_imagenet_norm": {"recipe": "quick", "normalize": "imagenet"},
    "quick_crop1s": {"recipe": "quick", "crop_seconds": 1.0},
    "quick_crop2s": {"recipe": "quick", "crop_seconds": 2.0},
    "quick_crop3s": {"recipe": "quick", "crop_seconds": 3.0},
    "quick_crop4s": {"recipe": "quick", "crop_seconds": 4.0},
    "quick_128px": {"recipe": "quick", "img_size": 128},
    "quick_resnet18": {"recipe": "quick", "arch": "resnet18"},
    "full": {"recipe": "full"},
    "full_10ep": {"recipe": "full", "epochs": 10},
}


def _machine() -> str:
    from train_speed import machine_description  # bench/ is on sys.path when this script runs

    return machine_description()


def run_config(name: str, spec_dir, out: Path, *, test_fold=None, cv: bool = False, seed: int = 42,
               pretrained: bool = False, weights=None) -> dict:
    """Train and score one configuration (or cross-validate it); the row of the table."""
    from audiospec_utils.cv import cross_validate
    from audiospec_utils.evaluate import evaluate_run
    from audiospec_utils.train import train_classifier

    options = dict(CONFIGS[name])
    options.update(pretrained=pretrained or weights is not None, weights=weights)
    folder = out / name
    done = folder / "recipe_result.json"
    if done.is_file():
        return json.loads(done.read_text())
    start = time.time()
    if cv:
        table = cross_validate(spec_dir, folder, seed=seed, progress=False, **options)
        mean = table.set_index("fold").loc["mean"]
        std = table.set_index("fold").loc["std"]
        row = {"config": name, "protocol": f"cv over {len(table) - 2} folds", "accuracy": mean["accuracy"],
               "accuracy_std": std["accuracy"], "map_at_3": mean["map_at_3"], "map_at_3_std": std["map_at_3"],
               "valid_accuracy": mean["valid_accuracy"]}
    else:
        _, m = train_classifier(spec_dir, folder, test_fold=test_fold, seed=seed, progress=False, **options)
        t = evaluate_run(folder, progress=False)
        row = {"config": name, "protocol": t["selected"], "accuracy": t["accuracy"],
               "accuracy_interval": t["interval"]["accuracy"], "map_at_3": t["map_at_3"],
               "valid_accuracy": m["accuracy"], "valid_interval": m["valid_interval"]["accuracy"],
               "epochs": m["epochs"], "img_size": m["img_size"], "crop_seconds": m["crop_seconds"],
               "normalize": m["normalize"]}
    row.update(minutes=round((time.time() - start) / 60, 1), options=json.dumps(CONFIGS[name]), machine=_machine())
    done.write_text(json.dumps(row, indent=2, default=str))
    return row


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec_dir", help="render folder (audiospec render)")
    p.add_argument("--out", required=True)
    p.add_argument("--configs", nargs="+", default=["quick"], choices=sorted(CONFIGS))
    p.add_argument("--test-fold", default=None, help="held-out fold (default: the data's test split)")
    p.add_argument("--cv", action="store_true", help="cross-validate every configuration instead")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--weights", default=None, help="ImageNet ResNet-34 weights file (pretrained rows)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.configs:
        rows.append(run_config(name, args.spec_dir, out, test_fold=args.test_fold, cv=args.cv, seed=args.seed,
                               weights=args.weights))
        pd.DataFrame(rows).to_csv(out / "recipes.csv", index=False)
        print(f"{name}: held-out accuracy {rows[-1]['accuracy']:.3f}, MAP@3 {rows[-1]['map_at_3']:.3f} "
              f"({rows[-1]['minutes']} min)", flush=True)
    table = pd.DataFrame(rows)
    print(table.drop(columns=["options", "machine"]).round(3).to_string(index=False))
    print(f"machine: {rows[0]['machine']}")


if __name__ == "__main__":
    main()
