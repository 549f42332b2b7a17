import numpy as np
import pytest

from audiospec_utils.exceptions import ParameterError
from audiospec_utils.features import (SpectrogramParams, default_n_fft, fit_length, logmel, render_clip,
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


# --- kinds, pixels, image size -------------------------------------------------------------------

from audiospec_utils.features import (KINDS, chroma, mfcc, spectrogram, spectrogram_image, stack,  # noqa: E402
                                         stft_db)

SR44 = 44100


def _noisy_tones(seconds=1.3, sr=SR44, seed=0):
    rng = np.random.default_rng(seed)
    y = tone(440, seconds, sr, 0.3) + tone(2500, seconds, sr, 0.1) + 0.01 * rng.standard_normal(int(seconds * sr))
    return y.astype(np.float32)


@pytest.mark.parametrize("kwargs", [{}, {"n_fft": 1024, "hop_length": 300, "n_mels": 64, "fmin": 50.0, "fmax": 8000.0},
                                    {"n_fft": 512, "hop_length": 128, "n_mels": 40, "top_db": 60.0}])
def test_logmel_equals_librosa_melspectrogram_and_power_to_db(kwargs):
    import librosa

    p = SpectrogramParams(**kwargs)
    r = p.resolve(SR44)
    y = _noisy_tones()
    ref = librosa.power_to_db(librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=SR44, n_fft=r["n_fft"], hop_length=r["hop_length"], n_mels=r["n_mels"],
        fmin=r["fmin"], fmax=r["fmax"], center=True, pad_mode="constant"), ref=np.max, top_db=p.top_db)
    ours = logmel(y, SR44, p)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=0.02)


def test_stft_db_is_linear_frequency_and_cut_at_fmax():
    import librosa

    y = _noisy_tones()
    p = SpectrogramParams(n_fft=1024, hop_length=256)
    s = stft_db(y, SR44, p)
    ref = librosa.power_to_db(np.abs(librosa.stft(y.astype(np.float64), n_fft=1024, hop_length=256)) ** 2,
                              ref=np.max, top_db=80)
    assert s.shape == (513, 1 + len(y) // 256) and s.dtype == np.float32
    np.testing.assert_allclose(s, ref, atol=0.02)
    assert int(np.argmax(s.mean(axis=1))) == round(440 * 1024 / SR44)  # bin k is k * sr / n_fft Hz
    cut = stft_db(y, SR44, SpectrogramParams(n_fft=1024, hop_length=256, fmax=5000.0))
    assert cut.shape[0] == int(5000 * 1024 / SR44) + 1
    np.testing.assert_allclose(cut, s[:cut.shape[0]] - s[:cut.shape[0]].max(), atol=1e-4)


def test_mfcc_and_chroma_follow_librosa():
    import librosa

    y = _noisy_tones()
    p = SpectrogramParams(n_mfcc=13, n_fft=2048, hop_length=512)
    m = mfcc(y, SR44, p)
    assert m.shape == (13, 1 + len(y) // 512) and m.dtype == np.float32
    np.testing.assert_allclose(m, librosa.feature.mfcc(S=logmel(y, SR44, p), n_mfcc=13), rtol=1e-4, atol=1e-2)
    c = chroma(y, SR44, p)
    ref = librosa.feature.chroma_stft(S=np.abs(librosa.stft(y, n_fft=2048, hop_length=512)) ** 2, sr=SR44,
                                      n_fft=2048, tuning=0.0)
    assert c.shape == (12, m.shape[1]) and c.max() <= 1.0 + 1e-6
    np.testing.assert_allclose(c, ref, atol=1e-3)
    assert int(np.argmax(c.mean(axis=1))) == 9  # 440 Hz is A: C=0, ..., A=9


def test_every_kind_has_its_documented_height_and_pixels():
    y = _noisy_tones()
    heights = {"stft": 1025, "logmel": 128, "mfcc": 20, "chroma": 12, "stack": 128}
    for kind in KINDS:
        p = SpectrogramParams(kind=kind)
        s = spectrogram(y, SR44, p)
        img = spectrogram_image(s, p)
        assert img.dtype == np.uint8 and img.shape[:2] == (heights[kind], 1 + len(y) // 512), kind
        assert img.ndim == (3 if kind == "stack" else 2)
    # MFCC: per image min..max; chroma: fixed 0..1 -> 0..255
    m = spectrogram_image(mfcc(y, SR44), SpectrogramParams(kind="mfcc"))
    assert m.min() == 0 and m.max() == 255
    fixed = spectrogram_image(np.array([[0.0, 0.5], [1.0, 0.25]], np.float32), SpectrogramParams(kind="chroma"))
    assert fixed.tolist() == [[255, 64], [0, 128]]  # row 0 of the image = the top pitch class


def test_stack_is_logmel_and_its_deltas_as_rgb():
    y = tone(1000, 1.0, SR44)
    p = SpectrogramParams(kind="stack", n_mels=64)
    s = stack(y, SR44, p)
    assert s.shape == (3, 64, 1 + len(y) // 512)
    img = spectrogram_image(s, p)
    grey = spectrogram_to_image(logmel(y, SR44, p), p.top_db)
    assert (img[..., 0] == grey).all()  # red = the log-mel image
    middle = img[:, 20:-20, 1]          # a steady tone: no change over time -> delta mid-grey
    assert np.abs(middle.astype(int) - 128).max() <= 3
    other = SpectrogramParams(kind="stack", n_mels=64, channels=("chroma", "mfcc", "stft"))
    assert spectrogram_image(stack(y, SR44, other), other).shape == (64, s.shape[2], 3)


def test_fixed_width_resizes_only_the_time_axis():
    y = _noisy_tones(2.0)
    native = spectrogram_image(logmel(y, SR44), SpectrogramParams())
    for width in (50, 400):
        p = SpectrogramParams(width=width)
        img = spectrogram_image(logmel(y, SR44, p), p)
        assert img.shape == (128, width)
        # the 440 Hz row stays the brightest row: frequencies are untouched
        assert int(np.argmax(img.mean(axis=1))) == int(np.argmax(native.mean(axis=1)))
    same = SpectrogramParams(width=native.shape[1])
    assert (spectrogram_image(logmel(y, SR44), same) == native).all()


@pytest.mark.parametrize("kwargs, name", [
    ({"kind": "cqt"}, "kind"), ({"kind": "stack", "channels": ("logmel", "delta")}, "channels"),
    ({"kind": "stack", "channels": ("logmel", "delta", "zcr")}, "channels"), ({"width": 0}, "width"),
    ({"kind": "mfcc", "n_mfcc": 0}, "n_mfcc"), ({"kind": "mfcc", "n_mels": 16, "n_mfcc": 20}, "n_mfcc"),
    ({"kind": "stack", "cmap": "magma"}, "cmap"),
])
def test_bad_new_parameters_raise(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        SpectrogramParams(**kwargs)


def test_params_from_before_the_new_keys_mean_the_defaults():
    old = {"sr": None, "n_fft": None, "hop_length": None, "n_mels": 128, "fmin": 20.0, "fmax": None,
           "top_db": 80.0, "clip_policy": "full", "duration": None, "cmap": None}
    p = SpectrogramParams.from_dict(old)
    assert p == SpectrogramParams(sr=None) and p.kind == "logmel" and p.width is None  # sr=None: each file's rate, as then
    q = SpectrogramParams.from_dict(SpectrogramParams(kind="stack", channels=("mfcc", "chroma", "stft")).to_dict())
    assert q.channels == ("mfcc", "chroma", "stft")


def test_render_clip_stack_with_width_writes_rgb_png(tmp_path):
    from PIL import Image

    wav = write_wav(tmp_path / "a.wav", tone(440, 1.0, SR), sr=SR)
    p = SpectrogramParams(kind="stack", n_mels=32, width=40)
    out = render_clip(wav, lambda n: [tmp_path / "s.png"], p)
    img = Image.open(out["images"][0])
    assert img.mode == "RGB" and img.size == (40, 32)


def test_mfcc_image_scales_each_coefficient_so_none_is_flat():
    from audiospec_utils.features import spectrogram, spectrogram_image

    rng = np.random.default_rng(0)
    y = (tone(300, 1.0, SR) * np.linspace(0, 1, SR)).astype(np.float32) + rng.normal(0, 0.01, SR).astype(np.float32)
    p = SpectrogramParams(kind="mfcc", n_mfcc=20)
    img = spectrogram_image(spectrogram(y, SR, p), p)
    assert img.shape[0] == 20
    spans = img.max(axis=1).astype(int) - img.min(axis=1).astype(int)
    assert (spans >= 250).all()  # every coefficient uses the whole grey range


# --- the PNG encoder -------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(128, 570), (1, 1), (3, 1), (1, 7), (64, 33, 3), (1, 1, 3), (5, 2, 3)])
def test_encode_png_round_trips_through_pillow(shape, tmp_path):
    import io

    from PIL import Image

    from audiospec_utils.features import encode_png, write_png

    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    pixels.flat[:2] = [0, 255][:pixels.size]  # extremes: the Sub filter's differences wrap modulo 256
    img = Image.open(io.BytesIO(encode_png(pixels)))
    img.load()  # decodes every row and checks the chunks' CRCs
    assert img.mode == ("L" if len(shape) == 2 else "RGB") and img.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(img), pixels)
    write_png(pixels, tmp_path / "sub" / "x.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "sub" / "x.png")), pixels)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.png"]  # no temporary file left


def test_encode_png_of_a_spectrogram_is_about_as_small_as_pillows():
    import io

    from PIL import Image

    from audiospec_utils.features import encode_png

    rng = np.random.default_rng(0)
    y = (tone(440, 3.0, SR) + rng.normal(0, 0.01, 3 * SR)).astype(np.float32)
    p = SpectrogramParams()
    pixels = spectrogram_image(spectrogram(y, SR, p), p)
    ours = len(encode_png(pixels))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    assert ours < 1.3 * buf.tell() and ours < 0.8 * pixels.size


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 4), np.uint8),
                                 np.zeros((0, 4), np.uint8), np.zeros(4, np.uint8)])
def test_encode_png_refuses_what_is_not_8_bit_grey_or_rgb(bad):
    from audiospec_utils.features import encode_png

    with pytest.raises(ParameterError, match="uint8 of shape"):
        encode_png(bad)
