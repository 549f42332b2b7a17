"""The web app (``audiospec app``) in a real, headless Chromium: upload a clip, read the label, see the pictures.

Serves the session's trained run (exported once, with its window network and card) on 127.0.0.1 with
``audiospec app``; Debian's Chromium driven by Playwright opens the page, uploads a real
FSDKaggle2018 clip from ``../shared/data`` (a clip of the mini dataset when it is absent), waits for
the label the light runtime gives, the spectrogram picture, then its occlusion map and the timeline,
checks the model card, saves a screenshot of the page in the test's temporary folder (its path is
printed), then clicks an example and waits for its label and map.

Skipped only where Chromium or Playwright is not installed (``make browser-deps``).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from app_helpers import Server, exported_app_model
from lab_helpers import CHROMIUM_ARGS, find_chromium

pytest.importorskip("gradio", reason="gradio is not installed (pip install 'audiospec[app]')")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (pip install 'audiospec[deploy]')")

SUBSET = Path(__file__).resolve().parents[3] / "shared" / "data" / "fsdkaggle2018-subset"


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
def app_url(trained_run, mini_root, tmp_path_factory):
    run, _ = trained_run
    work = tmp_path_factory.mktemp("app_browser")
    model = exported_app_model(run, tmp_path_factory)  # shared with tests/test_app.py within a session
    examples = work / "examples"
    examples.mkdir()
    for f in sorted((Path(mini_root) / "FSDKaggle2018.audio_test").glob("*.wav"))[:2]:
        (examples / f.name).write_bytes(f.read_bytes())
    server = Server([sys.executable, "-m", "audiospec_utils", "app", str(model), "--port", "{port}", "--examples",
                     str(examples)], work / "server.log", cwd=work, env={"GRADIO_TEMP_DIR": str(work / "gradio")})
    yield server.url, model, sorted(examples.glob("*.wav"))
    server.stop()


def test_a_clip_uploaded_in_chromium_gets_its_label_spectrogram_map_and_card(browser, app_url, clip, tmp_path):
    from audiospec_utils.infer.onnx_predict import OnnxClassifier

    url, model, examples = app_url
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
        # an example clicked: it is loaded and classified, its map drawn
        page.locator("#examples-list").get_by_text(examples[0].name).first.click()
        page.wait_for_function(
            "name => (document.querySelector('#status')?.innerText || '').includes(name)", arg=examples[0].name,
            timeout=90_000)
        page.wait_for_function("() => (document.querySelector('#status')?.innerText || '').includes('Map of')",
                               timeout=180_000, polling=500)
    finally:
        context.close()
