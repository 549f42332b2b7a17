import json
import subprocess
import sys

import pytest

from helpers import tone, write_wav


def audiospec(*args, check=True):
    res = subprocess.run([sys.executable, "-m", "audiospec_utils", "-q", *map(str, args)],
                         capture_output=True, text=True, timeout=600)
    if check:
        assert res.returncode == 0, res.stderr
    return res


def test_render_train_interpret_from_the_command_line(tmp_path):
    audiospec("mini", "--dest", tmp_path / "mini")
    # a small copy: folder per class made from the mini dataset's train clips
    from audiospec_utils.datasets import load_fsdkaggle2018

    table = load_fsdkaggle2018(tmp_path / "mini", split="train", n_per_label=5)
    src = tmp_path / "src"
    for row in table.itertuples():
        (src / row.label).mkdir(parents=True, exist_ok=True)
        (src / row.label / row.fname).write_bytes(open(row.path, "rb").read())
    (src / "Bark").mkdir()
    (src / "Bark" / "corrupt.wav").write_bytes(b"\x00" * 100)
    out = audiospec("render", src, "--out", tmp_path / "specs", "--n-mels", 64)
    assert "1 of 41 clips skipped" in out.stdout
    strict = audiospec("render", src, "--out", tmp_path / "specs", "--n-mels", 64, "--strict", check=False)
    assert strict.returncode == 1 and "already done" in strict.stdout
    audiospec("train", tmp_path / "specs", "--out", tmp_path / "run", "--epochs", 1, "--img-size", 32,
              "--no-pretrained")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_valid"] == 40 and len(metrics["classes"]) == 8
    res = audiospec("interpret", tmp_path / "run")
    assert "confusion_matrix" in res.stdout and (tmp_path / "run" / "confusion_matrix.png").is_file()


@pytest.mark.parametrize("make, match", [
    (lambda d: (d / "nothing_here").mkdir(), "no audio files"),
    (lambda d: (d / "labels.csv").write_text("file,category\nx.wav,dog\n"), "missing column"),
])
def test_bad_sources_exit_2_with_one_clear_line(tmp_path, make, match):
    make(tmp_path)
    target = tmp_path / "labels.csv" if (tmp_path / "labels.csv").exists() else tmp_path / "nothing_here"
    res = audiospec("render", target, "--out", tmp_path / "o", check=False)
    assert res.returncode == 2 and match in res.stderr and "Traceback" not in res.stderr


def test_bad_parameter_is_refused_before_work(tmp_path):
    write_wav(tmp_path / "s" / "a" / "x.wav", tone())
    res = audiospec("render", tmp_path / "s", "--out", tmp_path / "o", "--hop-length", 0, check=False)
    assert res.returncode == 2 and "hop_length" in res.stderr and not (tmp_path / "o").exists()


def test_train_without_weights_offline_says_how_to_go_on(tmp_path, mini_specs):
    env_home = tmp_path / "torch_home"
    res = subprocess.run([sys.executable, "-c", (
        "import sys, torchvision.models as m;"
        "m.ResNet34_Weights.DEFAULT.value.url='http://127.0.0.1:9/resnet34-b627a593.pth';"
        "from audiospec_utils.cli import main;"
        f"sys.exit(main(['-q','train',{str(mini_specs)!r},'--out',{str(tmp_path / 'run')!r},'--epochs','1']))")],
        capture_output=True, text=True, env={**__import__("os").environ, "TORCH_HOME": str(env_home)}, timeout=300)
    assert res.returncode == 2
    assert "--weights FILE" in res.stderr and "--no-pretrained" in res.stderr and "Traceback" not in res.stderr
