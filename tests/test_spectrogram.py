import numpy as np
import pytest

from audiospec_utils.exceptions import ParameterError
from audiospec_utils.spectrogram import (SpectrogramParams, default_n_fft, fit_length, logmel, render_clip,
                                         spectrogram_to_image)

from helpers import tone, write_wav

SR = 22050


def test_logmel_shape_range_and_dtype():
    p = SpectrogramParams(n_fft=1024, hop_length=256, n_mels=64, top_db=80)
    y = tone(1000, 1.0, SR)
    s = logmel(y, SR, p)
    assert s.shape == (64, 1 + len(y) // 256) and s.dtype == np.float32
    assert s.max() == pytest.approx(0.0) and s.min() >= -80.0


def test_tone_energy_lands_in_the_right_mel_band():
    import librosa

    p = SpectrogramParams(n_fft=2048, hop_length=512, n_mels=128)
    for freq in (300.0, 3000.0):
        s = logmel(tone(freq, 1.0, SR), SR, p)
        band = int(np.argmax(s.mean(axis=1)))
        centres = librosa.mel_frequencies(n_mels=128 + 2, fmin=20, fmax=SR / 2)[1:-1]
        assert abs(centres[band] - freq) / freq < 0.1


def test_silence_is_all_minus_top_db_and_black():
    p = SpectrogramParams(top_db=60)
    s = logmel(np.zeros(SR, np.float32), SR, p)
    assert np.all(s == -60)
    assert spectrogram_to_image(s, 60).max() == 0


def test_clip_shorter_than_one_window():
    s = logmel(tone(440, 0.005, SR), SR, SpectrogramParams(n_fft=1024, hop_length=256))
    assert s.shape[1] >= 1 and np.isfinite(s).all()


def test_image_mapping_and_orientation():
    s = np.full((4, 3), -80.0, np.float32)
    s[0, :] = 0.0  # lowest mel band loudest
    img = spectrogram_to_image(s, top_db=80)
    assert img.dtype == np.uint8 and img.shape == (4, 3)
    assert (img[-1] == 255).all() and (img[:-1] == 0).all()  # low frequencies at the bottom row
    mid = spectrogram_to_image(np.full((1, 1), -40.0), top_db=80)
    assert int(mid[0, 0]) in (127, 128)


def test_colour_map_gives_rgb():
    img = spectrogram_to_image(np.zeros((5, 7)) - 10, 80, cmap="magma")
    assert img.shape == (5, 7, 3)


@pytest.mark.parametrize("policy, n_in, expect", [
    ("pad", 500, [1000]), ("pad", 2500, [1000]), ("loop", 300, [1000]), ("windows", 2500, [1000, 1000, 1000]),
])
def test_clip_length_policies(policy, n_in, expect):
    p = SpectrogramParams(clip_policy=policy, duration=1000 / SR)
    segs = fit_length(np.arange(1, n_in + 1, dtype=np.float32), SR, p)
    assert [len(s) for s in segs] == expect
    if policy == "loop":
        assert segs[0][300] == 1.0  # repeated from the start
    if policy == "windows":
        assert segs[-1][500:].max() == 0  # last window zero-padded


def test_full_policy_keeps_everything():
    y = np.ones(12345, np.float32)
    assert len(fit_length(y, SR, SpectrogramParams())[0]) == 12345


@pytest.mark.parametrize("kwargs, name", [
    ({"hop_length": 0}, "hop_length"), ({"n_fft": -5}, "n_fft"), ({"n_mels": 0}, "n_mels"),
    ({"fmin": -1.0}, "fmin"), ({"fmin": 500.0, "fmax": 100.0}, "fmax"), ({"top_db": 0}, "top_db"),
    ({"clip_policy": "stretch"}, "clip_policy"), ({"clip_policy": "pad"}, "duration"),
    ({"clip_policy": "pad", "duration": -1.0}, "duration"), ({"cmap": "no_such_map"}, "cmap"),
    ({"sr": 8000, "fmax": 6000.0}, "fmax"), ({"sr": 8000, "n_fft": 64, "n_mels": 128}, "n_mels"),
])
def test_bad_parameters_raise_one_clear_error_before_any_work(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        SpectrogramParams(**kwargs)


def test_resolve_depends_on_sample_rate():
    p = SpectrogramParams()
    assert p.resolve(44100)["n_fft"] == 2048 and p.resolve(44100)["hop_length"] == 512
    assert p.resolve(8000) == {"n_fft": 512, "hop_length": 128, "n_mels": 128, "fmin": 20.0, "fmax": 4000.0}
    with pytest.raises(ParameterError, match="Nyquist"):
        SpectrogramParams(fmax=11025.0).resolve(8000)
    assert default_n_fft(48000) == 2048 and default_n_fft(16000) == 1024


def test_params_round_trip():
    p = SpectrogramParams(n_mels=64, clip_policy="windows", duration=2.0)
    assert SpectrogramParams.from_dict(p.to_dict()) == p
    with pytest.raises(ParameterError, match="unknown"):
        SpectrogramParams.from_dict({"n_melz": 3})


def test_render_clip_writes_png_named_as_asked(tmp_path):
    from PIL import Image

    wav = write_wav(tmp_path / "a.wav", tone(440, 2.0, SR), sr=SR)
    out = render_clip(wav, lambda n: [tmp_path / f"img{i}.png" for i in range(n)], SpectrogramParams(n_mels=64))
    assert out["n_images"] == 1 and out["sr"] == SR and out["duration"] == pytest.approx(2.0)
    img = Image.open(out["images"][0])
    assert img.mode == "L" and img.size == (1 + 2 * SR // 256, 64)
