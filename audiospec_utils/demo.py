"""``audiospec demo``: the whole course on the built-in mini dataset, in one call."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .audio.benchmarks import load_fsdkaggle2018
from .audio.mini import make_mini_dataset
from .features.render import render_spectrograms
from .fileio import write_text_atomic

__all__ = ["run_demo"]


def run_demo(out_dir="runs/demo", *, data_dir="data/mini", epochs: int = 20, pretrained: bool = False,
             img_size: int = 64, crop_seconds: float = 1.0, weights=None, progress: bool = True) -> dict:
    """Generate the mini dataset, render it, train ResNet-34, interpret; print a summary.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Run folder: ``metrics.json``, ``confusion_matrix.png`` and the other figures, the exported
        learner, and ``spectrograms/`` (the rendered images).
    data_dir : str or os.PathLike
        Where the mini dataset is generated (skipped when already there).
    epochs : int
        Training epochs.
    pretrained : bool
        Start from ImageNet weights (needs the network or the torch hub cache); the default trains
        from scratch, which works offline and is enough for the synthetic sounds.
    img_size : int
        Image height in pixels.
    crop_seconds : float
        Length of the training crops and prediction windows in seconds (1 s is enough for the
        synthetic sounds and keeps the demo quick).
    weights : str or os.PathLike or None
        A local ImageNet weights file (with `pretrained`; ``AUDIOSPEC_WEIGHTS`` is read too).
    progress : bool
        Progress bars.

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
    print(f"3/4 training ResNet-34 ({'ImageNet-pretrained' if pretrained else 'from scratch'}, {epochs} epochs, CPU is fine)")
    _, metrics = train_classifier(out_dir / "spectrograms", out_dir, recipe="quick", arch="resnet34", epochs=epochs,
                                  img_size=img_size, crop_seconds=crop_seconds, bs=32, pretrained=pretrained,
                                  weights=weights if pretrained else None, progress=progress)
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
