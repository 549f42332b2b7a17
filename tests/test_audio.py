import numpy as np
import pytest
import soundfile as sf

from audiospec_utils.audio.decode import audio_info, is_audio_file, load_audio
from audiospec_utils.exceptions import AudioLoadError, ParameterError

from helpers import tone, write_wav


def test_loads_mono_float32_at_native_rate(tmp_path):
    p = write_wav(tmp_path / "a.wav", tone(440, 0.5, 22050), sr=22050)
    y, sr = load_audio(p)
    assert sr == 22050 and y.dtype == np.float32 and y.shape == (11025,)
    assert np.abs(y).max() == pytest.approx(0.5, abs=1e-3)


def test_stereo_is_averaged_to_mono(tmp_path):
    left, right = tone(440, 0.2), np.zeros(8820, np.float32)
    p = tmp_path / "st.wav"
    sf.write(p, np.stack([left, right], axis=1), 44100, subtype="PCM_16")
    y, _ = load_audio(p)
    assert y.shape == (8820,)
    np.testing.assert_allclose(y, left / 2, atol=1e-4)
    y2, _ = load_audio(p, mono=False)
    assert y2.shape == (2, 8820)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_samples_equal_libsndfile_float_conversion(tmp_path, subtype, channels):
    # 16-bit files take a faster path (integers scaled by NumPy): the samples must be exactly
    # what libsndfile's own float conversion gives, extremes included, for every subtype
    rng = np.random.default_rng(0)
    ints = rng.integers(-32768, 32768, size=(5000, channels)).astype(np.int16)
    ints[:2] = [[-32768] * channels, [32767] * channels]
    p = tmp_path / f"{subtype}.wav"
    sf.write(p, ints if subtype == "PCM_16" else ints / 32768.0, 44100, subtype=subtype)
    ref = sf.read(p, dtype="float32", always_2d=True)[0]
    y, sr = load_audio(p, mono=False)
    assert sr == 44100 and y.dtype == np.float32
    np.testing.assert_array_equal(y, ref.T)
    mono, _ = load_audio(p)
    np.testing.assert_array_equal(mono, ref[:, 0] if channels == 1 else ref.mean(axis=1))


def test_resamples_when_asked(tmp_path):
    p = write_wav(tmp_path / "a.wav", tone(440, 1.0, 44100))
    y, sr = load_audio(p, sr=16000)
    assert sr == 16000 and abs(len(y) - 16000) <= 1


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(64)), "not a readable audio file"),
    (b"hello, this is text\n" * 20, "not a readable audio file"),
], ids=["empty", "truncated-header", "text"])
def test_bad_bytes_give_audio_load_error_naming_the_file(tmp_path, content, reason):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(AudioLoadError) as err:
        load_audio(p)
    assert reason in str(err.value) and str(p) in str(err.value)
    assert err.value.path == str(p)


def test_the_fallback_decoders_reason_is_kept(tmp_path, monkeypatch):
    """A file libsndfile refuses goes to audioread: its failure is said in the error, not dropped."""
    import audioread

    p = tmp_path / "bad.m4a"
    p.write_bytes(b"hello, this is text\n" * 20)
    with pytest.raises(AudioLoadError) as err:
        load_audio(p)
    assert "not a readable audio file (" in err.value.reason and "; audioread: " in err.value.reason

    def truncated(path):
        raise EOFError("the header ends early")

    monkeypatch.setattr(audioread, "audio_open", truncated)
    with pytest.raises(AudioLoadError) as err:
        load_audio(p)
    assert err.value.reason.endswith("; audioread: EOFError: the header ends early)")

    def buggy(path):  # not a decoding failure: a bug surfaces as itself, not as "not audio"
        raise KeyError("bug")

    monkeypatch.setattr(audioread, "audio_open", buggy)
    with pytest.raises(KeyError):
        load_audio(p)


def test_missing_file(tmp_path):
    with pytest.raises(AudioLoadError, match="file not found"):
        load_audio(tmp_path / "nope.wav")


def test_header_only_wav(tmp_path):
    p = tmp_path / "header.wav"
    sf.write(p, np.zeros(0, np.float32), 44100, subtype="PCM_16")
    with pytest.raises(AudioLoadError, match="no audio samples"):
        load_audio(p)


def test_nan_samples_are_refused(tmp_path):
    y = tone(440, 0.1)
    y[10] = np.nan
    p = write_wav(tmp_path / "nan.wav", y, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match="NaN"):
        load_audio(p)


def test_bad_sr_parameter(tmp_path):
    p = write_wav(tmp_path / "a.wav", tone())
    with pytest.raises(ParameterError, match="sr"):
        load_audio(p, sr=0)


def test_audio_info_reads_header(tmp_path):
    p = write_wav(tmp_path / "a.wav", tone(seconds=0.75, sr=8000), sr=8000)
    info = audio_info(p)
    assert info["samplerate"] == 8000 and info["frames"] == 6000 and info["duration"] == pytest.approx(0.75)


def test_is_audio_file():
    assert is_audio_file("x/Y.WAV") and is_audio_file("a.flac") and not is_audio_file("notes.txt")


def test_zero_sample_rate_in_header(tmp_path):
    import struct

    header = (b"RIFF" + struct.pack("<I", 37) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 0, 0, 1, 8)
              + b"data" + struct.pack("<I", 1) + b"\x00")
    p = tmp_path / "zero_rate.wav"
    p.write_bytes(header)
    with pytest.raises(AudioLoadError, match="sample rate"):
        load_audio(p)
