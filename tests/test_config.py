"""One training configuration (issue 28): every option defined once in ``TrainingConfig``, the
recipes instances of it, the command line made from its fields, the README's recipe table in
agreement with it, and exactly one module of the package that builds a fastai ``Learner``."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
from pathlib import Path

import pytest

from audiospec_utils.exceptions import ParameterError
from audiospec_utils.learn.config import RECIPES, TrainingConfig, option_help

ROOT = Path(__file__).resolve().parents[1]


def _subparsers(parser):
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _command_defaults():
    from audiospec_utils.assess.compare import COMPARE_CONFIG
    from audiospec_utils.demo import DEMO_CONFIG

    return {"train": TrainingConfig(), "cv": TrainingConfig(), "compare": COMPARE_CONFIG, "demo": DEMO_CONFIG}


def test_every_generated_option_has_the_default_and_help_of_its_field():
    from audiospec_utils.cli import build_parser

    fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    commands = _subparsers(build_parser())
    for command, defaults in _command_defaults().items():
        options = [a for a in commands[command]._actions if a.dest in fields]
        assert len(options) >= 5, command
        for action in options:
            assert action.default == getattr(defaults, action.dest), (command, action.dest)
            assert action.help == option_help(action.dest, defaults), (command, action.dest)
            assert action.option_strings[0] == "--" + action.dest.replace("_", "-")
    train = {a.dest for a in commands["train"]._actions}
    assert {f.name for f in dataclasses.fields(TrainingConfig) if f.metadata["cli"]} <= train  # train has them all


def test_the_command_line_gives_the_configuration_it_shows():
    from audiospec_utils.cli import _training_config, build_parser

    args = build_parser().parse_args(["train", "specs", "--out", "run", "--epochs", "3", "--no-pretrained",
                                      "--unfrozen-lr", "1e-5", "1e-3", "--test-fold", "2", "--spec-augment"])
    config = _training_config(args)
    assert config == TrainingConfig(epochs=3, pretrained=False, unfrozen_lr=(1e-5, 1e-3), test_fold="2",
                                    spec_augment=True)
    demo = _training_config(build_parser().parse_args(["demo", "--epochs", "2"]))
    assert (demo.arch, demo.epochs, demo.img_size, demo.pretrained) == ("resnet34", 2, 64, None)


def test_the_recipes_are_configurations_and_resolve_fills_what_is_unset(monkeypatch):
    import audiospec_utils.learn.config as config_module

    monkeypatch.setattr(config_module, "device_name", lambda: "cpu")
    quick = TrainingConfig(pretrained=False).resolve()
    assert quick.recipe == "quick" and quick.arch == RECIPES["quick"].arch and quick.epochs == RECIPES["quick"].epochs
    assert quick.normalize == "dataset"
    pretrained = TrainingConfig(epochs=2).resolve()
    assert pretrained.arch == RECIPES["quick"].pretrained_arch and pretrained.epochs == 2
    assert pretrained.normalize == "imagenet"
    assert TrainingConfig(recipe="full", arch="resnet18").resolve().arch == "resnet18"  # given: kept
    monkeypatch.setattr(config_module, "device_name", lambda: "cuda")
    assert TrainingConfig().resolve().recipe == "full"
    for recipe in RECIPES.values():
        assert isinstance(recipe, TrainingConfig)
    back = TrainingConfig.from_dict(TrainingConfig(unfrozen_lr=(1e-4, 1e-2), test_fold=3).to_dict())
    assert back == TrainingConfig(unfrozen_lr=(1e-4, 1e-2), test_fold="3")


@pytest.mark.parametrize("options, message", [
    (dict(arch="vgg16"), "arch must be one of"), (dict(epochs=0), "epochs must be a positive integer"),
    (dict(label_smoothing=1.0), "label_smoothing must be in"), (dict(valid_pct=1.5), "valid_pct must be between"),
    (dict(recipe="fast"), "recipe must be one of"), (dict(normalize="minmax"), "normalize must be one of")])
def test_a_bad_option_is_refused_by_name(options, message):
    with pytest.raises(ParameterError, match=message):
        TrainingConfig(**options)


def test_an_unknown_option_is_refused_by_name():
    with pytest.raises(ParameterError, match="unknown training option.*epoch"):
        TrainingConfig().replace(epoch=3)


def _readme_recipe_rows() -> dict:
    text = (ROOT / "README.md").read_text()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\| `(quick|full)` \(\w+\) \| (.+?) \| (\d+) px \| (\d+) \| (\d+) \| (.+?) \| (.+?) \| (.+?) \|", line)
        if m:
            rows[m.group(1)] = m.groups()[1:]
    return rows


def test_the_readme_recipe_table_says_what_the_recipes_are():
    rows = _readme_recipe_rows()
    assert set(rows) == set(RECIPES)
    names = {"resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50"}
    for name, (network, height, epochs, batch, crop, augmentation, loss) in rows.items():
        r = RECIPES[name]
        assert network.startswith(names[r.arch]) and names[r.pretrained_arch] in network, name
        assert (int(height), int(epochs), int(batch)) == (r.img_size, r.epochs, r.bs), name
        assert f"{r.max_crop_seconds:g} s" in crop, name
        assert ("SpecAugment" in augmentation) == bool(r.spec_augment), name
        assert (f"mixup {r.mixup:g}" in augmentation) == bool(r.mixup), name
        assert (f"label smoothing {r.label_smoothing:g}" in loss) == bool(r.label_smoothing), name


def test_exactly_one_module_builds_a_learner():
    builders = {"Learner", "vision_learner", "cnn_learner", "unet_learner", "tabular_learner"}
    found = set()
    for path in (ROOT / "audiospec_utils").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in builders:
                    found.add(str(path.relative_to(ROOT)))
    assert found == {"audiospec_utils/learn/estimator.py"}


def test_the_course_trains_its_own_network_in_every_notebook(monkeypatch, tmp_path):
    """Notebook 04 run alone trains with ``train_course_model(cfg)``: the network of notebook 03
    (``cfg.arch``), not the CPU recipe's."""
    from audiospec_utils.course import config as course
    from audiospec_utils.learn import train as train_module

    monkeypatch.setenv("AUDIOSPEC_DATA", str(tmp_path))
    cfg = course.course_config("mini")
    seen = {}
    monkeypatch.setattr(course, "render_course_spectrograms", lambda cfg, progress=True: None)

    def fake_train(spec_dir, out_dir, config=None, **kw):
        seen["config"] = config
        return None, {"arch": config.resolve().arch}

    monkeypatch.setattr(train_module, "train_classifier", fake_train)
    course.train_course_model(cfg, force=True, progress=False)
    resolved = seen["config"].resolve()
    assert resolved.arch == cfg.arch == "resnet34"
    assert (resolved.img_size, resolved.epochs, resolved.crop_seconds) == (cfg.img_size, cfg.epochs, cfg.crop_seconds)
    notebook_03 = (ROOT / "notebooks" / "03_train_resnet34.ipynb").read_text()
    assert "create_learner(dls, cfg.arch" in notebook_03 and "cfg.training_config()" in notebook_03
