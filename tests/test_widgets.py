import datetime

import numpy as np
import pytest

from audiospec_utils.course.widgets import PredictWidget, bar_chart_png, spectrogram_png, top_losses_widget

from helpers import tone, write_wav

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def widget(trained_run):
    return PredictWidget(trained_run[0])


def test_handler_shows_spectrogram_audio_and_chart(widget, trained_run, tmp_path):
    from PIL import Image
    import io

    data = write_wav(tmp_path / "c.wav", tone(880, 2.0)).read_bytes()
    entry = widget.handle_upload("my clip.wav", data)
    assert [t["label"] for t in entry["top"]] == [t["label"] for t in widget.result["top"]]
    assert {t["label"] for t in entry["top"]} <= set(trained_run[1]["classes"]) and len(entry["top"]) == 3
    assert bytes(widget.spectrogram.value).startswith(PNG) and bytes(widget.chart.value).startswith(PNG)
    assert Image.open(io.BytesIO(bytes(widget.spectrogram.value))).size[1] == 192
    assert bytes(widget.audio.value) == data and widget.audio.format == "wav"
    assert "my clip.wav" in widget.status.value and entry["top"][0]["label"] in widget.status.value


def test_upload_widget_value_triggers_the_handler(widget, tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "c.flac", tone(300, 1.0), 44100, format="FLAC")
    data = (tmp_path / "c.flac").read_bytes()
    widget.result = None
    widget.upload.value = ({"name": "c.flac", "type": "audio/flac", "size": len(data), "content": memoryview(data),
                            "last_modified": datetime.datetime.now(datetime.timezone.utc)},)
    assert widget.result["file"] == "c.flac" and len(widget.result["top"]) == 3
    assert widget.audio.format == "flac"


def test_bad_upload_shows_the_reason_and_clears_outputs(widget, tmp_path):
    widget.handle_upload("good.wav", write_wav(tmp_path / "g.wav", tone(500, 1.0)).read_bytes())
    entry = widget.handle_upload("empty.wav", b"")
    assert entry == {"file": "empty.wav", "error": "empty file (0 bytes)"}
    assert "empty file (0 bytes)" in widget.status.value and bytes(widget.spectrogram.value) == b""
    assert bytes(widget.chart.value) == b"" and bytes(widget.audio.value) == b""


def test_pictures():
    png = spectrogram_png([np.zeros((16, 10), np.uint8), np.full((16, 30), 255, np.uint8)], height=64)
    from PIL import Image
    import io

    im = np.asarray(Image.open(io.BytesIO(png)))
    assert im.shape == (64, 160, 3)  # 40 frames at 4x height scale
    assert im[:, :30].mean() < im[:, -30:].mean()  # black window left, white window right
    assert bar_chart_png([{"label": "a", "probability": 0.7}, {"label": "b", "probability": 0.2}]).startswith(PNG)


def test_top_losses_widget(trained_run):
    import pandas as pd

    from audiospec_utils.explain.interpret import load_run, predict_with_embeddings, top_losses

    learn, valid = load_run(trained_run[0])
    probs, targets, losses, _ = predict_with_embeddings(learn, valid)
    table = top_losses(valid, probs, targets, losses, list(learn.dls.vocab), k=3)
    assert table["loss"].is_monotonic_decreasing and len(table) == 3
    assert table["loss"].iloc[0] == pytest.approx(float(losses.max()))
    box = top_losses_widget(table)
    assert len(box.children) == 3
    pic, right = box.children[0].children
    assert bytes(pic.value).startswith(PNG) and bytes(right.children[1].value)[:4] == b"RIFF"
    assert table["fname"].iloc[0] in right.children[0].value
    assert isinstance(table, pd.DataFrame)
