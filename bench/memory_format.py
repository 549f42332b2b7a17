"""Channels-last or the default (NCHW) memory layout for training on a CPU: whole steps, both layouts, one run.

For each case (network, image height, batch size) it times forward, loss, backward and a fused
AdamW step on one synthetic batch (images 1.5 times as wide as high), in the toolkit's layout
(channels-last weights and batches, ``learn.estimator.to_device_precision``) and in PyTorch's
default one, and prints the median step of each and the ratio default / channels-last (above 1:
channels-last is quicker). The figures quoted in ``to_device_precision``'s docstring come from::

    .venv/bin/python bench/memory_format.py                        # float32
    .venv/bin/python bench/memory_format.py --bf16                 # bf16 autocast (a CPU with bf16)
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 .venv/bin/python bench/memory_format.py

Nothing is read from disk: this measures the network's step alone, not the data loading.
"""

from __future__ import annotations

import argparse
import time

CASES = (("resnet34", 32, 16), ("resnet34", 64, 32), ("resnet34", 64, 64), ("resnet18", 48, 64))


def step_seconds(arch: str, height: int, bs: int, channels_last: bool, *, bf16: bool, steps: int) -> float:
    """Median wall time (s) of one training step of torchvision's `arch` (10 classes) on a `bs` x 3 x
    `height` x 1.5 `height` batch, in the given layout."""
    import torch
    import torchvision

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=10).to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    x = torch.randn(bs, 3, height, int(height * 1.5)).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (bs,))
    times = []
    for _ in range(steps + 2):  # two warm-up steps
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - start)
    times = sorted(times[2:])
    return times[len(times) // 2]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bf16", action="store_true", help="forward pass in bf16 autocast")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--steps", type=int, default=8, help="timed steps per case")
    args = p.parse_args(argv)
    import torch

    from train_speed import machine_description  # bench/ is on sys.path when this script runs

    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_description(), f"| torch capability {torch.backends.cpu.get_cpu_capability()}",
          f"| {torch.get_num_threads()} threads | {'bf16' if args.bf16 else 'float32'}")
    for arch, height, bs in CASES:
        cl = step_seconds(arch, height, bs, True, bf16=args.bf16, steps=args.steps)
        nchw = step_seconds(arch, height, bs, False, bf16=args.bf16, steps=args.steps)
        print(f"{arch} {height} px batch {bs}: channels-last {cl * 1000:.0f} ms, default {nchw * 1000:.0f} ms, "
              f"default / channels-last {nchw / cl:.2f}")


if __name__ == "__main__":
    main()
