"""The web app and the Hugging Face Space folder (issue 30), driven by the real client, gradio_client.

One model is shared by the whole module: the session's trained run (tests/conftest.py) exported once
with its window network and card into a temporary folder (the run folder itself is not written to).
``audiospec app`` serves it on 127.0.0.1 in a subprocess; the tests call its ``/predict`` endpoint as
any program would. The Space folder is then written and installed into a fresh virtual environment
from its own ``requirements.txt`` (downloads kept in a wheel cache between runs, so only the first
run needs the package index; skipped, with the reason, when neither the cache nor an index is
there), where ``python app.py`` must answer as ``audiospec predict --onnx`` does, without torch.

Real clips come from ``../shared/data`` (FSDKaggle2018's test archive of the subset); those tests
are skipped with the reason when it is absent. Timing is measured in ``bench/app_speed.py``, not here.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from app_helpers import Server, exported_app_model as exported_app_model_once, free_port
from helpers import tone, write_wav

pytest.importorskip("gradio", reason="gradio is not installed (pip install 'audiospec[app]')")
pytest.importorskip("gradio_client", reason="gradio_client is not installed (pip install 'audiospec[app]')")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (pip install 'audiospec[deploy]')")

SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdkaggle2018-subset"
#: Where the Space's wheels are kept between runs (the first run downloads them from the index).
WHEELS = Path(os.environ.get("AUDIOSPEC_WHEEL_CACHE", Path.home() / ".cache" / "audiospec" / "space-wheels"))


def client(url):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def top_label(c, path) -> str:
    from gradio_client import handle_file

    out = c.predict(handle_file(str(path)), api_name="/predict")
    return out[0]["label"]


@pytest.fixture(scope="module")
def exported_app_model(trained_run, tmp_path_factory):
    """model.onnx of the session's run, with model_windows.onnx and model_card.json beside it."""
    return exported_app_model_once(trained_run[0], tmp_path_factory)


@pytest.fixture(scope="module")
def real_clips(tmp_path_factory):
    """8 real FSDKaggle2018 clips of 1 to 26 s from ../shared; [] when it is absent (see `need_real`)."""
    if not SUBSET.is_dir():
        return []
    out = tmp_path_factory.mktemp("fsd_app")
    with zipfile.ZipFile(SUBSET / "FSDKaggle2018.audio_test.zip") as z:
        names = sorted(n for n in z.namelist() if n.endswith(".wav"))[::8]
        z.extractall(out, names)
    return sorted(out.rglob("*.wav"))


def need_real(real_clips):
    if not real_clips:
        pytest.skip(f"{SUBSET} is absent: the real FSDKaggle2018 clips come from ../shared/data")


@pytest.fixture(scope="module")
def mini_clips(mini_root):
    return sorted(Path(mini_root).rglob("*.wav"))[::7][:6]


@pytest.fixture(scope="module")
def long_recording(mini_root, tmp_path_factory):
    """Eight mini clips end to end (about 10 s at 22,050 Hz, stereo): several windows, another rate."""
    from audiospec_utils.audio.decode import load_audio

    parts = [load_audio(f)[0] for f in sorted((Path(mini_root) / "FSDKaggle2018.audio_train").glob("*.wav"))[:8]]
    y = np.concatenate(parts)[::2]
    return write_wav(tmp_path_factory.mktemp("long") / "long recording.wav", np.stack([y, 0.5 * y], axis=1),
                     sr=22050)


@pytest.fixture(scope="module")
def app_server(exported_app_model, mini_root, tmp_path_factory):
    """`audiospec app model.onnx` on 127.0.0.1, with the mini test clips as examples."""
    work = tmp_path_factory.mktemp("app_server")
    examples = Path(mini_root) / "FSDKaggle2018.audio_test"
    server = Server([sys.executable, "-m", "audiospec_utils", "app", str(exported_app_model), "--port", "{port}",
                     "--examples", str(examples)], work / "server.log", cwd=work,
                    env={"GRADIO_TEMP_DIR": str(work / "gradio")})
    yield server
    server.stop()


# ----------------------------------------------------------------------------------------------
# Pieces


def test_the_window_network_gives_the_models_window_probabilities(exported_app_model, mini_clips, long_recording,
                                                                    real_clips):
    """The network cut out of model.onnx, fed the windows app_explain cuts, answers as the model did."""
    from audiospec_utils.share.app import AppModel
    from audiospec_utils.share.app_explain import clip_windows, window_tensor
    from audiospec_utils.audio.decode import load_audio

    model = AppModel(exported_app_model)
    assert model.can_explain
    meta = model.metadata
    for f in mini_clips[:3] + [long_recording] + real_clips[:2]:
        a = model.clf.analyse(*load_audio(f))
        win = clip_windows(a, meta)
        x = np.stack([window_tensor(a["images"][s], t, meta["crop_frames"], meta["mean"], meta["std"])
                      for s, t in zip(win["segment"], win["start"])])
        np.testing.assert_allclose(model.predict_windows(x), a["window_probs"], atol=1e-5)


def test_occlusion_finds_the_region_the_network_reads():
    """A network that answers by one region of the image: the map is highest there, 0 far from it."""
    from audiospec_utils.share.app_explain import occlusion_map

    rng = np.random.default_rng(0)
    window = rng.normal(size=(3, 48, 96)).astype(np.float32)
    window[:, 10:16, 40:52] += 4.0  # the "sound"

    def predict(x):
        z = x[:, 0, 10:16, 40:52].mean(axis=(1, 2))
        p = 1 / (1 + np.exp(-(z - 2)))
        return np.stack([p, 1 - p], axis=1)

    m, base, passes = occlusion_map(predict, window, 0)
    assert passes > 100 and base > 1
    r, c = np.unravel_index(np.argmax(m), m.shape)
    assert 8 <= r <= 18 and 36 <= c <= 56
    assert m[30:, :].max() == 0 and m[:, :25].max() == 0


def test_window_maps_blend_without_seams_and_by_evidence():
    """Overlapping windows whose maps disagree at their edges blend smoothly; a window without
    evidence paints nothing."""
    from audiospec_utils.share.app_explain import blend_window_maps, window_weights

    length, hop, n = 40, 20, 200
    starts = list(range(0, n - length + 1, hop))
    cols = [s + np.arange(length) for s in starts]
    rng = np.random.default_rng(1)
    maps = [np.full((4, length), rng.uniform(0.2, 1.0)) for _ in starts]   # a different level per window
    out = blend_window_maps(maps, cols, np.ones(len(starts)), n)[0]
    jumps = np.abs(np.diff(out))
    edges = sorted({s for s in starts[1:]} | {s + length for s in starts[:-1]})
    at_edges = max(jumps[e - 1] for e in edges)
    # a hard cut at each window edge would jump by the difference of the levels (up to 0.8)
    levels = [m[0, 0] for m in maps]
    assert at_edges < 0.25 * max(abs(a - b) for a, b in zip(levels, levels[1:]))
    # evidence: window 0 holds the label, the others are at chance: they paint next to nothing
    wp = np.array([[0.99, 0.005, 0.005]] + [[1 / 3, 1 / 3, 1 / 3]] * (len(starts) - 1))
    w = window_weights(wp, 0)
    assert w[0] == 1 and np.all(w[1:] < 0.01)
    ones = [np.ones((4, length)) for _ in starts]
    painted = blend_window_maps(ones, cols, w, n)[0]
    assert painted[5] > 0.99 and painted[-5] < 0.01 and painted[length + 5] < 0.01
    assert np.allclose(window_weights(np.full((5, 3), 0.6), 0), 1)  # a stationary sound: equal weights


def test_model_card_says_what_the_model_was_trained_on_and_how_it_scores(trained_run, tmp_path):
    import shutil

    from audiospec_utils.share.app import card_markdown
    from audiospec_utils.share.export_app import model_card

    run, metrics = trained_run
    card = model_card(run)
    assert card["labels"] == metrics["classes"] and card["sample_rate"] == 44100
    assert card["window_seconds"] == pytest.approx(2.0, abs=0.05)
    valid = card["scores"][-1]
    assert valid["name"] == "validation accuracy" and valid["accuracy"] == metrics["accuracy"]
    assert valid["interval"] == metrics["valid_interval"]["accuracy"] and "95% interval" in valid["interval_text"]
    assert "split by group" in card["split"] and f"{metrics['n_train']} training clips" in card["trained_on"]
    text = card_markdown(card)
    assert "95% interval" in text and "split by group" in text and "44100 Hz" in text
    # a held-out score, once `audiospec evaluate` has written test_metrics.json, comes first
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("metrics.json", "params.json"):
        shutil.copy(Path(run) / name, copy / name)
    (copy / "test_metrics.json").write_text(json.dumps(
        {"accuracy": 0.75, "map_at_3": 0.8, "n_scored": 12, "selected": "fold 3",
         "interval": {"accuracy": [0.5, 0.9], "n_groups": 12}}))
    card = model_card(copy)
    assert card["scores"][0]["name"].startswith("held-out test accuracy (fold 3)")
    assert card["scores"][0]["interval_text"] == "95% interval 0.50-0.90 over 12 groups"


# ----------------------------------------------------------------------------------------------
# The app, through gradio_client


def test_the_app_answers_as_the_light_runtime_does(app_server, exported_app_model, mini_clips, long_recording):
    from gradio_client import handle_file

    from audiospec_utils.infer.onnx_predict import OnnxClassifier

    clf = OnnxClassifier(exported_app_model)
    c = client(app_server.url)
    assert "/predict" in c.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for f in mini_clips + [long_recording]:
        assert top_label(c, f) == clf.predict_file(f)["top"][0]["label"], f
    # the outputs: the label first, then the spectrogram picture, the timeline (a long clip), a status line
    label, picture, timeline, status = c.predict(handle_file(str(long_recording)), api_name="/predict")
    assert label["label"] == clf.predict_file(long_recording)["top"][0]["label"]
    assert str(picture.get("path") if isinstance(picture, dict) else picture).endswith(".png")
    assert timeline and "22050 Hz" in status and long_recording.name in status
    _, _, timeline, _ = c.predict(handle_file(str(mini_clips[0])), api_name="/predict")
    assert not (timeline or {}).get("value")  # one window: no timeline


def test_real_clips_get_the_labels_of_the_light_runtime(app_server, exported_app_model, real_clips):
    from audiospec_utils.infer.onnx_predict import OnnxClassifier

    need_real(real_clips)
    clf = OnnxClassifier(exported_app_model)
    c = client(app_server.url)
    for f in real_clips:
        assert top_label(c, f) == clf.predict_file(f)["top"][0]["label"], f


def test_bad_inputs_get_a_message_and_the_server_goes_on(app_server, mini_clips, tmp_path):
    from gradio_client.exceptions import AppError

    not_audio = tmp_path / "letter.wav"
    not_audio.write_text("Dear model, this is not a sound.\n" * 20)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    silent = write_wav(tmp_path / "silence.wav", np.zeros(44100 * 2, np.float32))
    too_long = write_wav(tmp_path / "long.wav", 0.1 * tone(300, seconds=70, sr=8000), sr=8000)
    c = client(app_server.url)
    expected = {not_audio: "not a readable audio file", empty: "empty file", silent: "silent",
                too_long: "too long: 70.0 s"}
    for path, reason in expected.items():
        with pytest.raises(AppError) as err:
            top_label(c, path)
        assert reason in str(err.value) and path.name in str(err.value), str(err.value)
        assert "Traceback" not in str(err.value)
        assert top_label(c, mini_clips[0])  # the next request is answered
    assert app_server.alive()
    assert "Traceback" not in app_server.log()


def test_twenty_requests_at_once_are_all_answered(app_server, mini_clips, exported_app_model):
    from gradio_client import handle_file

    from audiospec_utils.infer.onnx_predict import OnnxClassifier

    clips = [mini_clips[i % len(mini_clips)] for i in range(20)]
    clf = OnnxClassifier(exported_app_model)
    expected = {f: clf.predict_file(f)["top"][0]["label"] for f in set(clips)}
    c = client(app_server.url)
    jobs = [c.submit(handle_file(str(f)), api_name="/predict") for f in clips]  # all sent before any answer
    answers = [job.result(timeout=300)[0]["label"] for job in jobs]
    assert answers == [expected[f] for f in clips]
    assert app_server.alive()


def test_the_app_explains_the_top_label_with_onnxruntime_alone(exported_app_model, long_recording):
    """The map the page draws: on the clip's frame grid, 0..1, from the windows of most evidence."""
    from audiospec_utils.share.app import AppModel, spectrogram_figure

    model = AppModel(exported_app_model, threads=2)
    res = model.classify(long_recording)
    a = res["analysis"]
    assert a["n_windows"] > 2
    e = model.explain(a, max_windows=2)
    hop = model.metadata["hop_length"] / model.metadata["sample_rate"]
    assert e["map"].shape == (model.metadata["height"], e["image"].shape[-1])
    assert e["image"].shape[-1] == pytest.approx(a["duration"] / hop, abs=2)
    assert 0 <= e["map"].min() and e["map"].max() == pytest.approx(1.0)
    assert e["explained"].sum() == 2 and e["window_agreement"] < 1e-4
    picture = spectrogram_figure(e["image"], hop, model.rows_hz, cam=e["map"])
    assert picture.dtype == np.uint8 and picture.shape[2] == 3


# ----------------------------------------------------------------------------------------------
# The Space folder


def _front_matter(readme: str) -> dict:
    assert readme.startswith("---\n")
    head = readme.split("---\n")[1]
    return {k.strip(): v.strip().strip('"') for k, v in (line.split(":", 1) for line in head.strip().splitlines())}


@pytest.fixture(scope="module")
def space(exported_app_model, mini_root, tmp_path_factory):
    """`audiospec space model.onnx --out DIR` with three mini test clips as examples."""
    from audiospec_utils.cli import main

    out = tmp_path_factory.mktemp("space") / "my_space"
    examples = tmp_path_factory.mktemp("space_examples")
    for f in sorted((Path(mini_root) / "FSDKaggle2018.audio_test").glob("*.wav"))[:3]:
        (examples / f.name).write_bytes(f.read_bytes())
    assert main(["-q", "space", str(exported_app_model), "--out", str(out), "--examples", str(examples),
                 "--title", "Mini sounds"]) == 0
    return out


def test_the_space_folder_has_what_a_space_needs(space):
    import gradio

    names = {str(p.relative_to(space)) for p in space.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    for name in ("app.py", "requirements.txt", "README.md", "model.onnx", "model_windows.onnx", "model_card.json",
                 ".gitattributes", "audiospec_app/__init__.py", "audiospec_app/share/app.py",
                 "audiospec_app/share/app_explain.py", "audiospec_app/infer/onnx_predict.py"):
        assert name in names, name
    assert len([n for n in names if n.startswith("examples/")]) == 3
    fm = _front_matter((space / "README.md").read_text())
    assert fm["sdk"] == "gradio" and fm["sdk_version"] == gradio.__version__ and fm["app_file"] == "app.py"
    assert fm["title"] == "Mini sounds" and fm["license"] == "apache-2.0"
    reqs = {line.split("==")[0] for line in (space / "requirements.txt").read_text().splitlines()
            if line and not line.startswith("#")}
    assert reqs == {"numpy", "soundfile", "soxr", "onnxruntime", "gradio", "matplotlib"}
    assert f"gradio=={gradio.__version__}" in (space / "requirements.txt").read_text()
    imported = set()  # every import of the copied code, also those inside functions
    for p in [space / "app.py", *(space / "audiospec_app").rglob("*.py")]:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert not imported & {"audiospec_utils", "torch", "fastai", "pandas"}, imported
    card = json.loads((space / "model_card.json").read_text())
    assert card["scores"] and "95% interval" in (space / "README.md").read_text()


def test_a_run_folder_becomes_a_space_with_its_validation_clips_as_examples(trained_run, tmp_path):
    from audiospec_utils.share.space import write_space

    run, metrics = trained_run
    res = write_space(run, tmp_path / "space", cache=tmp_path / "cache", n_examples=3)
    assert len(res["examples"]) == 3 and all(n.rsplit("_", 1)[0] in metrics["classes"] for n in res["examples"])
    assert res["card"]["title"] == Path(run).name and not (Path(run) / "app").exists()
    # written again into the same folder (it is ours); refused in a stranger's non-empty folder
    write_space(tmp_path / "cache" / "model.onnx", tmp_path / "space", n_examples=0)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.tex").write_text("x")
    from audiospec_utils.exceptions import ParameterError

    with pytest.raises(ParameterError, match="not empty"):
        write_space(tmp_path / "cache" / "model.onnx", tmp_path / "other")


def _space_venv(space: Path, root: Path) -> Path:
    """A fresh virtual environment holding the Space's requirements.txt and nothing else."""
    reqs = space / "requirements.txt"
    key = hashlib.sha1(reqs.read_bytes() + sys.version.encode()).hexdigest()[:12]
    wheels = WHEELS / key
    if not (wheels / ".complete").is_file():
        wheels.mkdir(parents=True, exist_ok=True)
        got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--retries", "1", "--timeout", "30",
                              "-r", str(reqs), "-d", str(wheels)], capture_output=True, text=True, timeout=900)
        if got.returncode != 0:
            pytest.skip(f"no package index reachable to download the Space's requirements "
                        f"({got.stderr.strip().splitlines()[-1] if got.stderr.strip() else got.returncode})")
        (wheels / ".complete").write_text("")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    py = venv / "bin" / "python"
    inst = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels),
                           "--no-compile", "-r", str(reqs)], capture_output=True, text=True, timeout=900)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return py


def test_the_space_runs_in_a_fresh_venv_without_torch(space, mini_clips, long_recording, real_clips, tmp_path):
    py = _space_venv(space, tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for banned in ("torch", "fastai", "librosa", "audiospec_utils"):
        probe = subprocess.run([str(py), "-c", f"import {banned}"], capture_output=True, text=True, env=env,
                               cwd=tmp_path)
        assert probe.returncode != 0 and "No module named" in probe.stderr, banned
    port = free_port()
    log = tmp_path / "space.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(py), "app.py"], cwd=space, stdout=fh, stderr=subprocess.STDOUT,
                                env={**env, "PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
                                     "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(tmp_path / "g")})
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 180
        while time.time() < deadline:
            assert proc.poll() is None, log.read_text()[-4000:]
            try:
                urllib.request.urlopen(url + "config", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError(f"the Space did not answer:\n{log.read_text()[-4000:]}")
        files = mini_clips + [long_recording] + real_clips  # real clips when ../shared is there
        cli = subprocess.run([sys.executable, "-m", "audiospec_utils", "-q", "predict", "--onnx",
                              str(space / "model.onnx"), *map(str, files), "--json"],
                             capture_output=True, text=True, timeout=300)
        assert cli.returncode == 0, cli.stderr[-3000:]
        expected = {Path(r["file"]).name: r["top"][0]["label"] for r in json.loads(cli.stdout)}
        c = client(url)
        got = {f.name: top_label(c, f) for f in files}
        assert got == expected
        # a file that is not audio gets a message, and the next request is answered
        from gradio_client.exceptions import AppError

        bad = tmp_path / "notes.wav"
        bad.write_text("not a sound")
        with pytest.raises(AppError, match="not a readable audio file"):
            top_label(c, bad)
        assert top_label(c, files[0]) == expected[files[0].name]
        # the examples of the folder are on the page
        config = json.loads(urllib.request.urlopen(url + "config", timeout=10).read())
        assert any(c.get("props", {}).get("label") == "Examples" for c in config["components"])
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in log.read_text()
