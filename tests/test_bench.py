"""The benchmark must keep running: a tiny run of bench/render_speed.py prints every figure."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "render_speed.py"


def test_render_speed_benchmark_prints_every_figure(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH), "--n-clips", "12", "--matplotlib-clips", "2", "--distinct", "6",
                          "--jobs", "2", "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert re.search(r"\(b\) audiospec render_spectrograms, 2 workers: 12 clips in [\d.]+ s = \d+ clips/s.*"
                     r"peak RSS \d+ MiB", text), text
    for style in ("bare", "blog", "labelled"):
        assert re.search(rf"\(a\) matplotlib, {style} figure, 1 process: 2 clips .* ratio b/a: \d+x", text), text
    assert re.search(r"floor: decode \+ STFT alone .* at most \d+ clips/s on 2 cores", text), text
    # the clips really were rendered: one PNG per clip id (6 distinct files, 6 hard links)
    assert len(list((tmp_path / "render_b" / "images").rglob("*.png"))) == 12
    assert len(list((tmp_path / "render_a_blog").glob("*.png"))) == 3  # warm-up + 2


TRAIN_BENCH = BENCH.with_name("train_speed.py")


def test_train_speed_quick_prints_both_throughputs(tmp_path):
    out = subprocess.run([sys.executable, str(TRAIN_BENCH), "--quick", "--workdir", str(tmp_path)],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert re.search(r"machine: .+, \d+ cores, (no GPU|.+); torch \S+", text), text
    assert re.search(r"settings: device \w+, precision (fp32|bf16|fp16), .*images 32 px high, crops of \d+ frames "
                     r"\(0\.50 s\)", text), text
    num = r"(\d+\.\d)"
    for bs in (16,):
        a = re.search(rf"\(a\) model limit, bs {bs}: {num} images/s \({num} per CPU-second\)", text)
        assert a and float(a.group(1)) > 0, text
        for workers in (0, 2):
            b = re.search(rf"\(b\) fit, bs {bs}, {workers} workers: {num} images/s .* b/a (\d+)%", text)
            assert b and float(b.group(1)) > 0, text
            assert re.search(rf"\(c\) DataLoader alone, bs {bs}, {workers} workers: {num} images/s", text), text
            assert re.search(rf"^\| {bs} \| {workers} \| {num} \({num}\) \| {num} \({num}\) \| {num} \({num}\) \| "
                             rf"\d+% \| \d+% \|$", text, re.M), text
    # the benchmark trained on a render folder it made itself
    assert len(list((tmp_path / "specs" / "images").rglob("*.png"))) == 60
