"""``audiospec demo``: the whole course on the built-in mini dataset, in one call."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .audio.benchmarks import load_fsdkaggle2018
from .audio.mini import make_mini_dataset
from .features.render import render_spectrograms
from .fileio import write_text_atomic
from .learn.config import TrainingConfig

__all__ = ["run_demo", "DEMO_CONFIG"]


#: What ``make demo`` trains: ResNet-34 (the course's network) from scratch on 1 s crops of 64 px, 20 epochs of the
#: ``quick`` recipe; ``pretrained`` unset: ImageNet weights only when a weights file is given.
DEMO_CONFIG = TrainingConfig(recipe="quick", arch="resnet34", epochs=20, img_size=64, crop_seconds=1.0, bs=32,
                             pretrained=None)


def run_demo(out_dir="runs/demo", config: TrainingConfig | None = None, *, data_dir="data/mini",
             progress: bool = True, **options) -> dict:
    """Generate the mini dataset, render it, train ResNet-34, interpret; print a summary.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Run folder: ``metrics.json``, ``confusion_matrix.png`` and the other figures, the exported
        learner, and ``spectrograms/`` (the rendered images).
    config : TrainingConfig or None
        The training (default :data:`DEMO_CONFIG`: from scratch, which works offline and is enough
        for the synthetic sounds; ``pretrained=True`` needs the network, the torch hub cache or
        ``weights``).
    data_dir : str or os.PathLike
        Where the mini dataset is generated (skipped when already there).
    progress : bool
        Progress bars.
    **options
        Fields of the configuration that replace its own (``epochs=5``...).

    Returns
    -------
    dict
        ``metrics.json``'s content plus ``render_clips_per_second``, ``interpretation`` (figure
        paths) and ``total_seconds``.
    """
    from .explain.interpret import interpret_run
    from .learn.train import train_classifier

    start = time.time()
    out_dir = Path(out_dir).resolve()
    print(f"1/4 mini dataset (synthetic sounds in the FSDKaggle2018 layout) in {Path(data_dir).resolve()}")
    root = make_mini_dataset(data_dir, progress=progress)
    table = load_fsdkaggle2018(root, split="train")
    print(f"    {len(table)} train clips, {table['label'].nunique()} labels")
    print("2/4 rendering log-mel spectrograms")
    t = time.time()
    manifest = render_spectrograms(table, out_dir / "spectrograms", progress=progress)
    render_s = time.time() - t
    s = manifest.attrs["summary"]
    rate = s["rendered"] / render_s if s["rendered"] else float("nan")
    print(f"    {s['n_images']} images ({s['rendered']} rendered now, {s['already_done']} already done"
          + (f", {rate:.0f} clips/s" if s["rendered"] else "") + ")")
    config = (config or DEMO_CONFIG).replace(**options)
    if config.pretrained is False:
        config = config.replace(weights=None)
    print(f"3/4 training {config.arch} ({'ImageNet-pretrained' if config.uses_pretrained else 'from scratch'}, "
          f"{config.epochs} epochs, CPU is fine)")
    _, metrics = train_classifier(manifest.attrs["render_folder"], out_dir, config, progress=progress)
    print("4/4 interpreting: confusion matrix, top losses, t-SNE, per-class report")
    interp = interpret_run(out_dir)
    total = time.time() - start
    summary = {**metrics, "render_clips_per_second": rate, "interpretation": interp["figures"],
               "total_seconds": round(total, 1)}
    write_text_atomic(out_dir / "demo_summary.json", json.dumps(summary, indent=2, default=str))
    print()
    low, high = metrics["valid_interval"]["accuracy"]
    print(f"Validation on {metrics['n_valid']} clips ({len(metrics['classes'])} labels; "
          f"{metrics['split']['split_by']} split, {metrics['split']['n_valid_groups']} groups): accuracy "
          f"{metrics['accuracy']:.3f} (95% interval {low:.2f}-{high:.2f}), error_rate {metrics['error_rate']:.3f}, "
          f"MAP@3 {metrics['map_at_3']:.3f}")
    print(f"Training took {metrics['seconds']:.0f} s; the whole demo {total:.0f} s.")
    print(f"Results in {out_dir}: metrics.json, confusion_matrix.png, top_losses.png, tsne_embeddings.png, per_class.csv")
    return summary
