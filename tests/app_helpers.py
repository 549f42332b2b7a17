"""Helpers of the web app's tests (tests/test_app.py, tests/browser/test_app_browser.py).

:func:`exported_app_model` exports the session's trained run once per test session (model.onnx with
its window network and card beside it), wherever it is asked for first; :class:`Server` runs a
command that serves a page on 127.0.0.1 and waits until the page answers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exported_app_model(run, tmp_path_factory) -> Path:
    """``model.onnx`` of `run` with ``model_windows.onnx`` and ``model_card.json`` beside it, made once a session."""
    from audiospec_utils.share.export_app import export_window_network, model_card
    from audiospec_utils.infer.export_onnx import export_onnx
    from audiospec_utils.fileio import write_json_atomic

    out = tmp_path_factory.getbasetemp() / "app_model"
    model = out / "model.onnx"
    done = out / ".done"
    if not done.is_file():
        out.mkdir(parents=True, exist_ok=True)
        meta = export_onnx(run, model)["metadata"]
        card = model_card(run, model_metadata=meta)
        write_json_atomic(out / "model_card.json", card)
        export_window_network(model, card=card)
        done.write_text("")
    return model


class Server:
    """A command serving a page on 127.0.0.1 in a subprocess (``{port}`` in its arguments: a free port).

    Waits until ``/config`` answers (at most `timeout` s); the output goes to the file `log`.
    """

    def __init__(self, argv, log: Path, *, cwd=None, env=None, timeout: float = 180):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = Path(log)
        self._log = open(self.log_path, "w")
        env = {**os.environ, **(env or {}), "GRADIO_ANALYTICS_ENABLED": "False"}
        self.proc = subprocess.Popen([str(a).replace("{port}", str(self.port)) for a in argv], cwd=cwd, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.started = time.time()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise AssertionError(f"the server stopped (status {self.proc.returncode}):\n{self.log()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "config", timeout=2) as r:
                    if r.status == 200:
                        self.seconds = time.time() - self.started
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise AssertionError(f"the server did not answer within {timeout:.0f} s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
