"""What a learner meets first: --help that gives each default once, no decoder chatter, logs without redrawn bars."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audiospec_utils.cli import build_parser
from audiospec_utils.progress import show_progress


def _subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_help_gives_each_default_once(name):
    text = _subcommands()[name].format_help()
    flat = " ".join(text.split())
    assert "(default: None)" not in flat and "(default: False)" not in flat
    # no option's help ends in two defaults, e.g. "(default: 128) (default: 128)"
    assert not re.search(r"\(default: [^)]*\)\s*\(default: [^)]*\)", flat), flat


def _mp3_needing_resync(path):
    """An MP3 inside a .wav, with 400 damaged bytes: libmpg123 prints 'Note: Trying to resync...' on fd 2."""
    t = np.arange(44100 * 2) / 44100
    path.parent.mkdir(parents=True, exist_ok=True)
    mp3 = path.with_suffix(".mp3")
    sf.write(mp3, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44100, format="MP3",
             subtype="MPEG_LAYER_III")
    data = bytearray(mp3.read_bytes())
    data[3000:3400] = np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    mp3.unlink()
    return path


def test_a_decoders_own_chatter_stays_out_of_the_output(tmp_path):
    clip = _mp3_needing_resync(tmp_path / "src" / "tone" / "damaged.wav")
    raw = subprocess.run([sys.executable, "-c", f"import soundfile; soundfile.read({str(clip)!r})"],
                         capture_output=True, text=True)
    assert "Trying to resync" in raw.stderr  # the decoder does print it: the check below can fail
    out = subprocess.run([sys.executable, "-m", "audiospec_utils", "render", str(tmp_path / "src"), "--out",
                          str(tmp_path / "specs")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Note:" not in out.stdout + out.stderr and "resync" not in out.stdout + out.stderr
    assert (tmp_path / "specs" / "images" / "damaged.png").is_file() or list((tmp_path / "specs").rglob("*.png"))


def test_progress_bars_only_in_a_terminal_or_a_notebook():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert show_progress(True, Tty()) and not show_progress(False, Tty())
    assert not show_progress(True, io.StringIO())  # a log file, CI


def test_a_render_logged_to_a_file_has_no_redrawn_bars(tmp_path):
    from helpers import tone, write_wav

    for i in range(20):
        write_wav(tmp_path / "src" / ("a" if i % 2 else "b") / f"{i}.wav", tone(300 + 10 * i, 0.2))
    out = subprocess.run([sys.executable, "-m", "audiospec_utils", "render", str(tmp_path / "src"), "--out",
                          str(tmp_path / "specs"), "--jobs", "1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stderr + out.stdout and "Rendering:" not in out.stderr


def test_a_training_logged_to_a_file_shows_epoch_rows_not_redrawn_bars(mini_specs, tmp_path):
    out = subprocess.run([sys.executable, "-m", "audiospec_utils", "train", str(mini_specs), "--out",
                          str(tmp_path / "run"), "--epochs", "2", "--img-size", "32", "--bs", "16", "--no-pretrained"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stdout + out.stderr and "█" not in out.stdout
    lines = out.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("epoch") and "train_loss" in line)
    rows = [line.split()[0] for line in lines[header + 1:header + 3]]
    assert rows == ["0", "1"], out.stdout
    # one table: the validation passes after training (get_preds) print no second header
    assert sum(line.startswith("epoch") and "train_loss" in line for line in lines) == 1, out.stdout
