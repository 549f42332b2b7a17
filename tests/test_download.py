"""Tests of audiospec_utils.audio.download against a real HTTP server on 127.0.0.1.

A tiny dataset in the exact FSDKaggle2018 layout is written once per session, zipped
under the Zenodo archive names, and served by ``tests/http_server.py`` (which can cut
connections, ignore ``Range`` and logs every request).
"""

from __future__ import annotations

import collections
import csv
import hashlib
import logging
import shutil
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import audiospec_utils.audio.download as dl
import audiospec_utils.audio.http_download as http_download
import audiospec_utils.audio.unzip as unzip
from audiospec_utils.audio.download import (
    PARTS,
    archive_url,
    download_file,
    download_fsdkaggle2018,
    extract_zip,
    load_md5sums,
    read_md5sums,
)
from audiospec_utils.exceptions import DownloadError, ParameterError

try:
    from http_server import http_server, serve_directory  # noqa: F401 - fixture import
except ImportError:  # tests/ imported as a package
    from tests.http_server import http_server, serve_directory  # noqa: F401

TRAIN, TEST, META, DOC = (PARTS[k] for k in ("train", "test", "meta", "doc"))
LABELS = ["Bark", "Meow", "Applause"]
SR = 44100


# --------------------------------------------------------------------------- fixtures
def _write_wav(path: Path, rng: np.random.Generator, seconds: float) -> None:
    t = np.arange(int(SR * seconds)) / SR
    tone = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t)
    noise = 0.05 * rng.standard_normal(t.size)
    sf.write(path, (tone + noise).astype(np.float32), SR, subtype="PCM_16")


def _build_tiny_dataset(root: Path) -> Path:
    """The FSDKaggle2018 layout, from ``audiospec_utils.audio.mini`` when it works, else by hand.

    Either way: a handful of short 44.1 kHz 16-bit mono WAVs in ``FSDKaggle2018.audio_train/``
    and ``FSDKaggle2018.audio_test/``, the two CSVs in ``FSDKaggle2018.meta/``, plus a
    ``FSDKaggle2018.doc/`` folder.
    """
    try:
        from audiospec_utils.audio.mini import MINI_LABELS, make_mini_dataset

        make_mini_dataset(root, n_train_per_label=2, n_test_per_label=1, labels=MINI_LABELS[:3], seed=0)
        assert (root / "FSDKaggle2018.meta" / "train_post_competition.csv").is_file()
        assert any((root / "FSDKaggle2018.audio_train").glob("*.wav"))
        assert any((root / "FSDKaggle2018.audio_test").glob("*.wav"))
    except Exception:  # mini.py missing or broken: not what these tests are about
        shutil.rmtree(root, ignore_errors=True)
        return _build_by_hand(root)
    (root / "FSDKaggle2018.doc").mkdir()
    (root / "FSDKaggle2018.doc" / "README.md").write_text("FSDKaggle2018 (tiny test copy)\n")
    return root


def _build_by_hand(root: Path) -> Path:
    rng = np.random.default_rng(0)
    train = root / "FSDKaggle2018.audio_train"
    test = root / "FSDKaggle2018.audio_test"
    meta = root / "FSDKaggle2018.meta"
    doc = root / "FSDKaggle2018.doc"
    for d in (train, test, meta, doc):
        d.mkdir(parents=True)
    train_rows, test_rows = [], []
    for i in range(6):
        fname = f"{rng.integers(16**7, 16**8):08x}.wav"
        _write_wav(train / fname, rng, 0.3)
        train_rows.append([fname, LABELS[i % 3], i % 2, 100000 + i, "Attribution"])
    for i in range(3):
        fname = f"{rng.integers(16**7, 16**8):08x}.wav"
        _write_wav(test / fname, rng, 0.2)
        test_rows.append([fname, LABELS[i % 3], "Public", 200000 + i, "Creative Commons 0"])
    with open(meta / "train_post_competition.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["fname", "label", "manually_verified", "freesound_id", "license"])
        w.writerows(train_rows)
    with open(meta / "test_post_competition_scoring_clips.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["fname", "label", "usage", "freesound_id", "license"])
        w.writerows(test_rows)
    (doc / "README.md").write_text("FSDKaggle2018 (tiny test copy)\n")
    return root


def _zip_folder(folder: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(folder, folder.name + "/")
        for f in sorted(folder.rglob("*")):
            zf.write(f, f.relative_to(folder.parent).as_posix())


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """``(source_root, {archive name: bytes})`` for the tiny dataset."""
    base = tmp_path_factory.mktemp("tiny")
    source = _build_tiny_dataset(base / "source")
    zips = base / "zips"
    zips.mkdir()
    blobs = {}
    for name in PARTS.values():
        archive = zips / name
        _zip_folder(source / name[: -len(".zip")], archive)
        blobs[name] = archive.read_bytes()
    return source, blobs


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    monkeypatch.setattr(http_download, "RETRY_BASE_DELAY", 0.0)
    monkeypatch.setattr(http_download, "RETRY_MAX_DELAY", 0.0)


@pytest.fixture
def table(monkeypatch, tmp_path, dataset):
    """Point the shipped checksum table at the tiny archives' MD5s; returns its path."""
    _, blobs = dataset
    path = tmp_path / "table.md5"
    path.write_text("".join(f"{_md5(b)}  {n}\n" for n, b in blobs.items()))
    monkeypatch.setattr(dl, "CHECKSUM_FILE", path)
    return path


def _serve(state, blobs, names=None, md5sums=True, override=None, sub=""):
    """Put archives (and md5sums.txt) into the served folder."""
    root = state.root / sub
    root.mkdir(parents=True, exist_ok=True)
    names = list(blobs) if names is None else names
    for n in names:
        (root / n).write_bytes((override or {}).get(n, blobs[n]))
    if md5sums:
        (root / "md5sums.txt").write_text("".join(f"{_md5(blobs[n])}  {n}\n" for n in names))


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_same_tree(a: Path, b: Path) -> None:
    ta, tb = _tree(a), _tree(b)
    assert sorted(ta) == sorted(tb)
    for k in ta:
        assert ta[k] == tb[k], k


def _zip_gets(state, name):
    return [r for r in state.requests("GET") if r.path.endswith("/" + name)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- parsing / urls
def test_read_md5sums_formats():
    text = (
        "# a comment\n\n"
        "F16828AC8BE0E5285B9175A12F90D784  FSDKaggle2018.meta.zip\n"
        "a8b47ff4b52022c178f88fa5c6f080d0 *FSDKaggle2018.audio_train.zip\n"
        "f85c8665c3fc39311ea1b748e194a81d  ./FSDKaggle2018.audio_test.zip\n"
    )
    assert read_md5sums(text) == {
        "FSDKaggle2018.meta.zip": "f16828ac8be0e5285b9175a12f90d784",
        "FSDKaggle2018.audio_train.zip": "a8b47ff4b52022c178f88fa5c6f080d0",
        "FSDKaggle2018.audio_test.zip": "f85c8665c3fc39311ea1b748e194a81d",
    }
    with pytest.raises(ParameterError, match="line 2"):
        read_md5sums("f16828ac8be0e5285b9175a12f90d784  a.zip\n<html>oops</html>\n")


def test_shipped_table_lists_every_archive():
    sums = load_md5sums()
    assert set(sums) == set(PARTS.values())
    assert all(len(v) == 32 and int(v, 16) >= 0 for v in sums.values())
    assert dl.CHECKSUM_FILE.name == "fsdkaggle2018.md5"


def test_archive_url():
    assert archive_url(META) == "https://zenodo.org/records/2552860/files/FSDKaggle2018.meta.zip?download=1"
    assert archive_url(META, "http://h:8/m") == "http://h:8/m/FSDKaggle2018.meta.zip"
    assert archive_url(META, "http://h:8/m/") == "http://h:8/m/FSDKaggle2018.meta.zip"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"parts": ("train", "bogus")}, r"bogus.*allowed names: doc, meta, test, train"),
        ({"parts": ()}, "parts is empty"),
        ({"parts": []}, "parts is empty"),
        ({"parts": ("meta",), "retries": -1}, "retries"),
        ({"parts": ("meta",), "timeout": 0}, "timeout"),
        ({"parts": ("meta",), "mirror": "ftp://x/"}, "mirror"),
    ],
)
def test_bad_parameters(tmp_path, kwargs, match):
    dest = tmp_path / "data"
    with pytest.raises(ParameterError, match=match):
        download_fsdkaggle2018(dest, progress=False, **kwargs)
    assert not dest.exists()


# --------------------------------------------------------------------------- happy paths
def test_full_download_three_parts(http_server, dataset, tmp_path):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs)
    dest = tmp_path / "data"

    out = download_fsdkaggle2018(dest, mirror=base_url, progress=False)

    assert out == dest
    for folder in ("FSDKaggle2018.audio_train", "FSDKaggle2018.audio_test", "FSDKaggle2018.meta"):
        _assert_same_tree(source / folder, dest / folder)
    assert (dest / "FSDKaggle2018.meta" / "train_post_competition.csv").read_bytes() == (
        source / "FSDKaggle2018.meta" / "train_post_competition.csv"
    ).read_bytes()
    # Only the three parts, archives deleted, no leftovers.
    assert sorted(p.name for p in dest.iterdir()) == [
        "FSDKaggle2018.audio_test",
        "FSDKaggle2018.audio_train",
        "FSDKaggle2018.meta",
    ]
    assert [r.path for r in state.requests("GET", "md5sums.txt")] == ["/md5sums.txt"]
    for name in (TRAIN, TEST, META):
        assert len(_zip_gets(state, name)) == 1
    assert not _zip_gets(state, DOC)


def test_mirror_in_subfolder_without_trailing_slash_and_progress(http_server, dataset, tmp_path, capsys):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs, names=[META, DOC], sub="fsd")
    dest = tmp_path / "data"

    download_fsdkaggle2018(dest, parts=["meta", "doc"], mirror=base_url + "fsd", progress=True)

    _assert_same_tree(source / "FSDKaggle2018.meta", dest / "FSDKaggle2018.meta")
    _assert_same_tree(source / "FSDKaggle2018.doc", dest / "FSDKaggle2018.doc")
    assert _zip_gets(state, META)[0].path == "/fsd/" + META
    captured = capsys.readouterr()
    assert "FSDKaggle2018.meta is ready" in captured.out + captured.err


def test_md5_from_shipped_table_without_mirror_md5sums(http_server, dataset, tmp_path, table, monkeypatch):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs, md5sums=False)
    # An exact size in the table: checked too, and no HEAD needed for the space check.
    monkeypatch.setitem(dl.ARCHIVE_SIZES, META, len(blobs[META]))
    dest = tmp_path / "data"

    download_fsdkaggle2018(dest, parts=("meta",), mirror=base_url, progress=False)

    _assert_same_tree(source / "FSDKaggle2018.meta", dest / "FSDKaggle2018.meta")
    assert state.requests("HEAD") == []
    assert len(_zip_gets(state, META)) == 1


def test_wrong_md5_in_table_is_rejected(http_server, dataset, tmp_path, monkeypatch):
    base_url, state = http_server
    _, blobs = dataset
    _serve(state, blobs, md5sums=False)
    table = tmp_path / "table.md5"
    table.write_text(f"{'0' * 32}  {META}\n")
    monkeypatch.setattr(dl, "CHECKSUM_FILE", table)
    dest = tmp_path / "data"

    with pytest.raises(DownloadError, match=r"FSDKaggle2018\.meta\.zip did not verify") as err:
        download_fsdkaggle2018(dest, parts=("meta",), mirror=base_url, progress=False)
    assert "0" * 32 in str(err.value) and _md5(blobs[META]) in str(err.value)
    assert (dest / (META + ".corrupt")).read_bytes() == blobs[META]
    assert not (dest / "FSDKaggle2018.meta").exists()


def test_download_file_checks_size_and_md5(http_server, dataset, tmp_path):
    base_url, state = http_server
    _, blobs = dataset
    _serve(state, blobs, names=[META], md5sums=False)
    url = base_url + META

    with pytest.raises(DownloadError, match=r"size .* expected 12 bytes"):
        download_file(url, tmp_path / META, expected_size=12, progress=False)
    assert (tmp_path / (META + ".corrupt")).exists()

    out = download_file(url, tmp_path / "ok.zip", expected_size=len(blobs[META]),
                        expected_md5=_md5(blobs[META]), progress=False)
    assert out.read_bytes() == blobs[META]
    assert not (tmp_path / "ok.zip.partial").exists()

    # A complete verified file is not fetched again.
    state.clear_log()
    download_file(url, out, expected_md5=_md5(blobs[META]), progress=False)
    assert state.log == []


# --------------------------------------------------------------------------- resume / retry
def test_cut_download_resumes_with_range(http_server, dataset, tmp_path):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs)
    state.cut_after_bytes = len(blobs[TRAIN]) // 2
    state.cut_requests = 1
    dest = tmp_path / "data"

    download_fsdkaggle2018(dest, parts=("train",), mirror=base_url, chunk_size=4096, progress=False)

    gets = _zip_gets(state, TRAIN)
    assert len(gets) == 2
    assert gets[0].range is None
    assert gets[1].range is not None and gets[1].range.startswith("bytes=")
    offset = int(gets[1].range[len("bytes="):].rstrip("-"))
    assert 0 < offset <= len(blobs[TRAIN]) // 2
    _assert_same_tree(source / "FSDKaggle2018.audio_train", dest / "FSDKaggle2018.audio_train")


def test_server_ignoring_range_restarts_from_zero(http_server, dataset, tmp_path):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs)
    state.ignore_range = True
    dest = tmp_path / "data"
    dest.mkdir()
    # A stale partial with wrong bytes: appending to it would fail the MD5 check.
    (dest / (TRAIN + ".partial")).write_bytes(b"\xff" * 1000)

    download_fsdkaggle2018(dest, parts=("train",), mirror=base_url, chunk_size=4096, progress=False)

    gets = _zip_gets(state, TRAIN)
    assert [g.range for g in gets] == ["bytes=1000-"]
    _assert_same_tree(source / "FSDKaggle2018.audio_train", dest / "FSDKaggle2018.audio_train")


def test_cut_then_range_ignored_restarts_cleanly(http_server, dataset, tmp_path):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs)
    state.ignore_range = True
    state.cut_after_bytes = len(blobs[TEST]) // 3
    dest = tmp_path / "data"

    download_fsdkaggle2018(dest, parts=("test",), mirror=base_url, chunk_size=1024, progress=False)

    gets = _zip_gets(state, TEST)
    assert len(gets) == 2 and gets[1].range is not None
    _assert_same_tree(source / "FSDKaggle2018.audio_test", dest / "FSDKaggle2018.audio_test")


def test_full_size_partial_and_416_counts_as_complete(http_server, dataset, tmp_path):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs)
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / (META + ".partial")).write_bytes(blobs[META])

    download_fsdkaggle2018(dest, parts=("meta",), mirror=base_url, progress=False)

    assert [g.range for g in _zip_gets(state, META)] == [f"bytes={len(blobs[META])}-"]
    _assert_same_tree(source / "FSDKaggle2018.meta", dest / "FSDKaggle2018.meta")


def test_gives_up_after_retries(http_server, dataset, tmp_path):
    base_url, state = http_server
    _, blobs = dataset
    _serve(state, blobs)
    state.cut_after_bytes = 0
    state.cut_requests = 100
    dest = tmp_path / "data"

    with pytest.raises(DownloadError) as err:
        download_fsdkaggle2018(dest, parts=("meta",), mirror=base_url, retries=2, progress=False)

    msg = str(err.value)
    assert base_url + META in msg and "run the same command again" in msg and "0 of" in msg
    assert len(_zip_gets(state, META)) == 3
    assert not (dest / "FSDKaggle2018.meta").exists()


def test_connection_refused_is_retried_then_reported(tmp_path, table):
    mirror = f"http://127.0.0.1:{_free_port()}/"
    with pytest.raises(DownloadError, match=r"after 3 attempt\(s\).*could not connect"):
        download_fsdkaggle2018(tmp_path / "data", parts=("meta",), mirror=mirror, retries=2, progress=False)


def test_404_fails_at_once(http_server, tmp_path):
    base_url, state = http_server
    with pytest.raises(DownloadError, match=r"FSDKaggle2018\.meta\.zip failed: the server answered HTTP 404"):
        download_fsdkaggle2018(tmp_path / "data", parts=("meta",), mirror=base_url, progress=False)
    assert len(_zip_gets(state, META)) == 1


# --------------------------------------------------------------------------- safety
def test_corrupt_archive_is_rejected_and_nothing_else_touched(http_server, dataset, tmp_path):
    base_url, state = http_server
    source, blobs = dataset
    bad = bytearray(blobs[META])
    bad[len(bad) // 2] ^= 0xFF
    _serve(state, blobs, override={META: bytes(bad)})
    dest = tmp_path / "data"
    dest.mkdir()
    shutil.copytree(source / "FSDKaggle2018.audio_test", dest / "FSDKaggle2018.audio_test")
    before = _tree(dest / "FSDKaggle2018.audio_test")
    (dest / "my_notes.txt").write_text("keep me")
    (dest / (META + ".corrupt")).write_bytes(b"older bad copy")

    with pytest.raises(DownloadError) as err:
        download_fsdkaggle2018(dest, parts=("test", "meta"), mirror=base_url, progress=False)

    msg = str(err.value)
    assert "FSDKaggle2018.meta.zip" in msg and _md5(blobs[META]) in msg and _md5(bytes(bad)) in msg
    assert str(dest / (META + ".corrupt")) in msg
    assert (dest / (META + ".corrupt")).read_bytes() == bytes(bad)
    assert _tree(dest / "FSDKaggle2018.audio_test") == before
    assert (dest / "my_notes.txt").read_text() == "keep me"
    assert not (dest / "FSDKaggle2018.meta").exists()
    assert not (dest / META).exists() and not (dest / (META + ".partial")).exists()
    assert not _zip_gets(state, TEST)


def _evil_zip(path: Path, member: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("FSDKaggle2018.meta/ok.csv", "fname,label\n")
        zf.writestr(member, "pwned")
    return path


@pytest.mark.parametrize("member", ["../evil.txt", "FSDKaggle2018.meta/../../evil.txt", "ABSOLUTE"])
def test_zip_slip_is_refused_before_writing(tmp_path, member):
    dest = tmp_path / "a" / "data"
    dest.mkdir(parents=True)
    if member == "ABSOLUTE":
        member = (tmp_path / "evil.txt").as_posix()
    archive = _evil_zip(tmp_path / "evil.zip", member)

    with pytest.raises(DownloadError, match="member") as err:
        extract_zip(archive, dest)

    assert member in str(err.value)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "a" / "evil.txt").exists()
    assert list(dest.iterdir()) == []


def test_zip_slip_via_download_writes_nothing_outside(http_server, tmp_path):
    base_url, state = http_server
    evil = _evil_zip(tmp_path / "evil.zip", "../evil.txt").read_bytes()
    (state.root / META).write_bytes(evil)
    (state.root / "md5sums.txt").write_text(f"{_md5(evil)}  {META}\n")
    dest = tmp_path / "data"

    with pytest.raises(DownloadError, match=r"'\.\./evil\.txt'"):
        download_fsdkaggle2018(dest, parts=("meta",), mirror=base_url, progress=False)

    assert not (tmp_path / "evil.txt").exists()
    assert not (dest / "FSDKaggle2018.meta").exists()
    assert not any(p.name.startswith(".extracting-") for p in dest.iterdir())


def test_not_enough_disk_space(http_server, dataset, tmp_path, monkeypatch):
    base_url, state = http_server
    _, blobs = dataset
    _serve(state, blobs)
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    dest = tmp_path / "data"

    with pytest.raises(DownloadError, match=r"Not enough free disk space") as err:
        download_fsdkaggle2018(dest, mirror=base_url, progress=False)

    assert "GB" in str(err.value) and str(dest) in str(err.value)
    assert state.requests("GET", ".zip") == []
    assert not dest.exists()


# --------------------------------------------------------------------------- idempotence
def test_second_run_makes_no_request(http_server, dataset, tmp_path, caplog):
    base_url, state = http_server
    _, blobs = dataset
    _serve(state, blobs)
    dest = tmp_path / "data"
    download_fsdkaggle2018(dest, mirror=base_url, progress=False)
    state.clear_log()

    with caplog.at_level(logging.INFO, logger="audiospec_utils.audio.download"):
        download_fsdkaggle2018(dest, mirror=base_url, progress=False)

    assert state.log == []
    for folder in ("FSDKaggle2018.audio_train", "FSDKaggle2018.audio_test", "FSDKaggle2018.meta"):
        assert f"{folder} already present in {dest}: nothing to download" in caplog.text


def test_complete_archive_is_extracted_without_downloading(http_server, dataset, tmp_path):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs)
    dest = tmp_path / "data"
    download_fsdkaggle2018(dest, parts=("meta",), mirror=base_url, keep_archives=True, progress=False)
    assert (dest / META).read_bytes() == blobs[META]
    shutil.rmtree(dest / "FSDKaggle2018.meta")
    state.clear_log()

    download_fsdkaggle2018(dest, parts=("meta",), mirror=base_url, progress=False)

    assert [r.path for r in state.log] == ["/md5sums.txt"]
    _assert_same_tree(source / "FSDKaggle2018.meta", dest / "FSDKaggle2018.meta")
    assert not (dest / META).exists()  # keep_archives=False this time


class _Boom(Exception):
    pass


def test_interrupted_extraction_leaves_only_hidden_folder_then_completes(http_server, dataset, tmp_path, monkeypatch):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs)
    dest = tmp_path / "data"
    real_write = unzip._write_member
    calls = {"n": 0}

    def flaky_write(zf, info, target):
        calls["n"] += 1
        if calls["n"] == 4:
            raise _Boom("power cut")
        real_write(zf, info, target)

    monkeypatch.setattr(unzip, "_write_member", flaky_write)
    with pytest.raises(_Boom):
        download_fsdkaggle2018(dest, parts=("train",), mirror=base_url, progress=False)
    monkeypatch.setattr(unzip, "_write_member", real_write)

    leftover = dest / (".extracting-" + TRAIN)
    assert leftover.is_dir() and any(leftover.rglob("*.wav"))
    assert not (dest / "FSDKaggle2018.audio_train").exists()
    assert (dest / TRAIN).read_bytes() == blobs[TRAIN]  # verified archive kept
    state.clear_log()

    download_fsdkaggle2018(dest, parts=("train",), mirror=base_url, progress=False)

    assert _zip_gets(state, TRAIN) == []  # extracted from the archive already there
    assert not leftover.exists()
    _assert_same_tree(source / "FSDKaggle2018.audio_train", dest / "FSDKaggle2018.audio_train")
    assert sorted(p.name for p in dest.iterdir()) == ["FSDKaggle2018.audio_train"]


def test_leftover_extraction_folder_is_cleaned(http_server, dataset, tmp_path):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs)
    dest = tmp_path / "data"
    half = dest / (".extracting-" + META) / "FSDKaggle2018.meta"
    half.mkdir(parents=True)
    (half / "half_written.csv").write_text("fname,la")
    # A leftover of a part that is complete (its folder exists) goes too.
    shutil.copytree(source / "FSDKaggle2018.audio_test", dest / "FSDKaggle2018.audio_test")
    (dest / (".extracting-" + TEST) / "FSDKaggle2018.audio_test").mkdir(parents=True)

    download_fsdkaggle2018(dest, parts=("test", "meta"), mirror=base_url, progress=False)

    assert not (dest / (".extracting-" + META)).exists()
    assert not (dest / (".extracting-" + TEST)).exists()
    _assert_same_tree(source / "FSDKaggle2018.meta", dest / "FSDKaggle2018.meta")
    assert sorted(p.name for p in dest.iterdir()) == ["FSDKaggle2018.audio_test", "FSDKaggle2018.meta"]


def test_archive_without_expected_folder_is_refused(http_server, tmp_path):
    base_url, state = http_server
    archive = tmp_path / "wrong.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("something_else/a.csv", "x\n")
    data = archive.read_bytes()
    (state.root / META).write_bytes(data)
    (state.root / "md5sums.txt").write_text(f"{_md5(data)}  {META}\n")
    dest = tmp_path / "data"

    with pytest.raises(DownloadError, match=r"does not contain the folder FSDKaggle2018\.meta/"):
        download_fsdkaggle2018(dest, parts=("meta",), mirror=base_url, progress=False)
    assert not (dest / "something_else").exists()


def test_default_source_uses_zenodo_url_form_and_shipped_table(http_server, dataset, tmp_path, table, monkeypatch):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs, md5sums=False)
    monkeypatch.setattr(dl, "ZENODO_BASE_URL", base_url)  # stand-in for zenodo.org
    dest = tmp_path / "data"

    download_fsdkaggle2018(dest, parts=("meta",), progress=False)

    assert archive_url(META) == f"{base_url}{META}?download=1"
    assert state.requests("GET", "md5sums.txt") == []  # only asked of mirrors
    assert len(_zip_gets(state, META)) == 1
    _assert_same_tree(source / "FSDKaggle2018.meta", dest / "FSDKaggle2018.meta")


def test_missing_md5_is_skipped_with_a_warning(http_server, dataset, tmp_path, monkeypatch, caplog):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs, md5sums=False)
    empty = tmp_path / "empty.md5"
    empty.write_text("")
    monkeypatch.setattr(dl, "CHECKSUM_FILE", empty)
    dest = tmp_path / "data"

    with caplog.at_level(logging.WARNING, logger="audiospec_utils.audio.download"):
        download_fsdkaggle2018(dest, parts=("meta",), mirror=base_url, progress=False)

    assert "No MD5 checksum known for FSDKaggle2018.meta.zip" in caplog.text
    _assert_same_tree(source / "FSDKaggle2018.meta", dest / "FSDKaggle2018.meta")


def test_429_is_retried_but_403_is_not(http_server, dataset, tmp_path):
    base_url, state = http_server
    source, blobs = dataset
    _serve(state, blobs)
    state.fail_status, state.fail_requests = 429, 2
    dest = tmp_path / "data"

    download_fsdkaggle2018(dest, parts=("meta",), mirror=base_url, progress=False)

    assert len(_zip_gets(state, META)) == 3
    _assert_same_tree(source / "FSDKaggle2018.meta", dest / "FSDKaggle2018.meta")

    state.fail_status, state.fail_requests, state._fails_done = 403, 100, 0
    with pytest.raises(DownloadError, match=r"HTTP 403"):
        download_fsdkaggle2018(dest, parts=("test",), mirror=base_url, progress=False)
    assert len(_zip_gets(state, TEST)) == 1
