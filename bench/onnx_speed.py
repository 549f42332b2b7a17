"""The exported ONNX model against the fastai path: file size, cold start, per-clip latency, real-time factor.

In ONE run, with ONE trained run (``--run``, or one trained here: ``--epochs`` epochs from scratch at
``--img-size`` px on the FSDKaggle2018 subset's 240 training clips), on the same clips (the subset's
300 real clips, 44.1 kHz, 1 to 26 s, extracted to a temporary folder):

* **export**: ``export_onnx`` time and the ``.onnx`` file size, against ``export.pkl``;
* **cold start**: a new process, ``audiospec predict RUN CLIP --json`` (fastai path) against
  ``audiospec predict --onnx MODEL CLIP --json`` (onnxruntime, no torch), from process start to its
  exit with the answer printed; one untimed start of each first (so that both read the files from
  the page cache), then ``--cold-repeats`` alternating starts each, median;
* **per clip**: in one warm process, ``predict_files(run, [clip], learn=learn)`` against
  ``OnnxClassifier.predict_file(clip)`` on every clip (decode, spectrogram, windows, network), median
  and mean; the two answers are compared (top-1 agreement, largest probability difference);
* **real-time factor** of a 5.0 s clip: seconds of computing per second of audio, each path, the
  median of 10.

Both paths use every core (torch's and onnxruntime's default thread counts, printed). Ratios are
fastai / ONNX, from figures measured in this run. Compare only figures from one run: a shared
machine's load changes by the minute (the load average is printed).

Usage::

    .venv/bin/python bench/onnx_speed.py                      # trains a 4-epoch 64 px run first
    .venv/bin/python bench/onnx_speed.py --run runs/demo      # an existing run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SUBSET = REPO.parent / "shared" / "data" / "fsdkaggle2018-subset"


def extract(source: Path, dest: Path) -> Path:
    from audiospec_utils.audio.download import extract_zip

    for z in sorted(source.glob("*.zip")):
        extract_zip(z, dest)
    return dest


def train_run(root: Path, work: Path, img_size: int, epochs: int) -> Path:
    from audiospec_utils.audio.datasets import load_fsdkaggle2018
    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.learn.train import train_classifier

    specs, run = work / "specs", work / "run"
    render_spectrograms(load_fsdkaggle2018(root), specs, progress=False)
    _, m = train_classifier(specs, run, epochs=epochs, img_size=img_size, pretrained=False, progress=False)
    print(f"run: trained here, {epochs} epoch(s) from scratch at {img_size} px on {m['n_train']} clips "
          f"(validation accuracy {m['accuracy']:.2f}; the figures below do not depend on it)")
    return run


def cold_start(cmd: list[str], env: dict) -> tuple[float, dict]:
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    dt = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr[-2000:]}")
    return dt, json.loads(res.stdout)[0]


def median_ms(xs) -> str:
    return f"{1000 * statistics.median(xs):.1f} ms"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=None, help="a trained run folder (default: train one here)")
    ap.add_argument("--source", default=str(SUBSET), help="folder of the FSDKaggle2018 zip archives")
    ap.add_argument("--img-size", type=int, default=64, help="image height of the run trained here (default 64)")
    ap.add_argument("--epochs", type=int, default=4, help="epochs of the run trained here (default 4)")
    ap.add_argument("--cold-repeats", type=int, default=5, help="timed cold starts per path (default 5)")
    ap.add_argument("--n-clips", type=int, default=None, help="use at most this many clips for the per-clip figures")
    ap.add_argument("--workdir", default=None, help="where clips, run and model go (default: a temporary folder)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    import onnxruntime
    import torch

    sys.path.insert(0, str(HERE))
    from train_speed import machine_description

    from audiospec_utils.audio.decode import load_audio
    from audiospec_utils.infer.export_onnx import export_onnx
    from audiospec_utils.infer.onnx_predict import OnnxClassifier
    from audiospec_utils.infer.predict import load_model, predict_files

    source = Path(args.source)
    if not source.is_dir():
        print(f"no clips: {source} is absent", file=sys.stderr)
        return 2
    tmp = tempfile.TemporaryDirectory(prefix="onnx_speed_") if args.workdir is None else None
    work = Path(args.workdir or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    root = extract(source, work / "audio")
    clips = sorted(root.rglob("*.wav"))
    run = Path(args.run) if args.run else train_run(root, work, args.img_size, args.epochs)

    t = time.perf_counter()
    exp = export_onnx(run, work / "model.onnx")
    model, meta = exp["path"], exp["metadata"]
    print(f"export: {time.perf_counter() - t:.1f} s; model.onnx {exp['bytes'] / 1e6:.1f} MB against export.pkl "
          f"{(run / 'export.pkl').stat().st_size / 1e6:.1f} MB; opset {meta['opset']}; {meta['height']} px, crops "
          f"of {meta['crop_frames']} frames ({meta['crop_seconds']:.2f} s), {meta['sample_rate']} Hz, "
          f"{len(meta['labels'])} labels")

    # a 5.0 s clip: the first 5 s of the longest real clip
    import soundfile as sf

    longest = max(clips, key=lambda p: sf.info(str(p)).frames)
    y, sr = load_audio(longest)
    five = work / "five_seconds.wav"
    sf.write(five, np.resize(y, 5 * sr), sr, subtype="PCM_16")

    # cold start: new processes, alternating
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    fastai_cmd = [sys.executable, "-m", "audiospec_utils", "-q", "predict", str(run), str(five), "--json"]
    onnx_cmd = [sys.executable, "-m", "audiospec_utils", "-q", "predict", "--onnx", str(model), str(five), "--json"]
    cold_start(fastai_cmd, env), cold_start(onnx_cmd, env)  # untimed: files into the page cache
    cold = {"fastai": [], "onnx": []}
    for _ in range(args.cold_repeats):
        for name, cmd in (("fastai", fastai_cmd), ("onnx", onnx_cmd)):
            dt, answer = cold_start(cmd, env)
            cold[name].append(dt)
            cold[name + "_label"] = answer["top"][0]["label"]
    cf, co = statistics.median(cold["fastai"]), statistics.median(cold["onnx"])
    print(f"cold start (process start to first answer, 5.0 s clip, median of {args.cold_repeats}): fastai {cf:.2f} s, "
          f"ONNX {co:.2f} s: ONNX answers {cf / co:.1f}x sooner (same top label: "
          f"{cold['fastai_label'] == cold['onnx_label']})")

    # per clip, warm
    learn = load_model(run)
    clf = OnnxClassifier(model)
    use = clips[:args.n_clips] if args.n_clips else clips
    predict_files(run, use[:1], learn=learn), clf.predict_file(use[0])  # warm-up
    tf, to, same, diffs, dur, tops = [], [], [], [], [], []
    for f in use:
        t = time.perf_counter()
        r = predict_files(run, [f], learn=learn, return_probs=True)[0]
        tf.append(time.perf_counter() - t)
        t = time.perf_counter()
        o = clf.predict_file(f, return_probs=True)
        to.append(time.perf_counter() - t)
        same.append(int(np.argmax(r["probs"])) == int(np.argmax(o["probs"])))
        diffs.append(float(np.abs(r["probs"] - o["probs"]).max()))
        dur.append(o["duration"])
        tops.append((int(np.argmax(r["probs"])), float(np.max(r["probs"]))))
    print(f"per clip, warm ({len(use)} real clips, {min(dur):.1f} to {max(dur):.1f} s, median {np.median(dur):.1f} s): "
          f"fastai median {median_ms(tf)} (mean {1000 * np.mean(tf):.1f} ms), ONNX median {median_ms(to)} "
          f"(mean {1000 * np.mean(to):.1f} ms): ONNX {statistics.median(tf) / statistics.median(to):.1f}x faster "
          f"(median), {np.sum(tf) / np.sum(to):.1f}x (total)")
    print(f"parity on these clips: same top label for {np.mean(same):.1%} ({sum(same)}/{len(same)}), largest "
          f"|p_onnx - p_fastai| {max(diffs):.1e} (the fastai path's answers: {len({t[0] for t in tops})} different "
          f"top labels, top probability {min(t[1] for t in tops):.2f} to {max(t[1] for t in tops):.2f})")

    # real-time factor of a 5 s clip
    rf, ro = [], []
    for _ in range(10):
        t = time.perf_counter()
        predict_files(run, [five], learn=learn)
        rf.append(time.perf_counter() - t)
        t = time.perf_counter()
        clf.predict_file(five)
        ro.append(time.perf_counter() - t)
    print(f"real-time factor, 5.0 s clip (median of 10): fastai {statistics.median(rf) / 5:.4f}, ONNX "
          f"{statistics.median(ro) / 5:.4f} ({statistics.median(rf) / statistics.median(ro):.1f}x)")
    load = os.getloadavg()
    print(f"machine: {machine_description()}; onnxruntime {onnxruntime.__version__}; threads: torch "
          f"{torch.get_num_threads()}, onnxruntime default; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
