"""The course's widgets, in JupyterLab, in a real (headless) Chromium.

Starts JupyterLab on 127.0.0.1 (free port, token) over a temporary folder holding copies of
notebooks 02 and 04, with ``AUDIOSPEC_DATASET=mini`` and the data and runs folders in the same
temporary place; opens it in Debian's Chromium driven by Playwright; runs both notebooks (Run >
Run All Cells); moves a slider of notebook 02's spectrogram explorer and checks that the picture
changed; uploads a clip to notebook 04's prediction widget and checks the spectrogram and the
chart it draws. Screenshots go to ``runs/browser_screenshots/`` (printed).

Skipped only where Chromium or Playwright is not installed (``apt-get install chromium``,
``pip install playwright``; no Playwright browser download is needed).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from lab_helpers import (CHROMIUM_ARGS, PANEL, LabServer, find_chromium, image_digest, notebook_errors, open_notebook,
                         run_all_and_wait, save_and_read)

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "runs" / "browser_screenshots"
NB02, NB04 = "02_render_spectrograms.ipynb", "04_interpret.ipynb"
EXPLORER_SLIDERS = ("n_mels", "n_fft", "hop_length", "fmax (Hz)", "top_db")


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
def lab(browser, tmp_path_factory):
    """A lab folder with the two notebooks, a mini dataset, its spectrograms and a small trained run."""
    from audiospec_utils.course.config import course_config, get_dataset, render_course_spectrograms
    from audiospec_utils.learn.train import train_classifier

    root = tmp_path_factory.mktemp("lab")
    work = tmp_path_factory.mktemp("lab_state")
    for name in (NB02, NB04):
        shutil.copy(REPO / "notebooks" / name, root / name)
    env = {**os.environ, "AUDIOSPEC_DATASET": "mini", "AUDIOSPEC_DATA": str(root / "data"),
           "AUDIOSPEC_RUNS": str(root / "runs"), "PYTHONPATH": str(REPO)}
    saved = {k: os.environ.get(k) for k in ("AUDIOSPEC_DATA", "AUDIOSPEC_RUNS")}
    os.environ.update(AUDIOSPEC_DATA=env["AUDIOSPEC_DATA"], AUDIOSPEC_RUNS=env["AUDIOSPEC_RUNS"])
    try:
        cfg = course_config("mini")
        get_dataset(cfg)  # the notebooks find it complete and do not redo it
        render_course_spectrograms(cfg, progress=False)
        # a small, quick model in the course's run folder: notebook 4 uses it instead of training
        train_classifier(cfg.spec_dir, cfg.run_dir, epochs=1, img_size=32, bs=32, pretrained=False, progress=False)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    server = LabServer(root, env, work)
    yield server
    server.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    yield p
    context.close()


def _shot(locator, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def _wait_new_image(img, old: str, timeout_s: float = 60) -> str:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            now = image_digest(img)
        except Exception:  # the <img> is being replaced
            now = old
        if now != old:
            return now
        time.sleep(0.5)
    raise AssertionError("the spectrogram image did not change")


def run_notebook_in_lab(page, lab, name, label):
    """Open a notebook, Run All, and check every cell ran without error; return the saved notebook."""
    start = time.time()
    open_notebook(page, lab, name)
    run_all_and_wait(page, debug_png=SCREENSHOTS / f"failure_{label}.png")
    prompts = page.locator(f"{PANEL} .jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
    assert prompts and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts), " ".join(prompts)  # every cell ran
    nb = save_and_read(page, lab.root / name)
    assert not notebook_errors(nb), notebook_errors(nb)
    print(f"{label.replace('_', ' ')} in the browser: {time.time() - start:.0f} s")
    return nb


def test_notebook_02_runs_and_its_explorer_reacts_to_a_slider(lab, page):
    nb = run_notebook_in_lab(page, lab, NB02, "notebook_02")
    assert page.locator(".jp-OutputArea-output img").count() > 0  # the figures rendered as images
    assert "explorer" in "\n".join(c.source for c in nb.cells), "notebook 02 lost its spectrogram explorer"
    slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=re.compile(
        "^(" + "|".join(re.escape(s) for s in EXPLORER_SLIDERS) + ")$"))).first
    slider.wait_for(timeout=30_000)
    explorer = slider.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea-output')][1]")
    img = explorer.locator("img").first
    img.wait_for(timeout=60_000)
    before = image_digest(img)
    _shot(explorer, "explorer_before.png")
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(3):
        handle.press("ArrowRight")
    page.keyboard.press("Tab")  # sliders with continuous_update=False send on release
    img = explorer.locator("img").first
    after = _wait_new_image(img, before)
    assert after != before
    shot = _shot(explorer, "explorer_after_slider.png")
    assert shot.stat().st_size > 5000


def test_notebook_04_runs_and_the_upload_widget_predicts(lab, page, tmp_path):
    from helpers import tone, write_wav

    run_notebook_in_lab(page, lab, NB04, "notebook_04")
    widget = page.locator(".audiospec-predict").first
    widget.wait_for(timeout=30_000)  # the widget view rendered, not its text fallback
    assert "Best guess" in widget.inner_text()  # the notebook fed it a test clip
    spec = widget.locator("img").first
    before = image_digest(spec)
    clip = write_wav(tmp_path / "browser_upload.wav", tone(1500, 1.5))
    with page.expect_file_chooser() as chooser:  # the FileUpload button opens the browser's file dialog
        widget.locator(".widget-upload").first.click()
    chooser.value.set_files(str(clip))
    page.wait_for_function("() => document.querySelector('.audiospec-predict').innerText.includes('browser_upload.wav')",
                           timeout=60_000)
    after = _wait_new_image(widget.locator("img").first, before)
    assert after != before
    sizes = widget.locator("img").evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
    assert len(sizes) == 2 and all(w > 100 and h > 100 for w, h in sizes), sizes  # spectrogram and chart
    assert widget.locator("audio").count() == 1
    shot = _shot(widget, "predict_widget.png")
    assert shot.stat().st_size > 10000
    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "notebook_04.png"))
    print(f"screenshot: {SCREENSHOTS / 'notebook_04.png'}")
