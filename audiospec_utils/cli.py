"""The ``audiospec`` command line: the course's steps without a notebook.

::

    audiospec mini [--out DIR]
    audiospec download fsdkaggle2018 [--out DIR] [--parts train,test,meta] [--mirror URL]
    audiospec render SOURCE --out SPEC_DIR [spectrogram parameters]
    audiospec train SPEC_DIR --out RUN_DIR [--recipe auto|quick|full] [--test-fold K] [--no-pretrained] ...
    audiospec cv SOURCE_OR_SPEC_DIR --out DIR [--folds 5] [--test-folds 1,2,...] [training options]
    audiospec interpret RUN_DIR [--cam] [--method gradcam|occlusion]
    audiospec compare SOURCE --out DIR [--epochs N] [--img-size N] [--seed N] [--method ROW_OR_GROUP ...]
    audiospec evaluate RUN_DIR [SOURCE] [--render-out DIR]
    audiospec predict RUN_DIR FILE_OR_FOLDER... [--top-k 3] [--json] [--csv FILE] [--timeline DIR]
    audiospec predict --onnx MODEL.onnx FILE_OR_FOLDER... [same options; torch is not loaded]
    audiospec export RUN_DIR --out MODEL.onnx [--sr HZ]
    audiospec explain RUN_DIR FILE... --out DIR [--label L] [--method gradcam|occlusion] [--json]
    audiospec app RUN_DIR_OR_MODEL.onnx [--host 127.0.0.1] [--port 7860] [--examples DIR] [--max-seconds 60]
    audiospec space RUN_DIR_OR_MODEL.onnx --out DIR [--examples DIR] [--title T] [--license apache-2.0]
    audiospec demo [--out runs/demo] [--data-out data/mini] [--pretrained]

One vocabulary across the commands: ``--out`` names what a command writes (a second output has its
own ``--<what>-out``: ``--render-out``, ``--data-out``), ``--method`` chooses a method, ``--folds`` is
a number of folds, ``--top-k`` a number of top labels, ``--pretrained / --no-pretrained`` the start
from ImageNet weights. Positionals and options come in any order (``predict RUN --top-k 1 clip.wav``).
The spellings before (``--dest``, ``--spec-out``, ``--data``, ``--cam-method``, ``--explain-method``,
``--methods``, ``--k``, ``--top``, ``cv --folds 1,2``) still work for one release: hidden from
``--help``, they print a deprecation warning on stderr and do what the new spelling does.

Errors the toolkit expects (bad input, missing weights...) print one clear line and exit with
status 2; an interrupted command says how to continue (run it again).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

from .exceptions import AudiospecError, ParameterError, TrainingInterrupted

__all__ = ["main", "build_parser"]


def _add_spectrogram_args(p: argparse.ArgumentParser) -> None:
    from .features.params import CLIP_POLICIES, KINDS, STACK_CHANNELS

    g = p.add_argument_group("spectrogram parameters")
    g.add_argument("--sr", type=int, default=None,
                   help="resample every clip to this rate in Hz (default: the folder's rate, else the most common "
                        "rate of the source's files)")
    g.add_argument("--n-fft", type=int, default=None, help="FFT window in samples (default: about 46 ms)")
    g.add_argument("--hop-length", type=int, default=None, help="samples between frames (default: n_fft // 4)")
    g.add_argument("--n-mels", type=int, default=128, help="mel bands = image height (default: 128)")
    g.add_argument("--fmin", type=float, default=20.0, help="lowest frequency in Hz (default: 20)")
    g.add_argument("--fmax", type=float, default=None, help="highest frequency in Hz (default: sr / 2)")
    g.add_argument("--top-db", type=float, default=80.0, help="dynamic range in dB below the maximum (default: 80)")
    g.add_argument("--clip-policy", choices=CLIP_POLICIES, default="full",
                   help="how clips of any length become images (default: full)")
    g.add_argument("--duration", type=float, default=None, help="seconds, for pad/loop/windows")
    g.add_argument("--cmap", default=None, help="matplotlib colour map for RGB images (default: grey)")
    g.add_argument("--kind", choices=KINDS, default="logmel",
                   help="what the image shows: linear STFT, log-mel, MFCC, chroma, or 3 kinds as RGB")
    g.add_argument("--n-mfcc", type=int, default=20, help="MFCCs = image height with --kind mfcc")
    g.add_argument("--channels", default="logmel,delta,delta2",
                   help=f"--kind stack: 3 comma-separated of {','.join(STACK_CHANNELS)} for R,G,B")
    g.add_argument("--width", type=int, default=None,
                   help="resize every image to this many pixels along time (None: one column per frame)")


def _add_training_options(p: argparse.ArgumentParser, *, groups=("training",), defaults=None, only=None) -> None:
    """The options of a :class:`~audiospec_utils.learn.config.TrainingConfig`, made from its fields
    (their default, type, choices and help); the handler reads them back with :func:`_training_config`."""
    from .learn.config import add_config_options

    p.set_defaults(_config_fields=add_config_options(p, groups=groups, defaults=defaults, only=only),
                   _config_defaults=defaults)


def _training_config(args):
    """The :class:`~audiospec_utils.learn.config.TrainingConfig` of a command's options."""
    from .learn.config import config_from_args

    return config_from_args(args, args._config_fields, base=args._config_defaults)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each default said once: not for options whose help already gives it, nor None, False or a required one."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or action.default in (None, False, argparse.SUPPRESS) or action.required
                or not action.option_strings):
            return text
        return super()._get_help_string(action)


class _IntermixedParser(argparse.ArgumentParser):
    """A subcommand's parser that takes its positionals and options in any order.

    Plain argparse stops filling positionals at the first option that follows one, so
    ``audiospec predict RUN --onnx MODEL clip.wav`` used to fail with "unrecognized arguments";
    :meth:`argparse.ArgumentParser.parse_known_intermixed_args` reads the options first, then the
    positionals, wherever they are. The top-level parser cannot parse that way (it holds the
    subcommands), so each subcommand's parser does.
    """

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):
        if self._intermixing:  # the passes of parse_known_intermixed_args (Python < 3.13 calls this method)
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def _warn_old_spelling(prog: str, old: str, new: str) -> None:
    """The deprecation warning of an old spelling, on stderr (stdout may carry ``--json``)."""
    print(f"{prog}: warning: {old} is deprecated and will be removed in the next release; use {new}",
          file=sys.stderr)


class _OldSpelling(argparse.Action):
    """An option's spelling before issue 28, kept for one release: hidden from ``--help``, it warns
    on stderr, then does exactly what the new spelling (`new`, an action of the same parser) does."""

    def __init__(self, option_strings, dest, *, new: argparse.Action, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        _warn_old_spelling(parser.prog, option_string, self.new.option_strings[0])
        self.new(parser, namespace, values, option_string)


def _old_spelling(p: argparse.ArgumentParser, old: str, new: argparse.Action) -> None:
    """Add `old` to `p` as a hidden, deprecated alias of the option `new` (same dest, type, nargs, choices)."""
    p.add_argument(old, action=_OldSpelling, new=new, dest=new.dest, type=new.type, nargs=new.nargs,
                   choices=new.choices, metavar=new.metavar)


class _FoldCount(argparse.Action):
    """``cv --folds N``: the number of folds to make. A list such as ``1,2`` is the meaning ``--folds``
    had before issue 28 (the folds to hold out, now ``--test-folds``): it warns and is taken as that."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values.strip().isdigit():
            setattr(namespace, self.dest, int(values))
            return
        _warn_old_spelling(parser.prog, f"{option_string} {values} (the folds to hold out)", f"--test-folds {values}")
        setattr(namespace, "test_folds", values)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``audiospec`` command."""
    from .assess.compare import COMPARE_CONFIG
    from .demo import DEMO_CONFIG

    parser = argparse.ArgumentParser(prog="audiospec", description="audiospec: classify sounds by classifying their spectrogram images (the course's steps without a notebook).",
                                     formatter_class=_HelpFormatter)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    # -q also works after the command (`audiospec render ... -q`)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_IntermixedParser)

    def command(name, help):
        return sub.add_parser(name, help=help, parents=[common], formatter_class=_HelpFormatter)

    p = command("mini", "generate the built-in synthetic mini dataset (FSDKaggle2018 layout)")
    _old_spelling(p, "--dest", p.add_argument("--out", default="data/mini", help="output folder"))
    p.add_argument("--seed", type=int, default=0)

    p = command("download", "download a dataset (FSDKaggle2018 from Zenodo)")
    p.add_argument("dataset", choices=["fsdkaggle2018"])
    _old_spelling(p, "--dest", p.add_argument("--out", default="data/fsdkaggle2018", help="output folder"))
    p.add_argument("--parts", default="train,test,meta", help="comma-separated: train,test,meta,doc")
    p.add_argument("--mirror", default=None, help="base URL serving the same file names (default: Zenodo)")
    p.add_argument("--keep-archives", action="store_true", help="keep the zip files after extraction")

    p = command("render", "render spectrogram images of a dataset")
    p.add_argument("source", help="folder per class, CSV (fname,label), or FSDKaggle2018 root")
    p.add_argument("--out", required=True, help="output folder for images and manifest.csv")
    p.add_argument("--jobs", type=int, default=-1, help="worker processes (-1: all cores)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="render on a dask.distributed cluster: its scheduler's address (e.g. tcp://10.0.0.5:8786); "
                        "SOURCE's audio and --out must then be paths every worker sees (--jobs is not used)")
    p.add_argument("--retry-failed", action="store_true", help="try again clips that failed before")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any clip failed")
    p.add_argument("--group-pattern", default=None, metavar="REGEX",
                   help="the first capture group of this regular expression, searched in each file name, is the "
                        "clip's group (its source recording, speaker...), e.g. '^(\\d+)-' for "
                        "<recording>-<class>-<n>-<slice>.wav; it replaces the source's own groups")
    _add_spectrogram_args(p)

    p = command("train", "train a classifier on rendered spectrograms")
    p.add_argument("spec_dir", help="folder written by `audiospec render`")
    p.add_argument("--out", required=True, help="run folder (model, metrics.json, history.csv, split.csv)")
    p.add_argument("--restart", action="store_true",
                   help="start over even if an interrupted training is in --out (by default it is resumed at its "
                        "next epoch when the settings are the same)")
    _add_training_options(p, groups=("training", "split"))

    p = command("cv", "cross-validation: one model per fold, each fold held out once; cv.csv with mean and std")
    p.add_argument("source", help="render folder, or audio with folds (UrbanSound8K, ESC-50, CSV with a fold column) "
                                  "or without (then --folds grouped folds are made)")
    p.add_argument("--out", required=True, help="output folder (cv.csv, cv.png, folds.csv, fold_<k>/ runs)")
    folds = p.add_argument("--folds", action=_FoldCount, default=None, metavar="N",
                           help="number of grouped, stratified folds to make when the data has none (default: 5); "
                                "data with its own folds keeps them")
    _old_spelling(p, "--k", folds)
    p.add_argument("--test-folds", default=None, metavar="LIST",
                   help="the folds to hold out, comma-separated, e.g. 1,2 (default: every fold)")
    p.add_argument("--force", action="store_true", help="train again folds that already have a result")
    p.add_argument("--jobs", type=int, default=-1, help="rendering worker processes (-1: all cores)")
    _add_training_options(p)
    _add_spectrogram_args(p)

    p = command("interpret", "confusion matrix, top losses, t-SNE, per-class report of a run")
    p.add_argument("run_dir")
    p.add_argument("--top-losses", type=int, default=9)
    p.add_argument("--spec-dir", default=None,
                   help="the render folder the run was trained on, if it has moved since training")
    p.add_argument("--cam", action="store_true",
                   help="also maps of what the model listens to: the top losses and a mean map per label "
                        "(RUN_DIR/cam/; needs the clips' audio)")
    _old_spelling(p, "--cam-method", p.add_argument("--method", choices=["gradcam", "occlusion"], default="gradcam",
                                                    help="how the --cam maps are made"))

    p = command("evaluate", "score a run on a test split (per clip: accuracy, MAP@3, per-label F1) "
                            "and write a Kaggle submission.csv")
    p.add_argument("run_dir")
    p.add_argument("source", nargs="?", default=None,
                   help="render folder with split=test rows, or audio (FSDKaggle2018 root, folder, CSV) that is "
                        "rendered with the run's parameters (default: the run's own render folder)")
    _old_spelling(p, "--spec-out", p.add_argument(
        "--render-out", default=None, metavar="DIR",
        help="where audio SOURCE is rendered into spectrogram images with the run's parameters (default: "
             "<RUN_DIR>_test_spectrograms/<SOURCE name>/ next to the run folder); the scores go into RUN_DIR"))
    p.add_argument("--jobs", type=int, default=-1, help="rendering worker processes (-1: all cores)")

    p = command("predict", "top labels of audio files (wav, flac, ogg, mp3...; any length)")
    p.add_argument("run_dir", help="run folder (with --onnx it may be left out: the model holds everything)")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="audio files and folders (searched recursively for audio extensions)")
    _old_spelling(p, "--top", p.add_argument("--top-k", type=int, default=3, metavar="K", help="labels per file"))
    p.add_argument("--json", action="store_true", help="print JSON: [{file, top: [{label, probability}]}]")
    p.add_argument("--onnx", default=None, metavar="MODEL",
                   help="predict with this exported ONNX model (audiospec export) and onnxruntime, without torch")
    p.add_argument("--csv", default=None, metavar="FILE",
                   help="write file,duration,n_windows,label_1,probability_1,...,error here, one row per file as it "
                        "is done")
    p.add_argument("--timeline", default=None, metavar="DIR",
                   help="write DIR/timeline.csv (one row per window: start_s, end_s, top labels) and a plot of the "
                        "label probabilities over time per file")
    p.add_argument("--explain", default=None, metavar="DIR",
                   help="also write what `audiospec explain` writes (maps, pictures, sounds, explain.json) for the "
                        "predicted files, each for its top label")
    _old_spelling(p, "--explain-method", p.add_argument("--method", choices=["gradcam", "occlusion"], default="gradcam",
                                                        help="how the --explain maps are made"))

    p = command("export", "export a run as one ONNX model: raw audio in, class probabilities out")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--sr", type=int, default=None,
                   help="input sample rate in Hz (default: the run's; needed for runs rendered with sr=None)")
    p.add_argument("--no-quantize", action="store_true",
                   help="keep the pixels continuous instead of rounding them to 8 bits as the training images were")

    p = command("explain", "what the model listens to in each file: a map over its spectrogram (npy, png), the "
                           "sound where the map is high (wav), explain.json")
    p.add_argument("run_dir")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (any length)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--label", default=None, help="explain this label for every file (default: each file's top label)")
    p.add_argument("--method", choices=["gradcam", "occlusion"], default="gradcam",
                   help="gradcam: LayerCAM on the ResNet's layer2 and layer3, fused (fast); occlusion: sliding patches "
                        "(slow, finer in frequency)")
    p.add_argument("--json", action="store_true", help="print the rows of explain.json as JSON")

    _add_app_commands(command)

    p = command("demo", "the whole course on the mini dataset: generate, render, train, interpret")
    p.add_argument("--out", default="runs/demo", help="run folder")
    _old_spelling(p, "--data", p.add_argument("--data-out", default="data/mini", metavar="DIR",
                                              help="where the mini dataset is generated"))
    _add_training_options(p, defaults=DEMO_CONFIG, only=("epochs", "img_size", "crop_seconds", "pretrained",
                                                          "weights"))
    p = command("compare", "baselines and spectrogram kinds side by side on one split: comparison.csv, .png")
    p.add_argument("source", help="folder per class, CSV (fname,label), or FSDKaggle2018 root")
    p.add_argument("--out", required=True, help="output folder (comparison.csv, comparison.png, rows/, spectrograms/)")
    _old_spelling(p, "--methods", p.add_argument(
        "--method", nargs="+", default=["all"], metavar="ROW",
        help="one or more rows: gbm small_cnn resnet34_logmel resnet34_stft resnet34_mfcc resnet34_chroma "
             "resnet34_stack, or groups: all baselines kinds"))
    p.add_argument("--n-per-label", type=int, default=None, help="use at most N clips per label, for a quicker run")
    _add_training_options(p, groups=("training", "split"), defaults=COMPARE_CONFIG,
                          only=("epochs", "img_size", "crop_seconds", "bs", "seed", "pretrained", "weights", "valid_pct"))
    p.add_argument("--sr", type=int, default=None,
                   help="resample every clip to this rate in Hz (default: the most common rate of the clips)")
    p.add_argument("--width", type=int, default=None,
                   help="render images this many pixels wide; None: one column per frame")
    p.add_argument("--jobs", type=int, default=-1, help="worker processes for rendering, -1: all cores")
    p.add_argument("--force", action="store_true", help="retrain rows that already have a result")
    return parser


def _add_app_commands(command) -> None:
    """``audiospec app`` and ``audiospec space`` (issue 30: share a model)."""
    for name, help in (("app", "serve a model's web page on this machine: audio in, labels, the spectrogram with "
                               "where the model heard them, a timeline, the model card"),
                       ("space", "write a folder that runs the web page as a Hugging Face Space as it is")):
        p = command(name, help)
        p.add_argument("model", metavar="MODEL", help="a trained run folder (exported on the way) or a model.onnx")
        if name == "app":
            p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every one)")
            p.add_argument("--port", type=int, default=None, help="port (default: 7860 or the next free one)")
            p.add_argument("--examples", default=None, metavar="DIR", help="a folder of audio files shown as examples")
        else:
            p.add_argument("--out", required=True, metavar="DIR", help="the Space folder to write")
            p.add_argument("--examples", default=None, metavar="DIR",
                           help="copy up to --n-examples clips of at most 10 s from this folder into examples/ "
                                "(default: one validation clip per label of the run)")
            p.add_argument("--n-examples", type=int, default=4, help="examples copied at most")
            p.add_argument("--title", default=None, help="the Space's title (default: the run's name)")
            p.add_argument("--license", default="apache-2.0", help="the Space's licence (Hugging Face's identifier)")
            p.add_argument("--force", action="store_true", help="write into a non-empty folder not written by "
                                                                "`audiospec space`")
        p.add_argument("--max-seconds", type=float, default=60.0, help="longest input accepted, seconds (0: any length)")
        p.add_argument("--top-k", type=int, default=3, help="labels shown")
        p.add_argument("--explain-windows", type=int, default=4,
                       help="windows of each clip explained by occlusion, those of most evidence (0: no map)")
        p.add_argument("--concurrency", type=int, default=2, help="requests computed at once (the queue holds the rest)")


def _params(args):
    from .features.params import AUTO_RATE, SpectrogramParams

    return SpectrogramParams(sr=args.sr or AUTO_RATE, n_fft=args.n_fft, hop_length=args.hop_length, n_mels=args.n_mels,
                             fmin=args.fmin, fmax=args.fmax, top_db=args.top_db, clip_policy=args.clip_policy,
                             duration=args.duration, cmap=args.cmap, kind=args.kind, n_mfcc=args.n_mfcc,
                             channels=tuple(c.strip() for c in args.channels.split(",") if c.strip()),
                             width=args.width)


def _render_summary(manifest, out, seconds) -> str:
    from .features.folders import MANIFEST

    s = manifest.attrs["summary"]
    line = (f"{s['n_clips']} clips: {s['rendered']} rendered, {s['already_done']} already done, "
            f"{s['failed']} skipped, {s['silent']} silent; {s['n_images']} images in {out}")
    if s["rendered"]:
        line += f" ({s['rendered'] / max(seconds, 1e-9):.0f} clips/s)"
    if s["failed"]:
        line += f"\n{s['failed']} of {s['n_clips']} clips skipped: see {Path(out) / MANIFEST} (column 'error')"
    return line


def _cmd_mini(args):
    from .audio.mini import make_mini_dataset

    root = make_mini_dataset(args.out, seed=args.seed, progress=not args.quiet)
    print(f"mini dataset (synthetic) in {root}")


def _cmd_download(args):
    from .audio.download import download_fsdkaggle2018

    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    root = download_fsdkaggle2018(args.out, parts=parts, mirror=args.mirror, keep_archives=args.keep_archives,
                                  progress=not args.quiet)
    print(f"FSDKaggle2018 ({', '.join(parts)}) in {root}")


def _cmd_render(args):
    from .features.render import render_spectrograms

    params = _params(args)
    start = time.time()
    source = args.source
    if args.group_pattern is not None:
        from .audio.datasets import load_source

        source = load_source(args.source, group_pattern=args.group_pattern)
    manifest = render_spectrograms(source, args.out, params, n_jobs=args.jobs, progress=not args.quiet,
                                   retry_failed=args.retry_failed, client=args.scheduler)
    print(_render_summary(manifest, args.out, time.time() - start))
    s = manifest.attrs["summary"]
    if s["n_images"] == 0:
        print("audiospec: error: no image could be rendered", file=sys.stderr)
        return 1
    if args.strict and s["failed"]:
        return 1
    return 0


def _cmd_train(args):
    from .assess.evaluate import format_interval
    from .learn.train import train_classifier

    _, m = train_classifier(args.spec_dir, args.out, _training_config(args), progress=not args.quiet,
                            restart=args.restart)
    if m is None:  # a secondary process of a distributed training: the main process reports
        return 0
    if m.get("lr_find"):
        print(f"lr_find: suggested {m['lr_find']['valley']:.2e} (valley), plot in {Path(args.out) / 'lr_find.png'}")
    sp = m["split"]
    how = {"group": f"grouped by source recording, {sp['n_valid_groups']} groups",
           "fold": f"fold {sp['valid_fold']}",
           "clip": "per clip: no groups, may be optimistic"}[sp["split_by"]]
    interval = format_interval(m.get("valid_interval"))
    print(f"validation: accuracy {m['accuracy']:.3f}{f' [{interval}]' if interval else ''}, error_rate "
          f"{m['error_rate']:.3f}, MAP@3 {m['map_at_3']:.3f} ({m['n_valid']} clips, {how}; {m['n_train']} train "
          f"clips, {len(m['classes'])} labels; recipe {m['recipe']}, {m['epochs']} epochs of {m['arch']}, {m['seconds']:.0f} s)")
    if sp.get("test_fold") is not None:
        print(f"fold {sp['test_fold']} ({sp['n_test']} clips) held out: score it with `audiospec evaluate {args.out}`")
    print(f"model and metrics in {Path(args.out).resolve()}")


def _cmd_cv(args):
    import pandas as pd

    from .assess.cv import CV_CHART, CV_TABLE, cross_validate

    if args.folds is not None and args.folds < 2:
        raise ParameterError(f"--folds is the number of folds to make, at least 2, got {args.folds}; to hold out "
                             f"only fold {args.folds} of the data's own folds: --test-folds {args.folds}")
    table = cross_validate(args.source, args.out, folds=args.test_folds, k=args.folds or 5, params=_params(args),
                           n_jobs=args.jobs, progress=not args.quiet, force=args.force, config=_training_config(args))
    out = Path(args.out).resolve()
    made = "grouped, stratified folds made here" if table.attrs.get("folds_from") == "made" else "the data's own folds"
    print(f"cross-validation on {made}: each fold held out once")
    if args.folds is not None and table.attrs.get("folds_from") != "made":
        print(f"audiospec cv: note: --folds {args.folds} (the number of folds to make) was not used: the data has "
              f"its own folds; to hold out only some of them: --test-folds LIST", file=sys.stderr)
    with pd.option_context("display.width", 160):
        print(table.round(3).drop(columns=["error"]).to_string(index=False))
    failed = table["error"].fillna("").astype(bool)
    if failed.any():
        print(f"{int(failed.sum())} fold(s) failed: see {out / CV_TABLE} (column error)", file=sys.stderr)
    print(f"table: {out / CV_TABLE}\nchart: {out / CV_CHART}")
    return 1 if failed.all() else 0


def _cmd_interpret(args):
    from .explain.interpret import interpret_run

    res = interpret_run(args.run_dir, k=args.top_losses, spec_dir=args.spec_dir, cam=args.cam,
                        cam_method=args.method)
    print(f"validation accuracy {res['accuracy']:.3f}, MAP@3 {res['map_at_3']:.3f}")
    worst = res["tables"]["per_class"].head(3)
    print("lowest F1: " + ", ".join(f"{i} {r.f1:.2f}" for i, r in worst.iterrows()))
    confused = res["tables"]["most_confused"].head(3)
    if len(confused):
        print("most confused: " + ", ".join(f"{r.true} -> {r.predicted} ({r.count})" for r in confused.itertuples()))
    for name, path in res["figures"].items():
        print(f"  {name}: {path}")
    if "cam" in res:
        c = res["cam"]
        print(f"  maps of the top losses: {Path(args.run_dir).resolve() / 'cam' / 'top_losses'}")
        if c["figure"]:
            print(f"  mean map per label: {c['figure']}")
        if c["errors"]:
            print(f"{len(c['errors'])} validation clip(s) could not be explained, e.g. {c['errors'][0]['file']}: "
                  f"{c['errors'][0]['error']}", file=sys.stderr)


def _cmd_evaluate(args):
    from .assess.evaluate import evaluate_run, format_test_score
    from .learn.run import Run

    with warnings.catch_warnings():  # the failed clips are in the result: said once, below, without a traceback line
        warnings.filterwarnings("ignore", message=r".*could not be loaded or rendered", category=UserWarning)
        r = evaluate_run(args.run_dir, args.source, spec_out=args.render_out, n_jobs=args.jobs,
                         progress=not args.quiet)
    if r["failed"]:
        names = ", ".join(f"{f['fname']} ({f['error']})" for f in r["failed"])
        print(f"audiospec evaluate: warning: {len(r['failed'])} test clip(s) could not be loaded or rendered and get "
              f"the fallback prediction {' '.join(r['fallback_labels'])} (the most frequent training labels): "
              f"{names}", file=sys.stderr)
    print(format_test_score(r))
    print(f"scores: {Path(args.run_dir).resolve() / Run.TEST_METRICS}")


def _cmd_predict(args):
    from .infer.predict import format_predictions
    from .infer.predict_batch import TIMELINE_CSV, FastaiBackend, OnnxBackend, predict_paths
    from .learn.run import Run

    inputs = list(args.files)
    if args.onnx:  # RUN_DIR is optional: a run folder given anyway is not read
        if not (Path(args.run_dir) / Run.EXPORT).is_file():
            inputs.insert(0, args.run_dir)
    if not inputs:
        raise ParameterError("give at least one audio FILE or folder after RUN_DIR")
    if args.explain and args.onnx:
        raise ParameterError("--explain runs the run's own model (Grad-CAM, occlusion): give RUN_DIR, not --onnx")
    # stdout carries the JSON alone: whatever is printed while predicting goes to stderr
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        backend = OnnxBackend(args.onnx) if args.onnx else FastaiBackend(args.run_dir)
        res = predict_paths(backend, inputs, k=args.top_k, csv_path=args.csv, timeline=args.timeline,
                            progress=not args.quiet and len(inputs) + sum(Path(i).is_dir() for i in inputs) > 1)
        if args.explain:  # the maps of what the model heard in each predicted file (as `audiospec explain`)
            _explain_predicted(args, backend, res)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(format_predictions(res))
    if args.csv:
        print(f"table: {Path(args.csv).resolve()}", file=sys.stderr)
    if args.timeline:
        print(f"timeline: {Path(args.timeline).resolve() / TIMELINE_CSV}", file=sys.stderr)
    return 1 if all("error" in r for r in res) else 0


def _cmd_export(args):
    from .infer.export_onnx import export_onnx

    res = export_onnx(args.run_dir, args.out, sr=args.sr, quantize=not args.no_quantize)
    m = res["metadata"]
    print(f"ONNX model ({res['bytes'] / 1e6:.1f} MB, opset {m['opset']}): {res['path'].resolve()}\n"
          f"input: mono float32 audio at {m['sample_rate']} Hz; {len(m['labels'])} labels; windows of "
          f"{m['crop_seconds']:.2f} s; predict with `audiospec predict --onnx {args.out} FILE...`")


def _cmd_demo(args):
    from .demo import run_demo

    run_demo(args.out, _training_config(args), data_dir=args.data_out, progress=not args.quiet)


def _cmd_compare(args):
    import pandas as pd

    from .assess.compare import COMPARISON_CHART, COMPARISON_TABLE, compare
    from .features.params import SpectrogramParams

    cfg = _training_config(args)
    pretrained = (True if cfg.weights else None) if cfg.pretrained is None else cfg.pretrained
    df = compare(args.source, args.out, methods=args.method, epochs=cfg.epochs, img_size=cfg.img_size,
                 bs=cfg.bs, crop_seconds=cfg.crop_seconds, seed=cfg.seed, valid_pct=cfg.valid_pct,
                 n_per_label=args.n_per_label, params=SpectrogramParams(sr=args.sr or "auto", width=args.width),
                 pretrained=pretrained, weights=cfg.weights, n_jobs=args.jobs, force=args.force,
                 progress=not args.quiet)
    split = df.attrs["split"]
    print(f"{split.describe()}; {len(split.vocab)} labels; the same split for every row")
    with pd.option_context("display.width", 160, "display.max_colwidth", 60):
        print(df.drop(columns=["n_train", "n_valid"]).round(3).to_string(index=False))
    out = Path(args.out).resolve()
    print(f"table: {out / COMPARISON_TABLE}\nchart: {out / COMPARISON_CHART}")
    failed = df["error"].astype(bool)
    if failed.any():
        print(f"{int(failed.sum())} of {len(df)} rows failed: see the error column", file=sys.stderr)
    return 1 if failed.all() else 0


def _explain_rows_summary(rows, out) -> str:
    from .explain.explanation import EXPLAIN_JSON

    lines = []
    for r in rows:
        if "error" in r:
            lines.append(f"{r['file']}  error: {r['error']}")
        else:
            where = "" if r["centre_s"] is None else f", centre {r['centre_s']:.2f} s, {r['centre_hz']:.0f} Hz"
            lines.append(f"{r['file']}  {r['label']} ({r['probability']:.2f}){where}")
    lines.append(f"maps, pictures and sounds in {Path(out).resolve()} ({Path(out).resolve() / EXPLAIN_JSON})")
    return "\n".join(lines)


def _explain_predicted(args, backend, res) -> None:
    from .explain.explanation import explain_files

    files = [r["file"] for r in res if "error" not in r]
    rows = explain_files(backend.run, files, args.explain, method=args.method, learn=backend.learn)
    print(_explain_rows_summary(rows, args.explain), file=sys.stderr)


def _cmd_explain(args):
    from .explain.explanation import explain_files

    # stdout carries the JSON alone: whatever is printed while explaining goes to stderr
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        rows = explain_files(args.run_dir, args.files, args.out, label=args.label, method=args.method,
                             progress=not args.quiet)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(_explain_rows_summary(rows, args.out))
    return 1 if all("error" in r for r in rows) else 0


def _cmd_app(args):
    from .share.app import AppModel, build_app, launch_app
    from .share.export_app import prepare_model

    prepared = prepare_model(args.model, progress=lambda line: print(line, file=sys.stderr))
    model = AppModel(prepared["model"], prepared["windows"], prepared["card"])
    demo = build_app(model, examples=args.examples, max_seconds=args.max_seconds or None, top_k=args.top_k,
                     explain_windows=args.explain_windows, concurrency=args.concurrency)
    print(f"serving {prepared['model']} ({len(model.labels)} labels) on {args.host} (Ctrl-C stops it)",
          file=sys.stderr)
    launch_app(demo, host=args.host, port=args.port, quiet=args.quiet)


def _cmd_space(args):
    from .share.space import write_space

    res = write_space(args.model, args.out, examples=args.examples, n_examples=args.n_examples, title=args.title,
                      licence=args.license, max_seconds=args.max_seconds or None, top_k=args.top_k,
                      explain_windows=args.explain_windows, concurrency=args.concurrency, force=args.force,
                      progress=lambda line: print(line, file=sys.stderr))
    out = res["out"].resolve()
    print(f"Space folder ({res['bytes'] / 1e6:.1f} MB, {len(res['examples'])} examples): {out}\n"
          f"try it: cd {out} && python app.py\n"
          f"publish: hf repos create USER/SPACE_NAME --repo-type space --space-sdk gradio, then "
          f"hf upload USER/SPACE_NAME {out} . --repo-type space")


COMMANDS = {"mini": _cmd_mini, "download": _cmd_download, "render": _cmd_render, "train": _cmd_train,
            "interpret": _cmd_interpret, "evaluate": _cmd_evaluate, "predict": _cmd_predict, "demo": _cmd_demo,
            "compare": _cmd_compare, "cv": _cmd_cv, "export": _cmd_export, "explain": _cmd_explain,
            "app": _cmd_app, "space": _cmd_space}


#: Deprecation noise of the libraries below the toolkit (torch, fastai...), filtered where the command
#: starts (e.g. the ``torch.jit.script`` FutureWarning fastai triggers on import): the user can do nothing
#: about it. The toolkit's own warnings (e.g. clips that failed) are kept.
NOISY_LIBRARIES = r"(torch|torchvision|fastai|fastcore|fastprogress|fasttransform|plum|timm)(\.|$)"


def _filter_library_noise() -> None:
    """Ignore the libraries' FutureWarning/DeprecationWarning (also in worker processes, via the environment)."""
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    for category in (FutureWarning, DeprecationWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=NOISY_LIBRARIES)
    # processes started by the command (rendering workers) read their filters from PYTHONWARNINGS
    noise = "ignore::FutureWarning:torch.jit._script"
    if noise not in os.environ.get("PYTHONWARNINGS", ""):
        os.environ["PYTHONWARNINGS"] = ",".join(w for w in (os.environ.get("PYTHONWARNINGS"), noise) if w)


def main(argv=None) -> int:
    """Entry point of the ``audiospec`` command; returns the exit status."""
    _filter_library_noise()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    for noisy in ("PIL", "matplotlib", "numba", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return COMMANDS[args.command](args) or 0
    except AudiospecError as err:
        if isinstance(err, TrainingInterrupted):
            print(f"\naudiospec {args.command}: {err}", file=sys.stderr)
            return 130
        print(f"audiospec {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\naudiospec {args.command}: interrupted. What was done is kept: run the same command again to "
              f"continue.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
