"""The Space's page: time from `python app.py` to its first answer, and time per clip, as JSON.

In ONE run, with ONE model (``--run``, or ``--model`` an exported ``.onnx``, or a run trained here with
the CLI's defaults on the FSDKaggle2018 subset's 240 training clips), written as a Space folder by
``audiospec space``:

* **cold start**: ``python app.py`` in the Space folder (this interpreter, or ``--python`` e.g. a
  virtual environment holding only the folder's ``requirements.txt``), from process start to the
  page being served, and to the first ``/predict`` answer through ``gradio_client`` on a 5.0 s
  clip; one untimed start first (files into the page cache), then ``--starts`` timed ones, median;
* **per clip**: the subset's clips (300 real clips, 1 to 26 s, or ``--n-clips``) sent one after the
  other to the running page through ``gradio_client`` (upload, decode, resampling, the model, the
  spectrogram and timeline pictures, the answer): median, mean and the largest, with the top-label
  agreement with ``OnnxClassifier.predict_file``;
* **explanation**: the occlusion map the page computes after the label (the 4 windows of most
  evidence), in this process, on ``--explain-clips`` clips: seconds per clip and network passes.

Prints one JSON object: the figures, the settings, and the machine (CPU, cores, load average before
and after, versions). Compare only figures of one run: a shared machine's load changes by the minute.

Usage::

    .venv/bin/python bench/app_speed.py                       # trains a run first (CLI defaults, about 2 min)
    .venv/bin/python bench/app_speed.py --run runs/demo --n-clips 60
    .venv/bin/python bench/app_speed.py --model model.onnx --python /tmp/space_venv/bin/python
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SUBSET = REPO.parent / "shared" / "data" / "fsdkaggle2018-subset"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_run(root: Path, work: Path) -> tuple[Path, dict]:
    from audiospec_utils.audio.datasets import load_fsdkaggle2018
    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.learn.train import train_classifier

    specs, run = work / "specs", work / "run"
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON alone
        render_spectrograms(load_fsdkaggle2018(root), specs, progress=False)
        _, m = train_classifier(specs, run, pretrained=False, progress=False)
    return run, {"trained_here": True, "recipe": m.get("recipe"), "arch": m.get("arch"), "epochs": m.get("epochs"),
                 "img_size": m.get("img_size"), "crop_seconds": m.get("crop_seconds"), "n_train": m.get("n_train"),
                 "validation_accuracy": m.get("accuracy")}


def start_space(python: str, folder: Path, five: Path, log: Path) -> dict:
    """Start `python app.py`; seconds to the page served and to the first /predict answer."""
    from gradio_client import Client, handle_file

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_ANALYTICS_ENABLED="False")
    fh = open(log, "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([python, "app.py"], cwd=folder, env=env, stdout=fh, stderr=subprocess.STDOUT)
    served = answered = None
    label = None
    try:
        while time.perf_counter() - t0 < 300:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url + "config", timeout=2)
                served = time.perf_counter() - t0
                break
            except OSError:
                time.sleep(0.05)
        label = Client(url, verbose=False, download_files=False).predict(handle_file(str(five)),
                                                                         api_name="/predict")[0]["label"]
        answered = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        fh.close()
    return {"served_s": served, "first_answer_s": answered, "label": label, "port": port}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=None, help="a trained run folder (default: train one here)")
    ap.add_argument("--model", default=None, help="an exported model.onnx instead of a run")
    ap.add_argument("--source", default=str(SUBSET), help="folder of the FSDKaggle2018 zip archives")
    ap.add_argument("--python", default=sys.executable,
                    help="the interpreter that runs app.py (default: this one; e.g. a venv of requirements.txt)")
    ap.add_argument("--starts", type=int, default=3, help="timed cold starts (default 3)")
    ap.add_argument("--n-clips", type=int, default=None, help="clips for the per-clip figures (default: all)")
    ap.add_argument("--explain-clips", type=int, default=5, help="clips whose map is timed (default 5)")
    ap.add_argument("--workdir", default=None, help="where clips, run and Space go (default: a temporary folder)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    load_before = os.getloadavg()

    import gradio
    import onnxruntime
    import soundfile as sf
    from gradio_client import Client, handle_file

    sys.path.insert(0, str(HERE))
    from onnx_speed import extract
    from train_speed import cpu_model

    from audiospec_utils.share.app import AppModel
    from audiospec_utils.audio.decode import load_audio
    from audiospec_utils.share.space import write_space

    source = Path(args.source)
    if not source.is_dir():
        print(f"no clips: {source} is absent", file=sys.stderr)
        return 2
    tmp = tempfile.TemporaryDirectory(prefix="app_speed_") if args.workdir is None else None
    work = Path(args.workdir or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    root = extract(source, work / "audio")
    clips = sorted(root.rglob("*.wav"))
    model_info = {}
    if args.model:
        model = Path(args.model)
    elif args.run:
        model = Path(args.run)
    else:
        model, model_info = train_run(root, work)
    t = time.perf_counter()
    space = write_space(model, work / "space", cache=work / "app_cache", force=True)
    space_s = time.perf_counter() - t
    folder = space["out"]

    longest = max(clips, key=lambda p: sf.info(str(p)).frames)
    y, sr = load_audio(longest)
    five = work / "five_seconds.wav"
    sf.write(five, np.resize(y, 5 * sr), sr, subtype="PCM_16")

    start_space(args.python, folder, five, work / "untimed.log")  # untimed: files into the page cache
    starts = [start_space(args.python, folder, five, work / f"start_{i}.log") for i in range(args.starts)]

    # per clip, through a running page
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_ANALYTICS_ENABLED="False")
    log = open(work / "server.log", "w")
    proc = subprocess.Popen([args.python, "app.py"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    app_model = AppModel(folder / "model.onnx")
    use = clips[:args.n_clips] if args.n_clips else clips
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "config", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        client = Client(url, verbose=False, download_files=False)
        client.predict(handle_file(str(five)), api_name="/predict")  # warm-up
        times, same, durations = [], [], []
        for f in use:
            t = time.perf_counter()
            label = client.predict(handle_file(str(f)), api_name="/predict")[0]["label"]
            times.append(time.perf_counter() - t)
            entry = app_model.clf.predict_file(f)
            same.append(label == entry["top"][0]["label"])
            durations.append(entry["duration"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()

    # the map, in this process (the page computes it after the label)
    explain = []
    for f in sorted(use, key=lambda p: p.stat().st_size)[::max(1, len(use) // max(1, args.explain_clips))][
            :args.explain_clips]:
        res = app_model.classify(f)
        e = app_model.explain(res["analysis"])
        explain.append({"clip_s": round(res["duration"], 2), "windows": int(len(e["explained"])),
                        "explained": int(e["explained"].sum()), "passes": int(e["passes"]),
                        "seconds": round(e["seconds"], 2)})

    load_after = os.getloadavg()
    meta = app_model.metadata
    out = {
        "benchmark": "bench/app_speed.py",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "gpu": "none used (onnxruntime CPU)",
                    "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_before": [round(v, 2) for v in load_before],
                    "load_average_after": [round(v, 2) for v in load_after]},
        "versions": {"gradio": gradio.__version__, "onnxruntime": onnxruntime.__version__, "numpy": np.__version__},
        "app_python": args.python,
        "model": {"source": str(model), **model_info, "labels": len(meta["labels"]), "height": meta["height"],
                  "window_s": meta["crop_seconds"], "model_mb": round((folder / "model.onnx").stat().st_size / 1e6, 1),
                  "window_network_mb": round((folder / "model_windows.onnx").stat().st_size / 1e6, 1)},
        "space_written_s": round(space_s, 1),
        "cold_start": {"starts": len(starts), "clip_s": 5.0,
                       "served_s_median": round(statistics.median(s["served_s"] for s in starts), 2),
                       "first_answer_s_median": round(statistics.median(s["first_answer_s"] for s in starts), 2),
                       "first_answer_s_all": [round(s["first_answer_s"], 2) for s in starts]},
        "per_clip": {"clips": len(use), "clip_s_min": round(min(durations), 2), "clip_s_max": round(max(durations), 2),
                     "clip_s_median": round(float(np.median(durations)), 2),
                     "ms_median": round(1000 * statistics.median(times), 1),
                     "ms_mean": round(1000 * statistics.mean(times), 1), "ms_max": round(1000 * max(times), 1),
                     "real_time_factor_total": round(sum(times) / sum(durations), 4),
                     "same_top_label_as_predict_file": f"{sum(same)}/{len(same)}"},
        "explanation": {"clips": explain,
                        "seconds_median": round(statistics.median(e["seconds"] for e in explain), 2) if explain else None},
    }
    print(json.dumps(out, indent=2))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
