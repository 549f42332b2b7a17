import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import tone, write_wav


def audiospec(*args, check=True):
    res = subprocess.run([sys.executable, "-m", "audiospec_utils", "-q", *map(str, args)],
                         capture_output=True, text=True, timeout=600)
    if check:
        assert res.returncode == 0, res.stderr
    assert "FutureWarning" not in res.stderr, res.stderr  # the libraries' deprecation noise is filtered at start
    return res


def test_render_train_interpret_from_the_command_line(tmp_path):
    audiospec("mini", "--out", tmp_path / "mini")
    # a small copy: folder per class made from the mini dataset's train clips
    from audiospec_utils.audio.datasets import load_fsdkaggle2018

    table = load_fsdkaggle2018(tmp_path / "mini", split="train", n_per_label=5)
    src = tmp_path / "src"
    for row in table.itertuples():
        (src / row.label).mkdir(parents=True, exist_ok=True)
        (src / row.label / row.fname).write_bytes(open(row.path, "rb").read())
    (src / "Bark").mkdir()
    (src / "Bark" / "corrupt.wav").write_bytes(b"\x00" * 100)
    out = audiospec("render", src, "--out", tmp_path / "specs", "--n-mels", 64)
    assert "1 of 41 clips skipped" in out.stdout
    strict = audiospec("render", src, "--out", tmp_path / "specs", "--n-mels", 64, "--strict", check=False)
    assert strict.returncode == 1 and "already done" in strict.stdout
    audiospec("train", tmp_path / "specs", "--out", tmp_path / "run", "--epochs", 1, "--img-size", 32,
              "--no-pretrained")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_valid"] == 40 and len(metrics["classes"]) == 8
    res = audiospec("interpret", tmp_path / "run")
    assert "confusion_matrix" in res.stdout and (tmp_path / "run" / "confusion_matrix.png").is_file()


@pytest.mark.parametrize("make, match", [
    (lambda d: (d / "nothing_here").mkdir(), "no audio files"),
    (lambda d: (d / "labels.csv").write_text("file,category\nx.wav,dog\n"), "missing column"),
])
def test_bad_sources_exit_2_with_one_clear_line(tmp_path, make, match):
    make(tmp_path)
    target = tmp_path / "labels.csv" if (tmp_path / "labels.csv").exists() else tmp_path / "nothing_here"
    res = audiospec("render", target, "--out", tmp_path / "o", check=False)
    assert res.returncode == 2 and match in res.stderr and "Traceback" not in res.stderr


def test_bad_parameter_is_refused_before_work(tmp_path):
    write_wav(tmp_path / "s" / "a" / "x.wav", tone())
    res = audiospec("render", tmp_path / "s", "--out", tmp_path / "o", "--hop-length", 0, check=False)
    assert res.returncode == 2 and "hop_length" in res.stderr and not (tmp_path / "o").exists()


def test_train_without_weights_offline_says_how_to_go_on(tmp_path, mini_specs):
    env_home = tmp_path / "torch_home"
    res = subprocess.run([sys.executable, "-c", (
        "import sys, torchvision.models as m;"
        "m.ResNet34_Weights.DEFAULT.value.url='http://127.0.0.1:9/resnet34-b627a593.pth';"
        "from audiospec_utils.cli import main;"
        f"sys.exit(main(['-q','train',{str(mini_specs)!r},'--out',{str(tmp_path / 'run')!r},'--epochs','1']))")],
        capture_output=True, text=True, env={**__import__("os").environ, "TORCH_HOME": str(env_home)}, timeout=300)
    assert res.returncode == 2
    assert "--weights FILE" in res.stderr and "--no-pretrained" in res.stderr and "Traceback" not in res.stderr


def _audiospec_command() -> list[str]:
    """The installed ``audiospec`` console script next to this interpreter (``python -m`` where missing)."""
    script = Path(sys.executable).with_name("audiospec")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "audiospec_utils"]


def test_predict_json_writes_only_json_to_stdout(trained_run, tmp_path):
    """`audiospec predict RUN a.wav b.wav --json | python -m json.tool`, without -q: no progress bar, no warning."""
    run, metrics = trained_run
    a = write_wav(tmp_path / "a.wav", tone(440, 3.0))
    b = write_wav(tmp_path / "b.wav", tone(1200, 0.8))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    res = subprocess.run(_audiospec_command() + ["predict", str(run), str(a), str(b), "--json"], capture_output=True,
                         text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)  # the whole of stdout: nothing before or after the JSON
    assert [o["file"] for o in out] == [str(a), str(b)]
    assert all(len(o["top"]) == 3 and o["top"][0]["label"] in metrics["classes"] for o in out)
    assert "FutureWarning" not in res.stderr and "torch.jit" not in res.stderr, res.stderr
    piped = subprocess.run(" ".join(_audiospec_command() + ["predict", str(run), str(a), "--json", "|", sys.executable,
                                                            "-m", "json.tool"]),
                           shell=True, capture_output=True, text=True, timeout=300, env=env)
    assert piped.returncode == 0 and json.loads(piped.stdout)[0]["file"] == str(a), piped.stderr



# ---------------------------------------------------------------------------------------------
# issues 11 and 12 on the command line: --test-fold, --valid-fold, --group-pattern, --recipe


@pytest.fixture(scope="module")
def fold_specs(tmp_path_factory):
    """A render folder of a CSV source with group and fold: 12 recordings x 2 clips, 2 labels, folds 1-3."""
    import pandas as pd

    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.features import SpectrogramParams

    root = tmp_path_factory.mktemp("cli_folds")
    rows = []
    for g in range(12):
        label = "low" if g % 2 else "high"
        for j in range(2):
            name = f"{label}/rec{g}-{j}.wav"
            write_wav(root / "src" / name, tone((250 if label == "low" else 2500) + 40 * g + 15 * j, 0.4, sr=8000),
                      sr=8000)
            rows.append({"fname": name, "label": label, "group": f"rec{g}", "fold": str(1 + g % 3)})
    pd.DataFrame(rows).to_csv(root / "src" / "clips.csv", index=False)
    render_spectrograms(root / "src" / "clips.csv", root / "specs", SpectrogramParams(n_mels=32), n_jobs=1,
                        progress=False)
    return root / "specs"


def test_cli_train_test_fold_and_valid_fold(fold_specs, tmp_path, capsys):
    import pandas as pd

    from audiospec_utils.cli import main

    run = tmp_path / "run"
    code = main(["train", str(fold_specs), "--out", str(run), "--no-pretrained", "--epochs", "1", "--img-size", "16",
                 "--bs", "4", "--test-fold", "3", "--valid-fold", "2", "-q"])
    out = capsys.readouterr().out
    assert code == 0
    valid_line = next(line for line in out.splitlines() if line.startswith("validation: accuracy"))
    assert "(8 clips, fold 2; 8 train clips, 2 labels" in valid_line
    assert f"fold 3 (8 clips) held out: score it with `audiospec evaluate {run}`" in out
    split = pd.read_csv(run / "split.csv", dtype=str, keep_default_na=False)
    assert split.groupby("side")["fold"].agg(set).to_dict() == {"train": {"1"}, "valid": {"2"}, "test": {"3"}}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"]["split_by"] == "fold" and metrics["split"]["test_fold"] == "3"


@pytest.mark.parametrize("args, message", [
    (["--test-fold", "9"], "test_fold='9' is not a fold of this data; its folds are 1, 2, 3"),
    (["--test-fold", "2", "--valid-fold", "2"], "valid_fold and test_fold are both '2'"),
    (["--valid-pct", "0.2", "--group-pattern", r"(\d)\.wav$"],  # 2 groups: the take number
     "needs at least 5 groups to train and validate on; found 2"),
])
def test_cli_train_bad_folds_exit_2_with_one_line(fold_specs, tmp_path, capsys, args, message):
    from audiospec_utils.cli import main

    code = main(["train", str(fold_specs), "--out", str(tmp_path / "run"), "--no-pretrained", "--epochs", "1",
                 "--img-size", "16", "-q", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "export.pkl").exists()


def test_cli_train_group_pattern_sets_the_groups(tmp_path, capsys):
    import re

    import pandas as pd

    from audiospec_utils.cli import main
    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.features import SpectrogramParams

    for g in range(10):  # folder per class, no groups in the render: the recording is in the file name
        label = "low" if g % 2 else "high"
        for j in range(2):
            write_wav(tmp_path / "src" / label / f"{g:03d}-{label}-{j}.wav",
                      tone((250 if label == "low" else 2500) + 30 * g + 10 * j, 0.4, sr=8000), sr=8000)
    render_spectrograms(tmp_path / "src", tmp_path / "specs", SpectrogramParams(n_mels=32), n_jobs=1, progress=False)
    manifest = pd.read_csv(tmp_path / "specs" / "manifest.csv", dtype=str, keep_default_na=False)
    assert (manifest.get("group", pd.Series([""])) == "").all()
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "specs"), "--out", str(run), "--no-pretrained", "--epochs", "1",
                 "--img-size", "16", "--bs", "4", "--group-pattern", r"^(\d+)-", "-q"]) == 0
    out = capsys.readouterr().out
    assert "grouped by source recording" in out
    split = pd.read_csv(run / "split.csv", dtype=str, keep_default_na=False)
    expected = split["clip_id"].map(lambda c: re.match(r"(\d+)-", c.split("/")[-1]).group(1))
    assert split["group"].tolist() == expected.tolist()
    assert (split.groupby("group")["side"].nunique() == 1).all()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"]["split_by"] == "group" and metrics["group_pattern"] == r"^(\d+)-"
    assert metrics["split"]["n_valid_groups"] == len(metrics["split"]["valid_groups"]) == 2  # 10 recordings / 5


def test_cli_recipe_quick_gives_its_defaults_and_flags_override_them(fold_specs, tmp_path, capsys):
    from audiospec_utils.cli import main
    from audiospec_utils.learn import RECIPES

    run = tmp_path / "run"
    assert main(["train", str(fold_specs), "--out", str(run), "--no-pretrained", "--recipe", "quick", "--epochs", "1",
                 "--test-fold", "3", "-q"]) == 0
    assert "recipe quick, 1 epochs" in capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    quick = RECIPES["quick"]
    assert metrics["recipe"] == "quick" and metrics["epochs"] == 1  # --epochs 1 overrides the recipe's 10
    assert quick.epochs != 1
    for key in ("img_size", "bs", "spec_augment", "time_shift", "mixup", "label_smoothing"):
        assert metrics[key] == getattr(quick, key), key  # not given: the recipe's value
    assert metrics["crop"]["height"] == quick.img_size
    assert metrics["config"]["epochs"] == 1 and metrics["config"]["img_size"] == quick.img_size  # the whole config


def test_resolve_recipe(monkeypatch):
    import audiospec_utils.learn.config as recipes
    from audiospec_utils.exceptions import ParameterError
    from audiospec_utils.learn import RECIPES
    from audiospec_utils.learn import resolve_recipe

    quick = resolve_recipe("quick")
    assert quick == {**{k: getattr(RECIPES["quick"], k) for k in quick if k != "recipe"}, "recipe": "quick"}
    assert (quick["epochs"], quick["img_size"], quick["arch"]) == (15, 48, "resnet18")
    over = resolve_recipe("full", epochs=3, mixup=None, spec_augment=False)
    assert over["epochs"] == 3 and over["mixup"] == RECIPES["full"].mixup and over["spec_augment"] is False
    assert over["img_size"] == RECIPES["full"].img_size and over["recipe"] == "full"
    monkeypatch.setattr(recipes, "device_name", lambda: "cpu")
    assert resolve_recipe("auto")["recipe"] == "quick"
    monkeypatch.setattr(recipes, "device_name", lambda: "cuda")
    assert resolve_recipe("auto")["recipe"] == "full"
    with pytest.raises(ParameterError, match="recipe must be one of auto, quick, full"):
        resolve_recipe("fast")
    with pytest.raises(ParameterError, match="unknown recipe setting"):
        resolve_recipe("quick", epoch=3)


# ---------------------------------------------------------------------------------------------
# issue 28: one command-line vocabulary; positionals and options in any order; old spellings hidden, warned


OLD_SPELLINGS = ["--dest", "--spec-out", "--cam-method", "--explain-method", "--methods", "--k", "--top", "--data"]


def _subparsers():
    from audiospec_utils.cli import build_parser

    parser = build_parser()
    return parser, next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices


def test_no_help_shows_an_old_spelling():
    import re

    _, commands = _subparsers()
    assert len(commands) == 14
    for name, sub in commands.items():
        text = sub.format_help()
        shown = [old for old in OLD_SPELLINGS if re.search(re.escape(old) + r"(?![\w-])", text)]
        assert shown == [], f"audiospec {name} --help shows {shown}"


@pytest.mark.parametrize("old, new", [
    (["mini", "--dest", "d"], ["mini", "--out", "d"]),
    (["download", "fsdkaggle2018", "--dest", "d"], ["download", "fsdkaggle2018", "--out", "d"]),
    (["evaluate", "RUN", "--spec-out", "x"], ["evaluate", "RUN", "--render-out", "x"]),
    (["demo", "--data", "d"], ["demo", "--data-out", "d"]),
    (["interpret", "RUN", "--cam", "--cam-method", "occlusion"], ["interpret", "RUN", "--cam", "--method", "occlusion"]),
    (["predict", "RUN", "a.wav", "--explain", "e", "--explain-method", "occlusion"],
     ["predict", "RUN", "a.wav", "--explain", "e", "--method", "occlusion"]),
    (["predict", "RUN", "a.wav", "--top", "2"], ["predict", "RUN", "a.wav", "--top-k", "2"]),
    (["compare", "SRC", "--out", "o", "--methods", "gbm", "small_cnn"],
     ["compare", "SRC", "--out", "o", "--method", "gbm", "small_cnn"]),
    (["cv", "SRC", "--out", "o", "--k", "4"], ["cv", "SRC", "--out", "o", "--folds", "4"]),
    (["cv", "SRC", "--out", "o", "--folds", "1,2"], ["cv", "SRC", "--out", "o", "--test-folds", "1,2"]),
], ids=lambda argv: " ".join(argv))
def test_an_old_spelling_warns_on_stderr_and_acts_as_the_new_one(old, new, capsys):
    from audiospec_utils.cli import build_parser

    new_args = build_parser().parse_args(new)
    assert capsys.readouterr() == ("", "")
    old_args = build_parser().parse_args(old)
    out, err = capsys.readouterr()
    assert vars(old_args) == vars(new_args)
    flag = next(a for a in old if a not in new)
    replacement = next(a for a in new if a.startswith("--") and a not in old)
    assert out == "" and f"audiospec {old[0]}: warning: {flag}" in err and "deprecated" in err
    assert f"use {replacement}" in err


@pytest.mark.parametrize("command, positionals, default", [
    ("train", ["SPEC", "--out", "R"], True), ("cv", ["SRC", "--out", "o"], True),
    ("demo", [], None), ("compare", ["SRC", "--out", "o"], None)])
def test_pretrained_and_no_pretrained_on_every_command_that_trains(command, positionals, default):
    parser, commands = _subparsers()
    assert "--pretrained, --no-pretrained" in commands[command].format_help()
    assert parser.parse_args([command, *positionals]).pretrained is default  # each command's default, kept
    assert parser.parse_args([command, *positionals, "--pretrained"]).pretrained is True
    assert parser.parse_args([command, "--no-pretrained", *positionals]).pretrained is False


@pytest.mark.parametrize("argv, expected", [
    (["render", "--out", "o", "SRC"], {"source": "SRC", "out": "o"}),
    (["train", "--out", "R", "--epochs", "1", "SPEC"], {"spec_dir": "SPEC", "epochs": 1}),
    (["cv", "--folds", "3", "SRC", "--out", "o"], {"source": "SRC", "folds": 3}),
    (["interpret", "--cam", "RUN"], {"run_dir": "RUN", "cam": True}),
    (["evaluate", "RUN", "--jobs", "1", "SRC"], {"run_dir": "RUN", "source": "SRC", "jobs": 1}),
    (["predict", "RUN", "--onnx", "M", "a.wav", "--json", "b.wav"],
     {"run_dir": "RUN", "onnx": "M", "files": ["a.wav", "b.wav"], "json": True}),
    (["predict", "RUN", "--top-k", "1", "a.wav"], {"run_dir": "RUN", "top_k": 1, "files": ["a.wav"]}),
    (["export", "--out", "m.onnx", "RUN"], {"run_dir": "RUN", "out": "m.onnx"}),
    (["explain", "RUN", "--out", "o", "a.wav", "--method", "occlusion", "b.wav"],
     {"run_dir": "RUN", "files": ["a.wav", "b.wav"], "method": "occlusion"}),
    (["app", "--port", "7000", "M"], {"model": "M", "port": 7000}),
    (["space", "--out", "o", "M"], {"model": "M", "out": "o"}),
    (["compare", "--out", "o", "SRC", "--method", "gbm"], {"source": "SRC", "method": ["gbm"]}),
    (["download", "--out", "d", "fsdkaggle2018"], {"dataset": "fsdkaggle2018", "out": "d"}),
], ids=lambda argv: " ".join(argv) if isinstance(argv, list) else "")
def test_positionals_and_options_in_any_order(argv, expected):
    from audiospec_utils.cli import build_parser

    args = vars(build_parser().parse_args(argv))
    assert {k: args[k] for k in expected} == expected


def test_cv_folds_is_a_number_of_folds(capsys):
    from audiospec_utils.cli import main

    assert main(["cv", "SRC", "--out", "o", "--folds", "1"]) == 2
    err = capsys.readouterr().err
    assert "--folds is the number of folds to make, at least 2" in err and "--test-folds 1" in err


def test_predict_takes_options_between_run_and_files(trained_run, tmp_path, capsys):
    """`audiospec predict RUN --top-k 1 clip.wav` and `audiospec predict RUN --onnx MODEL clip.wav` (issue 28)."""
    from audiospec_utils.cli import main

    run, metrics = trained_run
    clip = write_wav(tmp_path / "clip.wav", tone(440, 2.0))
    assert main(["-q", "predict", str(run), "--top-k", "1", str(clip), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["file"] == str(clip) and len(entry["top"]) == 1 and entry["top"][0]["label"] in metrics["classes"]
    model = tmp_path / "model.onnx"
    assert main(["-q", "export", str(run), "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["-q", "predict", str(run), "--onnx", str(model), str(clip), "--json"]) == 0  # RUN is not read
    (onnx_entry,) = json.loads(capsys.readouterr().out)
    assert onnx_entry["file"] == str(clip) and len(onnx_entry["top"]) == 3
    assert onnx_entry["top"][0]["label"] in metrics["classes"]


def test_an_old_spelling_keeps_json_stdout_pure(trained_run, tmp_path):
    """`audiospec predict RUN clip.wav --top 2 --json`: the deprecation warning on stderr, the JSON alone on stdout."""
    run, _ = trained_run
    clip = write_wav(tmp_path / "clip.wav", tone(440, 2.0))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    res = subprocess.run(_audiospec_command() + ["predict", str(run), str(clip), "--top", "2", "--json"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    (entry,) = json.loads(res.stdout)
    assert len(entry["top"]) == 2
    assert "audiospec predict: warning: --top is deprecated" in res.stderr and "use --top-k" in res.stderr
