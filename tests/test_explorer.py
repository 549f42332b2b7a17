import numpy as np
import pandas as pd
import pytest

from audiospec_utils.exceptions import ParameterError
from audiospec_utils.course.explorer import STATIC_NOTE, SpectrogramExplorer, StaticExplorer, explorer
from audiospec_utils.features import SpectrogramParams

from helpers import tone, write_wav

SR = 22050


@pytest.fixture
def table(tmp_path):
    rows = []
    for label, freq in (("high", 4000.0), ("low", 300.0)):
        for i in range(2):
            path = write_wav(tmp_path / label / f"{label}{i}.wav", tone(freq + 50 * i, 0.6, SR), sr=SR)
            rows.append({"clip_id": f"{label}/{label}{i}", "fname": path.name, "path": str(path), "label": label,
                         "split": "train"})
    return pd.DataFrame(rows)


def test_widget_has_the_described_controls_and_a_first_picture(table):
    ex = explorer(table, SpectrogramParams(n_mels=64), static=False)
    assert isinstance(ex, SpectrogramExplorer)
    assert {w.description for w in ex.sliders.values()} == {"n_fft", "hop_length", "n_mels", "fmax (Hz)", "top_db"}
    assert ex.label.value == "high" and ex.sr == SR
    assert ex.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert ex.spectrogram.shape[0] == 64 and ex.params.n_fft == 1024  # resolved for 22.05 kHz
    assert ex.sliders["fmax"].max == SR / 2
    assert len(ex.audio.outputs) == 1 and "audio/wav" in str(ex.audio.outputs[0]["data"]["text/html"])


def test_moving_sliders_changes_the_spectrogram_and_the_picture(table):
    ex = explorer(table, static=False)
    png, draws = ex.image.value, ex.n_draws
    ex.sliders["n_mels"].value = 32
    assert ex.spectrogram.shape[0] == 32 and ex.params.n_mels == 32
    assert ex.n_draws == draws + 1 and ex.image.value != png
    n_frames = ex.spectrogram.shape[1]
    ex.sliders["hop_length"].value = 128
    assert ex.spectrogram.shape[1] > n_frames
    ex.sliders["top_db"].value = 40.0
    assert ex.spectrogram.min() == pytest.approx(-40.0)
    ex.kind.value = "chroma"
    assert ex.spectrogram.shape[0] == 12


def test_choosing_another_label_loads_its_clips(table):
    ex = explorer(table, static=False)
    high = ex.spectrogram
    ex.label.value = "low"
    assert [name for name, _ in ex.clip.options] == ["low0.wav", "low1.wav"]
    assert ex.clip.value.endswith("low0.wav")
    band = int(np.argmax(ex.spectrogram.mean(axis=1)))
    assert band < int(np.argmax(high.mean(axis=1)))  # a 300 Hz tone sits lower than a 4 kHz one


def test_impossible_parameters_are_reported_not_raised(table):
    ex = explorer(table, static=False)
    before = ex.spectrogram
    ex.sliders["n_fft"].value = 256
    ex.sliders["n_mels"].value = 256   # more bands than the 129 bins of a 256-point FFT
    assert "n_mels" in ex.status.value and ex.spectrogram.shape == (ex.params.n_mels, ex.spectrogram.shape[1])
    assert ex.params.n_mels != 256 and before is not None


def test_static_fallback_says_why_and_shows_a_figure(table, monkeypatch):
    st = explorer(table, static=True)
    assert isinstance(st, StaticExplorer)
    bundle = st._repr_mimebundle_()
    assert bundle["image/png"][:4] == b"\x89PNG" and "live Jupyter" in bundle["text/html"]
    monkeypatch.setenv("AUDIOSPEC_STATIC_WIDGETS", "1")
    assert isinstance(explorer(table), StaticExplorer)
    # the live widget also carries the fallback, for frontends without widget support
    live = explorer(table, static=False)
    b = live._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in b and b["text/plain"] == STATIC_NOTE
    assert "data:image/png;base64," in b["text/html"]


def test_bad_table_is_refused(table):
    with pytest.raises(ParameterError, match="label"):
        explorer(table.drop(columns="label"), static=False)
