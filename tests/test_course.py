import os
import stat

import pytest

from audiospec_utils import course
from audiospec_utils.exceptions import DatasetError, ParameterError

from helpers import tone, write_wav


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("AUDIOSPEC_DATASET", "AUDIOSPEC_DATA", "AUDIOSPEC_RUNS", "AUDIOSPEC_FSDK_ROOT", "AUDIOSPEC_WEIGHTS",
                "AUDIOSPEC_PLATFORM", "KAGGLE_KERNEL_RUN_TYPE", "KAGGLE_URL_BASE", "COLAB_RELEASE_TAG"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _kaggle_layout(root):
    write_wav(root / "audio_train" / "aaaa0001.wav", tone())
    (root / "audio_test").mkdir(parents=True)
    (root / "train.csv").write_text("fname,label,manually_verified\naaaa0001.wav,Bark,1\n")
    return root


def test_platform_detection(clean_env):
    assert course.detect_platform() == "local"
    clean_env.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert course.detect_platform() == "kaggle"
    clean_env.delenv("KAGGLE_KERNEL_RUN_TYPE")
    clean_env.setenv("COLAB_RELEASE_TAG", "release-colab-2026")
    assert course.detect_platform() == "colab"


def test_dataset_choice(clean_env):
    assert course.course_config().dataset == "fsdkaggle2018"
    clean_env.setenv("AUDIOSPEC_DATASET", "mini")
    cfg = course.course_config()
    assert cfg.dataset == "mini" and not cfg.pretrained and cfg.img_size == 64
    clean_env.setenv("AUDIOSPEC_DATASET", "imagenet")
    with pytest.raises(ParameterError, match="AUDIOSPEC_DATASET"):
        course.course_config()


def test_finds_an_attached_kaggle_dataset(tmp_path):
    _kaggle_layout(tmp_path / "input" / "freesound-audio-tagging")
    found = course.find_fsdkaggle2018_root(input_dir=tmp_path / "input")
    assert found == tmp_path / "input" / "freesound-audio-tagging"
    assert course.find_fsdkaggle2018_root(input_dir=tmp_path / "nowhere") is None


def test_finds_a_zenodo_layout_two_levels_deep(tmp_path, mini_root):
    target = tmp_path / "input" / "fsdk-zenodo" / "extracted"
    target.parent.mkdir(parents=True)
    target.symlink_to(mini_root, target_is_directory=True)
    assert course.find_fsdkaggle2018_root(input_dir=tmp_path / "input") == target


def test_user_given_root_is_used_and_read_as_fsdkaggle2018(clean_env, tmp_path):
    root = _kaggle_layout(tmp_path / "mine")
    clean_env.setenv("AUDIOSPEC_FSDK_ROOT", str(root))
    cfg = course.course_config()
    assert cfg.dataset_dir == root.resolve()
    assert course.get_dataset(cfg) == root.resolve()  # found: nothing downloaded
    table = course.course_table(cfg)
    assert list(table["label"]) == ["Bark"]


def test_kaggle_paths_go_to_working(clean_env, monkeypatch, tmp_path):
    clean_env.setenv("AUDIOSPEC_PLATFORM", "kaggle")
    monkeypatch.setattr(course, "project_root", lambda start=None: None)
    monkeypatch.setattr(course, "KAGGLE_WORKING", tmp_path / "working")
    cfg = course.course_config()
    assert cfg.platform == "kaggle" and str(cfg.run_dir).startswith(str(tmp_path / "working"))


def test_read_only_place_without_the_data_says_what_to_do(clean_env, tmp_path):
    ro = tmp_path / "ro"  # like /kaggle/input/<dataset> without FSDKaggle2018 in it
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.geteuid() == 0:  # root writes anywhere: answer the permission question as Kaggle's mount does
        real_access = os.access
        clean_env.setattr(course.os, "access", lambda p, mode: False if str(p) == str(ro) else real_access(p, mode))
    clean_env.setenv("AUDIOSPEC_FSDK_ROOT", str(ro))
    with pytest.raises(DatasetError, match="read-only"):
        course.get_dataset(course.course_config())


def test_weights_file_is_found(clean_env, tmp_path):
    f = tmp_path / "input" / "resnet34-weights" / "resnet34-b627a593.pth"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"x")
    assert course.find_weights_file(input_dir=tmp_path / "input") == f
    clean_env.setenv("AUDIOSPEC_WEIGHTS", "/some/where.pth")
    assert str(course.find_weights_file(input_dir=tmp_path / "input")) == "/some/where.pth"


def test_check_runtime_asks_for_a_restart_only_when_needed(capsys):
    import numpy

    assert course.check_runtime({"numpy": numpy.__version__}) == []
    assert "ready" in capsys.readouterr().out
    stale = course.check_runtime({"numpy": "0.0.1"})
    assert stale == [f"numpy 0.0.1 -> {numpy.__version__}"] and "Restart the runtime" in capsys.readouterr().out
