"""Helpers of the browser test: a throw-away JupyterLab server and Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def find_chromium() -> str | None:
    """Debian's Chromium (``apt-get install chromium``), or $AUDIOSPEC_CHROMIUM, or None."""
    for candidate in (os.environ.get("AUDIOSPEC_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``jupyter lab`` on 127.0.0.1 with a token, its own root, settings and runtime folders."""

    def __init__(self, root: Path, env: dict, workdir: Path):
        self.root, self.port, self.token = root, free_port(), os.urandom(12).hex()
        settings = workdir / "lab_user_settings"
        tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
        tracker.parent.mkdir(parents=True, exist_ok=True)
        tracker.write_text(json.dumps({"windowingMode": "none"}))  # every cell in the DOM
        docmanager = settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
        docmanager.parent.mkdir(parents=True, exist_ok=True)
        docmanager.write_text(json.dumps({"autoStartDefaultKernel": True}))  # no "Select Kernel" dialog
        news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True, exist_ok=True)
        news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        self.log = open(workdir / "jupyterlab.log", "w")
        env = {**env, "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(settings),
               "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "workspaces")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             "--ServerApp.port_retries=0", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
             *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}; see {workdir / 'jupyterlab.log'}")
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2).read()
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer within 90 s; see {workdir / 'jupyterlab.log'}")

    def notebook_url(self, name: str) -> str:
        """The notebook in a workspace of its own, so that no notebook opened earlier is restored beside it."""
        return f"{self.url}/lab/workspaces/{Path(name).stem}/tree/{name}?token={self.token}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# the notebook on screen: panels of other notebooks a workspace restored stay in the DOM, hidden
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def open_notebook(page, lab: LabServer, name: str, timeout_s: float = 90):
    """Open a notebook and wait until its kernel is idle (accepting a "Select Kernel" dialog)."""
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(f"{PANEL} .jp-Notebook .jp-Cell", timeout=60_000)
    idle = (f"() => [...document.querySelectorAll('{PANEL} .jp-Notebook-ExecutionIndicator')]"
            ".some(e => e.getAttribute('data-status') === 'idle')")
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.count():
            dialog.first.click()
        if page.evaluate(idle) and not page.locator(".jp-Dialog").count():
            time.sleep(1.0)  # let the kernel's widget manager connect
            if page.evaluate(idle) and not page.locator(".jp-Dialog").count():
                return
        time.sleep(0.5)
    raise AssertionError(f"{name}: the kernel did not become idle within {timeout_s} s")


def click_menu(page, menu: str, item: str):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).first.click()


def run_all_and_wait(page, timeout_s: float = 150, debug_png=None) -> None:
    """Run > Run All Cells, then wait until no cell is queued or running.

    On a timeout a screenshot of the page is saved to `debug_png` (when given) before raising.
    """
    started = (f"() => [...document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputArea-prompt')]"
               ".some(p => /\\[[*0-9]+\\]/.test(p.textContent))")
    try:
        click_menu(page, "Run", "Run All Cells")
        clicked = time.time()
        deadline = clicked + 60
        while not page.evaluate(started):
            dialog = page.locator(".jp-Dialog .jp-mod-accept")
            if dialog.count():  # a late "Select Kernel" dialog (a busy machine): take the kernel, run again if need be
                dialog.first.click()
                time.sleep(2.0)
                if not page.evaluate(started):
                    click_menu(page, "Run", "Run All Cells")
                    clicked = time.time()
            elif time.time() - clicked > 15:
                # on a busy machine Run All Cells has moved the selection to the last cell and queued nothing (every
                # prompt still "[ ]", the kernel idle: seen once in make test); nothing runs twice by asking again
                click_menu(page, "Run", "Run All Cells")
                clicked = time.time()
            if time.time() > deadline:
                raise AssertionError("Run All Cells started no cell within 60 s")
            time.sleep(0.5)
        page.wait_for_function(
            f"() => {{ const ps = [...document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputArea-prompt')];"
            " return ps.length > 0 && !ps.some(p => p.textContent.includes('*')); }",
            timeout=timeout_s * 1000, polling=500)
    except Exception:
        if debug_png is not None:
            Path(debug_png).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(debug_png), full_page=True)
            print(f"screenshot of the failure: {debug_png}")
        raise


def save_and_read(page, path: Path, timeout_s: float = 30):
    """Save the notebook from the browser (File > Save Notebook) and read it back with nbformat.

    Raises
    ------
    AssertionError
        The file on disk did not change within `timeout_s`.
    """
    import nbformat

    before = path.stat().st_mtime_ns
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^File$")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Save( Notebook)?$")).first.click()
    deadline = time.time() + timeout_s
    while time.time() < deadline and path.stat().st_mtime_ns == before:
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.count():  # "File changed on disk: overwrite?"
            dialog.first.click()
        time.sleep(0.3)
    assert path.stat().st_mtime_ns != before, f"{path} was not saved from the browser within {timeout_s} s"
    time.sleep(0.5)
    return nbformat.read(path, as_version=4)


def notebook_errors(nb) -> list[str]:
    """Error outputs and never-executed code cells of a saved notebook."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("execution_count") is None:
            problems.append(f"cell {i} was not executed: {cell.source[:60]!r}")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return problems


IMAGE_DIGEST_JS = """async (img) => {
    const r = await fetch(img.src);
    const buf = await r.arrayBuffer();
    const d = await crypto.subtle.digest('SHA-256', buf);
    return [...new Uint8Array(d)].map(b => b.toString(16).padStart(2, '0')).join('');
}"""


def image_digest(locator) -> str:
    """SHA-256 of the bytes an <img> shows (data:, blob: or http URL)."""
    return locator.evaluate(IMAGE_DIGEST_JS)
