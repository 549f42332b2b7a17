"""The web app (``audiospec app``) in a real, headless Chromium: upload a clip, read the label, see the pictures.

Serves the session's trained run (exported once, with its window network and card) on 127.0.0.1 with
``audiospec app``; Debian's Chromium driven by Playwright opens the page, uploads a real
FSDKaggle2018 clip from ``../shared/data`` (a clip of the mini dataset when it is absent), waits for
the label the light runtime gives, the spectrogram picture, then its occlusion map, and checks the
model card. The screenshot of the page is saved in the test's temporary folder (its path is printed).

Skipped only where Chromium or Playwright is not installed (``make browser-deps``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from lab_helpers import CHROMIUM_ARGS, find_chromium

pytest.importorskip("gradio", reason="gradio is not installed (pip install 'audiospec[app]')")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (pip install 'audiospec[deploy]')")

SUBSET = Path(__file__).resolve().parents[3] / "shared" / "data" / "fsdkaggle2018-subset"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("Chromium not found (/usr/bin/chromium): install it with `apt-get install -y chromium` "
                    "(make test does so when run as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def clip(mini_root, tmp_path_factory) -> Path:
    """A real clip of a few seconds (several windows) when ../shared is there, else a mini clip."""
    if not SUBSET.is_dir():
        print(f"{SUBSET} is absent: a mini clip is uploaded instead of a real one")
        return sorted((Path(mini_root) / "FSDKaggle2018.audio_test").glob("*.wav"))[0]
    out = tmp_path_factory.mktemp("fsd_browser")
    with zipfile.ZipFile(SUBSET / "FSDKaggle2018.audio_test.zip") as z:
        infos = sorted((i for i in z.infolist() if i.filename.endswith(".wav")), key=lambda i: i.file_size)
        pick = next(i for i in infos if i.file_size > 44100 * 2 * 4)  # the shortest of more than 4 s
        z.extract(pick, out)
    return next(out.rglob("*.wav"))


@pytest.fixture(scope="module")
def app_url(trained_run, tmp_path_factory):
    from audiospec_utils.export_app import export_window_network, model_card
    from audiospec_utils.export_onnx import export_onnx
    from audiospec_utils.fileio import write_json_atomic

    run, _ = trained_run
    work = tmp_path_factory.mktemp("app_browser")
    meta = export_onnx(run, work / "model.onnx")["metadata"]
    card = model_card(run, model_metadata=meta)
    write_json_atomic(work / "model_card.json", card)
    export_window_network(work / "model.onnx", card=card)
    port = _free_port()
    log = open(work / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "audiospec_utils", "app", str(work / "model.onnx"), "--port",
                             str(port)], cwd=work, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False",
                                 "GRADIO_TEMP_DIR": str(work / "gradio")})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    try:
        while True:
            assert proc.poll() is None, (work / "server.log").read_text()[-4000:]
            try:
                urllib.request.urlopen(url + "config", timeout=2)
                break
            except OSError:
                assert time.time() < deadline, (work / "server.log").read_text()[-4000:]
                time.sleep(0.5)
        yield url, work / "model.onnx"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_a_clip_uploaded_in_chromium_gets_its_label_spectrogram_map_and_card(browser, app_url, clip, tmp_path):
    from audiospec_utils.onnx_predict import OnnxClassifier

    url, model = app_url
    entry = OnnxClassifier(model).predict_file(clip)
    expected = entry["top"][0]["label"]
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    page = context.new_page()
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#audio-in input[type=file]", state="attached", timeout=60_000)
        card = page.locator("#model-card")
        assert "95% interval" in card.inner_text(timeout=30_000) and "Trained on" in card.inner_text()
        page.locator("#audio-in input[type=file]").set_input_files(str(clip))
        page.wait_for_function(
            "label => (document.querySelector('#labels')?.innerText || '').includes(label)", arg=expected,
            timeout=90_000)
        print("label panel:", page.locator("#labels").inner_text().replace("\n", " | "))
        page.wait_for_selector("#spectrogram img", timeout=60_000)
        # the occlusion map arrives next, and the status says so
        page.wait_for_function("() => (document.querySelector('#status')?.innerText || '').includes('Map of')",
                               timeout=180_000, polling=500)
        status = page.locator("#status").inner_text()
        assert f"Map of {expected}" in status
        img = page.locator("#spectrogram img")
        assert img.evaluate("e => e.complete && e.naturalWidth > 500")
        if entry["n_windows"] > 1:  # a clip of more than one window has its timeline
            assert page.locator("#timeline img").count() == 1
        shot = tmp_path / "app.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > 50_000
    finally:
        context.close()
