import hashlib
import os
import stat
import zipfile

import pytest

from audiospec_utils.course import config as course
from audiospec_utils.exceptions import DatasetError, DownloadError, ParameterError

from helpers import tone, write_wav
from http_server import serve_directory

SIZE_VARIABLES = ("AUDIOSPEC_EPOCHS", "AUDIOSPEC_IMG_SIZE", "AUDIOSPEC_BS", "AUDIOSPEC_LR_FIND_ITERS",
                  "AUDIOSPEC_N_PER_LABEL")


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("AUDIOSPEC_DATASET", "AUDIOSPEC_DATA", "AUDIOSPEC_RUNS", "AUDIOSPEC_FSDK_ROOT", "AUDIOSPEC_WEIGHTS",
                "AUDIOSPEC_PLATFORM", "AUDIOSPEC_MIRROR", "AUDIOSPEC_KAGGLE_INPUT", "AUDIOSPEC_KAGGLE_WORKING",
                "AUDIOSPEC_COLAB_ROOT", "AUDIOSPEC_OWN_SOUNDS", "AUDIOSPEC_OWN_GROUP_PATTERN", "KAGGLE_KERNEL_RUN_TYPE",
                "KAGGLE_URL_BASE", "COLAB_RELEASE_TAG",
                *SIZE_VARIABLES):
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
    own = tmp_path / "mine.pth"
    own.write_bytes(b"y")
    clean_env.setenv("AUDIOSPEC_WEIGHTS", str(own))
    assert course.find_weights_file(input_dir=tmp_path / "input") == own
    clean_env.setenv("AUDIOSPEC_WEIGHTS", "/some/where.pth")  # a typo must not silently mean "download"
    with pytest.raises(ParameterError, match="AUDIOSPEC_WEIGHTS=/some/where.pth: no such file"):
        course.course_config()


def test_an_attached_weights_file_reaches_the_training_of_notebook_06(clean_env, tmp_path):
    # notebook 06 trains with cfg.training_config(); on Kaggle the attached file must be its weights (the platform
    # run with the competition's data stops at notebook 05: tests/test_course_platforms.py)
    weights = tmp_path / "input" / "resnet34-weights" / "resnet34-b627a593.pth"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"x")
    clean_env.setenv("AUDIOSPEC_PLATFORM", "kaggle")
    clean_env.setenv("AUDIOSPEC_KAGGLE_INPUT", str(tmp_path / "input"))
    clean_env.setenv("AUDIOSPEC_KAGGLE_WORKING", str(tmp_path / "working"))
    cfg = course.course_config("fsdkaggle2018")
    config = cfg.training_config()
    assert cfg.weights == weights and config.pretrained and config.weights == str(weights)
    assert config.arch == cfg.arch == "resnet34"
    assert course.course_config("mini").training_config().weights is None  # from scratch: no weights to load


def test_check_runtime_asks_for_a_restart_only_when_needed(capsys):
    import numpy

    assert course.check_runtime({"numpy": numpy.__version__}) == []
    assert "ready" in capsys.readouterr().out
    stale = course.check_runtime({"numpy": "0.0.1"})
    assert stale == [f"numpy 0.0.1 -> {numpy.__version__}"] and "Restart the runtime" in capsys.readouterr().out


def test_size_overrides_shrink_the_configuration_and_notebook_05(clean_env):
    from audiospec_utils.learn.config import RECIPES

    real = course.course_config()
    full = RECIPES["full"]
    assert real.recipe == "full" and (real.epochs, real.img_size, real.bs) == (full.epochs, full.img_size, full.bs)
    assert (real.spec_augment, real.mixup, real.label_smoothing) == (True, full.mixup, full.label_smoothing)
    assert (real.lr_find_iters, real.n_per_label, real.normalize) == (100, None, "imagenet")
    assert real.compare["n_per_label"] == 75 and "params" not in real.compare  # crops, not squeezed whole clips
    assert real.compare["crop_seconds"] == real.experiments["crop_seconds"]   # notebook 05 on 03's crops
    assert real.pretrained and real.compare["pretrained"] is None  # ImageNet weights when they can be had
    for var, value in zip(SIZE_VARIABLES, ("1", "64", " 16 ", "10", "12")):
        clean_env.setenv(var, value)
    cfg = course.course_config()
    assert (cfg.epochs, cfg.img_size, cfg.bs, cfg.lr_find_iters, cfg.n_per_label) == (1, 64, 16, 10, 12)
    assert {k: cfg.compare[k] for k in ("epochs", "img_size", "bs", "n_per_label")} == {
        "epochs": 1, "img_size": 64, "bs": 16, "n_per_label": 12}
    assert {k: cfg.leakage[k] for k in ("epochs", "img_size", "n_per_label")} == {  # notebook 03's experiment too
        "epochs": 1, "img_size": 64, "n_per_label": 12}
    assert cfg.recipe == "full" and cfg.spec_augment  # the recipe's other settings stay
    # the same code path: only the numbers change
    assert cfg.pretrained and cfg.dataset_dir == real.dataset_dir and cfg.params == real.params
    assert cfg.compare["crop_seconds"] == real.compare["crop_seconds"] and cfg.compare["pretrained"] is None
    assert {k: cfg.own[k] for k in ("epochs", "img_size", "bs", "n_per_label")} == {  # notebook 06 too
        "epochs": 1, "img_size": 64, "bs": 16, "n_per_label": 12}
    assert course.course_config(epochs=3, n_per_label=7).epochs == 3  # arguments win over the environment
    clean_env.setenv("AUDIOSPEC_DATASET", "mini")
    mini = course.course_config()
    assert (mini.epochs, mini.img_size, mini.lr_find_iters) == (1, 64, 10) and mini.compare["epochs"] == 1
    assert mini.compare["pretrained"] is False and not mini.pretrained
    for var in SIZE_VARIABLES:
        clean_env.delenv(var)
    mini = course.course_config()
    assert (mini.epochs, mini.lr_find_iters, mini.compare["epochs"], mini.compare["img_size"]) == (10, 10, 3, 32)
    assert mini.recipe == "quick" and mini.crop_seconds == 1.0 and mini.normalize == "dataset"


@pytest.mark.parametrize("var, value", [("AUDIOSPEC_EPOCHS", "abc"), ("AUDIOSPEC_EPOCHS", "0"),
                                        ("AUDIOSPEC_EPOCHS", "1.5"), ("AUDIOSPEC_IMG_SIZE", "8"),
                                        ("AUDIOSPEC_BS", "-4"), ("AUDIOSPEC_LR_FIND_ITERS", "5"),
                                        ("AUDIOSPEC_N_PER_LABEL", "all"), ("AUDIOSPEC_MIRROR", "ftp://host/x"),
                                        ("AUDIOSPEC_PLATFORM", "binder")])
def test_bad_override_names_its_variable(clean_env, var, value):
    clean_env.setenv(var, value)
    with pytest.raises(ParameterError, match=var) as err:
        course.course_config()
    assert repr(value) in str(err.value)


def test_bad_argument_names_itself(clean_env):
    with pytest.raises(ParameterError, match="img_size must be an integer >= 16"):
        course.course_config(img_size=10)
    with pytest.raises(ParameterError, match="mirror must be an http"):
        course.course_config(mirror="zenodo.org")


def test_platform_folders_are_parameters_and_win_over_the_project_folder(clean_env, tmp_path):
    """Kaggle: input and working folders from the environment (the tests run inside the project)."""
    inputs, working = tmp_path / "input", tmp_path / "working"
    attached = _kaggle_layout(inputs / "freesound-audio-tagging")
    weights = inputs / "imagenet" / "resnet34-b627a593.pth"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"x")
    clean_env.setenv("AUDIOSPEC_PLATFORM", "kaggle")
    clean_env.setenv("AUDIOSPEC_KAGGLE_INPUT", str(inputs))
    clean_env.setenv("AUDIOSPEC_KAGGLE_WORKING", str(working))
    assert course.project_root() is not None  # cwd is the project: still, nothing may go there on Kaggle
    cfg = course.course_config()
    assert cfg.platform == "kaggle" and cfg.dataset_dir == attached.resolve() and cfg.weights == weights
    assert cfg.compare["weights"] == weights
    assert cfg.data_root == (working / "audiospec_data").resolve() and cfg.run_dir.is_relative_to(working.resolve())
    assert course.get_dataset(cfg) == attached.resolve()
    clean_env.setenv("AUDIOSPEC_PLATFORM", "colab")
    clean_env.setenv("AUDIOSPEC_COLAB_ROOT", str(tmp_path / "content"))
    cfg = course.course_config()
    assert cfg.data_root == (tmp_path / "content" / "audiospec_data").resolve()
    assert cfg.run_dir == (tmp_path / "content" / "runs" / "course_fsdkaggle2018").resolve()
    assert cfg.dataset_dir == attached.resolve()  # found under the Kaggle input: AUDIOSPEC_KAGGLE_INPUT is set


def _zenodo_archives(mini_root, served):
    """The mini dataset as the three Zenodo archives, with an md5sums.txt, in `served`."""
    served.mkdir()
    sums = []
    for folder in ("FSDKaggle2018.audio_train", "FSDKaggle2018.audio_test", "FSDKaggle2018.meta"):
        archive = served / f"{folder}.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for path in sorted((mini_root / folder).rglob("*")):
                zf.write(path, path.relative_to(mini_root).as_posix())
        sums.append(f"{hashlib.md5(archive.read_bytes()).hexdigest()}  {archive.name}")
    (served / "md5sums.txt").write_text("\n".join(sums) + "\n")


def test_get_dataset_downloads_from_the_mirror(clean_env, tmp_path, mini_root):
    served = tmp_path / "served"
    _zenodo_archives(mini_root, served)
    clean_env.setenv("AUDIOSPEC_DATA", str(tmp_path / "data"))
    with serve_directory(served) as (url, state):
        clean_env.setenv("AUDIOSPEC_MIRROR", url)
        cfg = course.course_config()
        assert cfg.mirror == url
        root = course.get_dataset(cfg, progress=False)
        assert root == (tmp_path / "data" / "fsdkaggle2018").resolve()
        gets = sorted(r.path for r in state.requests("GET"))
        assert gets == ["/FSDKaggle2018.audio_test.zip", "/FSDKaggle2018.audio_train.zip",
                        "/FSDKaggle2018.meta.zip", "/md5sums.txt"]
        assert sorted(p.name for p in root.iterdir()) == ["FSDKaggle2018.audio_test", "FSDKaggle2018.audio_train",
                                                          "FSDKaggle2018.meta"]
        assert len(course.course_table(cfg)) == len(list(mini_root.rglob("*.wav")))
        state.clear_log()
        assert course.get_dataset(cfg, progress=False) == root and state.log == []  # there: no request
    # a corrupt archive on the mirror is caught by the mirror's own checksum
    (served / "FSDKaggle2018.meta.zip").write_bytes(b"PK not really")
    with serve_directory(served) as (url, _):
        cfg = course.course_config(mirror=url)
        cfg.dataset_dir = tmp_path / "other"
        with pytest.raises(DownloadError, match="FSDKaggle2018.meta.zip did not verify"):
            course.get_dataset(cfg, progress=False)


def test_every_mode_names_the_network_it_trains(clean_env):
    """The configuration carries the architecture: ResNet-34 in both modes, as the README says."""
    real = course.course_config()
    mini = course.course_config("mini")
    assert real.arch == "resnet34" and mini.arch == "resnet34"
    assert mini.recipe == "quick" and mini.crop_seconds == 1.0 and mini.img_size == 64  # quick alone picks ResNet-18
    assert mini.compare["crop_seconds"] == mini.crop_seconds == mini.experiments["crop_seconds"]


def test_train_course_model_trains_the_configured_network(clean_env, monkeypatch, tmp_path):
    """Notebook 04 run alone trains what 03 trains: cfg's network, sizes, crops and weights."""
    import audiospec_utils.learn.train as train

    seen = {}

    def fake_train(spec_dir, run_dir, config=None, progress=True, **kwargs):
        seen.update(config.replace(**kwargs).to_dict())
        return None, {"accuracy": 1.0}

    monkeypatch.setattr(train, "train_classifier", fake_train)
    monkeypatch.setattr(course, "render_course_spectrograms", lambda cfg, progress=True: None)
    cfg = course.course_config("mini")
    cfg.run_dir = tmp_path / "run"
    assert course.train_course_model(cfg) == {"accuracy": 1.0}
    assert seen["arch"] == "resnet34" and seen["recipe"] == "quick"
    assert (seen["epochs"], seen["img_size"], seen["crop_seconds"], seen["bs"]) == (10, 64, 1.0, 32)
    assert seen["pretrained"] is False and seen["weights"] is None


def test_own_sounds_folder_lays_out_the_course_clips(clean_env, tmp_path, mini_root):
    """Notebook 06's example: recordings cut into parts, a folder per class, groups from the names."""
    from audiospec_utils.audio.datasets import load_source

    clean_env.setenv("AUDIOSPEC_DATA", str(tmp_path / "data"))
    cfg = course.course_config()  # the real course's code path, on the small mini dataset (same layout)
    cfg.dataset_dir = mini_root
    cfg.own.update(n_per_label=2, part_seconds=1.0, max_parts=2)
    folder = course.own_sounds_folder(cfg)
    assert folder == (tmp_path / "data" / "own_sounds_fsdkaggle2018").resolve()
    table = load_source(folder, group_pattern=cfg.own["group_pattern"])
    assert table["label"].value_counts().max() <= 4 and table["group"].nunique() == 2 * table["label"].nunique()
    assert all(g in f for g, f in zip(table["group"], table["fname"]))
    assert table.groupby("group")["label"].nunique().max() == 1   # one recording, one label
    stamp = (folder / ".written.json").stat().st_mtime_ns
    assert course.own_sounds_folder(cfg) == folder and (folder / ".written.json").stat().st_mtime_ns == stamp
    cfg.own["max_parts"] = 1                       # other settings: the folder is made anew, nothing stale left
    assert course.own_sounds_folder(cfg) == folder and not list(folder.rglob("*-part2.wav"))
    assert len(list(folder.rglob("*-part1.wav"))) == len(table.drop_duplicates("group"))


def test_own_sounds_folder_is_yours_when_given(clean_env, tmp_path):
    mine = tmp_path / "my_sounds"
    (mine / "dog").mkdir(parents=True)
    clean_env.setenv("AUDIOSPEC_OWN_SOUNDS", str(mine))
    cfg = course.course_config("mini")
    assert cfg.own["folder"] == mine.resolve() and cfg.own["group_pattern"] is None  # each file its own recording
    assert course.own_sounds_folder(cfg) == mine.resolve()
    clean_env.setenv("AUDIOSPEC_OWN_GROUP_PATTERN", r"^(\w+)_take")
    assert course.course_config("mini").own["group_pattern"] == r"^(\w+)_take"
    clean_env.setenv("AUDIOSPEC_OWN_SOUNDS", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="AUDIOSPEC_OWN_SOUNDS"):
        course.own_sounds_folder(course.course_config("mini"))
