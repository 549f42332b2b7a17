"""How fast does the toolkit train, compared with what the model itself allows?

In ONE run, on one render folder (made here from generated FSDKaggle2018-like clips, or from
``--source``), for each batch size and each number of DataLoader workers:

(a) the model's own limit: the toolkit's ResNet-34 (``create_learner``: torchvision body and fastai
    head) doing forward, loss, backward and an optimizer step (the learner's own optimizer, fastai's
    Adam) on synthetic batches already on the device, in the toolkit's precision and memory format
    there (GPU: bf16 autocast where supported, else fp16 with a gradient scaler, channels-last; CPU:
    float32). A few warm-up steps, then ``--steps`` timed steps. No data loading at all.
(c) the toolkit's DataLoader alone: one pass over ``dls.train`` of ``spectrogram_dataloaders``
    (crops gathered from the image cache, moved to the device, normalised and augmented there),
    after one warm-up pass; no model.
(b) the toolkit's end-to-end training: :func:`audiospec_utils.learn.train.fit` (fastai ``fit_one_cycle``,
    the schedule used from scratch) on those DataLoaders, with the recipe's augmentation for the
    device; images/s over the training phase of whole epochs (DataLoader start-up included,
    validation excluded), after one warm-up epoch.

It prints a table of images/s (wall clock, and per CPU-second of this process and its workers:
that one depends less on what else runs on the machine), the ratio b/a, the machine (CPU model,
cores, GPU, torch) and the settings (image height, crop length).

Usage::

    .venv/bin/python bench/train_speed.py                       # 4,000 generated clips, 128 px, bs 64 and 256
    .venv/bin/python bench/train_speed.py --source /work/shared/data/fsdkaggle2018-subset
    .venv/bin/python bench/train_speed.py --quick               # a small CPU run (what the test runs)

``--source`` takes a render folder (``manifest.csv``), any audio source ``audiospec render`` takes,
or a folder of zip archives (e.g. the three FSDKaggle2018 archives), extracted into a temporary
folder first.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> str:
    """CPU model, cores, GPU (if any), torch and fastai versions (also used by bench/recipes.py)."""
    import fastai
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu_model()}, {os.cpu_count()} cores, {gpu}; torch {torch.__version__}, fastai {fastai.__version__}"


def machine_line() -> str:
    """One line: :func:`machine_description` and the load average."""
    load = os.getloadavg()
    return f"machine: {machine_description()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (DataLoader workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def sync(device) -> None:
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        torch.cuda.synchronize(device)


def make_render_folder(work: Path, args) -> Path:
    """The render folder to train on: `--source` as it is, or rendered from it or from generated clips."""
    from audiospec_utils.features.render import render_spectrograms

    if args.source:
        src = Path(args.source)
        if (src / "manifest.csv").is_file():
            print(f"render folder: {src} (as given)")
            return src
        zips = sorted(src.glob("*.zip")) if src.is_dir() else []
        if zips:
            from audiospec_utils.audio.download import extract_zip

            audio = work / "source"
            for z in zips:
                extract_zip(z, audio)
            print(f"extracted {len(zips)} archive(s) of {src} into {audio}")
            src = audio
        from audiospec_utils.audio.datasets import load_source

        table = load_source(src)
        what = f"{len(table)} clips of {args.source}"
    else:
        sys.path.insert(0, str(HERE))
        from render_speed import clip_durations, make_clips

        table = make_clips(work, args.n_clips, args.n_clips, args.seed)
        dur = clip_durations(args.n_clips, args.seed)
        what = (f"{args.n_clips} generated FSDKaggle2018-like clips (44.1 kHz; 10 labels; durations median "
                f"{np.median(dur):.1f} s, mean {dur.mean():.1f} s)")
    out = work / "specs"
    start = time.perf_counter()
    manifest = render_spectrograms(table, out, n_jobs=-1, progress=False)
    s = manifest.attrs["summary"]
    print(f"rendered {what}: {s['rendered']} images in {time.perf_counter() - start:.0f} s, {s['failed']} failed")
    return out


def precision_of(learn) -> tuple[str, object]:
    """The toolkit's precision on the learner's device: ("bf16"|"fp16", dtype) with its MixedPrecision, else fp32."""
    for cb in learn.cbs:
        if type(cb).__name__ == "MixedPrecision":
            import torch

            bf16 = str(getattr(cb.amp_mode, "value", cb.amp_mode)).lower() == "bf16"
            return ("bf16", torch.bfloat16) if bf16 else ("fp16", torch.float16)
    return "fp32", None


def time_model(learn, bs: int, steps: int, warmup: int) -> tuple[float, float]:
    """(a): images/s (wall, per CPU-second) of forward + loss + backward + optimizer step on synthetic batches."""
    import torch

    dev = learn.dls.device
    cfg = learn.dls.config
    model = learn.model
    model.train()
    learn.create_opt()
    learn.opt.set_hyper("lr", 1e-4)
    name, dtype = precision_of(learn)
    cuda = dev.type == "cuda"
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(bs, 3, cfg["height"], cfg["length"], generator=g).to(dev)
    if cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, learn.dls.c, (bs,), generator=g).to(dev)
    scaler = torch.amp.GradScaler("cuda", enabled=name == "fp16") if cuda else None
    loss_func = learn.loss_func

    def step():
        if dtype is not None:
            with torch.autocast("cuda", dtype=dtype):
                out = model(x)
                loss = loss_func(out.float(), y)
        else:
            loss = loss_func(model(x), y)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            scaler.step(learn.opt)
            scaler.update()
        else:
            loss.backward()
            learn.opt.step()
        learn.opt.zero_grad()

    for _ in range(warmup):
        step()
    sync(dev)
    start, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(steps):
        step()
    sync(dev)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    learn.opt = None
    return steps * bs / wall, steps * bs / cpu


def time_loader(dl) -> tuple[float, float, int]:
    """(c): images/s (wall, per CPU-second) of one pass over a DataLoader (after a warm-up pass), and its images."""
    def one_pass():
        n = 0
        for xb, *_ in dl:
            n += len(xb)
        sync(dl.device)
        return n

    one_pass()
    start, cpu = time.perf_counter(), cpu_seconds()
    n = one_pass()
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return n / wall, n / cpu, n


def throughput_callback():
    """A fastai callback timing the training phase of each epoch: images, wall seconds, CPU seconds."""
    from fastai.callback.core import Callback
    from fastai.torch_core import find_bs

    class Throughput(Callback):
        order = 90

        def before_fit(self):
            self.epochs = []

        def before_train(self):
            sync(self.dls.device)
            self.n, self.t0, self.c0 = 0, time.perf_counter(), cpu_seconds()

        def after_batch(self):
            if self.training:
                self.n += find_bs(self.yb)

        def after_train(self):
            sync(self.dls.device)
            self.epochs.append((self.n, time.perf_counter() - self.t0, cpu_seconds() - self.c0))

    return Throughput()


def time_fit(learn, epochs: int, mixup: float) -> tuple[float, float, int]:
    """(b): images/s (wall, per CPU-second) of `fit` over `epochs` epochs after one warm-up epoch, and images."""
    from audiospec_utils.learn.train import fit

    cb = throughput_callback()
    learn.add_cb(cb)
    try:
        fit(learn, 1 + epochs, pretrained=False, schedule="one_cycle", save_best=False, history=False, mixup=mixup)
    finally:
        learn.remove_cb(cb)
    measured = cb.epochs[1:]
    n = sum(e[0] for e in measured)
    return n / sum(e[1] for e in measured), n / sum(e[2] for e in measured), n


def parse_workers(text: str) -> list[int]:
    """``"0,2,all"`` -> ``[0, 2, os.cpu_count()]``, duplicates dropped, order kept."""
    out = []
    for part in text.split(","):
        part = part.strip()
        n = os.cpu_count() if part == "all" else int(part)
        if n not in out:
            out.append(n)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=None,
                    help="render folder, audio source, or folder of zip archives (default: generate clips)")
    ap.add_argument("--n-clips", type=int, default=4000, help="clips generated when no --source (default 4000)")
    ap.add_argument("--img-size", type=int, default=128, help="image height in pixels (default 128)")
    ap.add_argument("--crop-seconds", type=float, default=None,
                    help="crop length in seconds (default: the toolkit's, from the clips' durations)")
    ap.add_argument("--batch-sizes", default="64,256", help="comma-separated (default 64,256)")
    ap.add_argument("--workers", default="0,2,all",
                    help="DataLoader worker processes, comma-separated; 'all' = os.cpu_count(); 0 is the toolkit's "
                         "default (default 0,2,all)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs timed for (b), after one warm-up epoch (default 2)")
    ap.add_argument("--steps", type=int, default=30, help="steps timed for (a) (default 30)")
    ap.add_argument("--warmup-steps", type=int, default=5, help="untimed steps before (a) (default 5)")
    ap.add_argument("--quick", action="store_true",
                    help="a small CPU run: 60 clips, 32 px, 0.5 s crops, bs 16, 0 and 2 workers, 1 timed "
                         "epoch, 3 timed steps after 2 untimed ones")
    ap.add_argument("--workdir", default=None, help="where clips and images go (default: a temporary folder, removed)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.quick:
        args.n_clips, args.img_size, args.crop_seconds = 60, 32, args.crop_seconds or 0.5
        args.batch_sizes, args.workers, args.epochs, args.steps, args.warmup_steps = "16", "0,2", 1, 3, 2

    import logging
    import warnings

    import torch
    from fastcore.basics import noop
    from fastai.torch_core import set_seed

    from audiospec_utils.learn.dataloaders import CropItems, spectrogram_dataloaders
    from audiospec_utils.learn import create_learner, device_name, resolve_recipe

    work = Path(args.workdir or tempfile.mkdtemp(prefix="audiospec_train_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    logging.getLogger("audiospec_utils").setLevel(logging.ERROR)  # e.g. "validation is per clip": expected here
    warnings.filterwarnings("ignore", category=FutureWarning)
    print(machine_line())
    try:
        spec_dir = make_render_folder(work, args)
        recipe = resolve_recipe("auto")
        dev = device_name()
        batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
        workers = parse_workers(args.workers)
        rows, settings = [], None
        for bs in batch_sizes:
            model_rate = None
            for nw in workers:
                set_seed(args.seed, reproducible=True)  # as train_classifier does (cuDNN deterministic)
                dls = spectrogram_dataloaders(spec_dir, img_size=args.img_size, crop_seconds=args.crop_seconds,
                                              bs=bs, num_workers=nw, seed=args.seed, normalize="dataset",
                                              spec_augment=recipe["spec_augment"], time_shift=recipe["time_shift"])
                learn = create_learner(dls, "resnet34", pretrained=False, path=work / "run",
                                       label_smoothing=recipe["label_smoothing"])
                learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
                learn.logger = noop  # no epoch lines
                n_windows = len(dls.valid.dataset)
                valid = dls.valid.dataset  # validation is not timed: one batch of it keeps the run short
                k = min(len(valid), dls.valid.bs)
                dls.loaders[1] = dls.valid.new(CropItems(valid.rows[:k], valid.starts[:k], valid.y[:k]))
                if settings is None:
                    cfg = dls.config
                    settings = (f"settings: device {dev}, precision {precision_of(learn)[0]}, "
                                f"{'channels-last' if dev == 'cuda' else 'contiguous'}; images {cfg['height']} px "
                                f"high, crops of {cfg['length']} frames ({cfg['crop_seconds']:.2f} s), "
                                f"{cfg['channels']} channel(s) in the cache; {len(dls.train.dataset)} training "
                                f"crops per epoch ({n_windows} validation windows, of which {k} used: validation "
                                f"is not timed); recipe "
                                f"{recipe['recipe']} (SpecAugment {recipe['spec_augment']}, mixup {recipe['mixup']}); "
                                f"torch threads {torch.get_num_threads()}; cuDNN deterministic")
                    print(settings)
                if model_rate is None:  # (a) does not depend on the workers
                    model_rate = time_model(learn, bs, args.steps, args.warmup_steps)
                    print(f"(a) model limit, bs {bs}: {model_rate[0]:.1f} images/s ({model_rate[1]:.1f} per "
                          f"CPU-second), {args.steps} steps", flush=True)
                loader = time_loader(dls.train)
                print(f"(c) DataLoader alone, bs {bs}, {nw} workers: {loader[0]:.1f} images/s ({loader[1]:.1f} per "
                      f"CPU-second)", flush=True)
                fit_rate = time_fit(learn, args.epochs, recipe["mixup"])
                print(f"(b) fit, bs {bs}, {nw} workers: {fit_rate[0]:.1f} images/s ({fit_rate[1]:.1f} per "
                      f"CPU-second) over {args.epochs} epoch(s), {fit_rate[2]} images; b/a "
                      f"{fit_rate[0] / model_rate[0]:.0%}", flush=True)
                rows.append((bs, nw, model_rate, loader, fit_rate))
                del learn, dls
                gc.collect()  # the next DataLoaders copy the image cache to the GPU again
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
        print()
        print(machine_line())
        print(settings)
        head = ("| bs | workers | (a) model limit | (c) DataLoader alone | (b) fit | b/a | b/a per CPU-s |\n"
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        print("images/s, wall clock (per CPU-second in brackets):")
        print(head)
        for bs, nw, a, c, b in rows:
            print(f"| {bs} | {nw} | {a[0]:.1f} ({a[1]:.1f}) | {c[0]:.1f} ({c[1]:.1f}) | {b[0]:.1f} ({b[1]:.1f}) | "
                  f"{b[0] / a[0]:.0%} | {b[1] / a[1]:.0%} |")
        for bs in batch_sizes:
            by_workers = {nw: b[0] for b_s, nw, _, _, b in rows if b_s == bs}
            if 2 in by_workers and max(by_workers) != 2:
                top = max(by_workers)
                print(f"bs {bs}: 2 workers give {by_workers[2] / by_workers[top]:.0%} of {top} workers' images/s")
        print(f"load average now {os.getloadavg()[0]:.2f}")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
