"""`audiospec download` as a user runs it, against a real local HTTP server: killed half way, resumed."""

import hashlib
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from http_server import serve_directory


def _zip(folder, archive):
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(folder.rglob("*")):
            zf.write(f, f.relative_to(folder.parent).as_posix())


@pytest.fixture(scope="module")
def served(tmp_path_factory, mini_root):
    root = tmp_path_factory.mktemp("mirror")
    names = {"FSDKaggle2018.audio_train": "FSDKaggle2018.audio_train.zip",
             "FSDKaggle2018.audio_test": "FSDKaggle2018.audio_test.zip", "FSDKaggle2018.meta": "FSDKaggle2018.meta.zip"}
    for folder, name in names.items():
        _zip(mini_root / folder, root / name)
    (root / "md5sums.txt").write_text("".join(
        f"{hashlib.md5((root / n).read_bytes()).hexdigest()}  {n}\n" for n in names.values()))
    return root


def _cli(*args):
    return [sys.executable, "-m", "audiospec_utils", "-q", "download", "fsdkaggle2018", *map(str, args)]


def test_killed_download_resumes_with_range_and_ends_with_the_same_files(served, mini_root, tmp_path):
    dest = tmp_path / "fsdk"
    size = (served / "FSDKaggle2018.audio_train.zip").stat().st_size
    with serve_directory(served) as (url, state):
        state.bytes_per_second = size / 6  # about 6 s for the train archive: time to kill it half way
        proc = subprocess.Popen(_cli("--out", dest, "--mirror", url), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        partial = dest / "FSDKaggle2018.audio_train.zip.partial"
        deadline = time.time() + 60
        while time.time() < deadline and not (partial.exists() and partial.stat().st_size > size // 4):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        got = partial.stat().st_size
        assert 0 < got < size
        state.bytes_per_second = None
        state.clear_log()
        done = subprocess.run(_cli("--out", dest, "--mirror", url), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        ranges = [r.range for r in state.requests("GET", "FSDKaggle2018.audio_train.zip")]
        assert ranges and ranges[0] == f"bytes={got}-"
        for folder in ("FSDKaggle2018.audio_train", "FSDKaggle2018.audio_test", "FSDKaggle2018.meta"):
            ours = sorted(p.relative_to(dest) for p in (dest / folder).rglob("*"))
            theirs = sorted(p.relative_to(mini_root) for p in (mini_root / folder).rglob("*"))
            assert ours == theirs
            for p in (dest / folder).rglob("*.wav"):
                assert p.read_bytes() == (mini_root / p.relative_to(dest)).read_bytes()
        state.clear_log()
        again = subprocess.run(_cli("--out", dest, "--mirror", url), capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and state.log == []  # everything present: no network at all


def test_corrupt_archive_is_refused_with_what_to_do(served, tmp_path):
    bad = tmp_path / "bad_mirror"
    bad.mkdir()
    for f in served.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    data = bytearray((bad / "FSDKaggle2018.meta.zip").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "FSDKaggle2018.meta.zip").write_bytes(bytes(data))
    with serve_directory(bad) as (url, state):
        res = subprocess.run(_cli("--out", tmp_path / "d", "--mirror", url, "--parts", "meta"),
                             capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "FSDKaggle2018.meta.zip" in res.stderr and ".corrupt" in res.stderr
    assert not (tmp_path / "d" / "FSDKaggle2018.meta").exists()
