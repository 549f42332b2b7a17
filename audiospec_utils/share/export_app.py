"""What the web app and a Hugging Face Space need beside the exported model: its window network and its card.

:func:`audiospec_utils.infer.export_onnx.export_onnx` writes a run as one ONNX model, raw audio in and
probabilities out. The app (:mod:`audiospec_utils.share.app`) also shows *where* the model heard its label,
by occlusion (:mod:`audiospec_utils.share.app_explain`): hundreds of slightly changed copies of each window
of the clip's image go through the network. That needs the network alone, images in, so this module
writes two files next to ``model.onnx``:

``model_windows.onnx`` (:func:`export_window_network`)
    The network with its softmax, cut out of ``model.onnx`` itself (the same nodes and weights):
    input ``windows`` float32 ``(n_windows, 3, height, crop_frames)``, normalised as the model
    normalises them; output ``probabilities`` float32 ``(n_windows, n_classes)``. It needs the
    ``onnx`` package to be written (not torch) and onnxruntime alone to run, so it can be made from
    any exported model, also one whose run folder is gone.
``model_card.json`` (:func:`model_card`)
    What a person needs to trust the model: its labels, sample rate, what it was trained on, the
    held-out score (``test_metrics.json``, after ``audiospec evaluate``) or else the validation
    score, each with its 95% interval, and how the split was made (``metrics.json``).

:func:`prepare_model` does all of it for a run folder (exporting ``model.onnx`` first, into a cache
folder ``RUN/app/`` that is reused while the run's files are unchanged) or for an exported model.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from .. import __version__
from ..exceptions import ParameterError
from ..fileio import atomic_path, write_json_atomic
from ..infer.onnx_predict import METADATA_KEY
from ..learn.run import Run, as_run

__all__ = ["export_window_network", "model_card", "basic_card", "prepare_model", "window_network_path", "card_path",
           "CARD_KEY", "WINDOWS_KEY", "APP_CACHE"]

#: Input and output names of the window network.
WINDOWS_INPUT, WINDOWS_OUTPUT = "windows", "probabilities"
#: Metadata key of the window network holding the model card (JSON).
CARD_KEY = "audiospec_card"
#: Metadata key of the window network holding its description (JSON: height, crop frames, labels...).
WINDOWS_KEY = "audiospec_windows"
#: Folder inside a run where ``audiospec app RUN`` keeps the exported files.
APP_CACHE = "app"

#: Name of the full model's output that holds the network's window probabilities.
_NET_OUTPUT = "window_probabilities"


def window_network_path(model) -> Path:
    """Where the window network of `model` (``X.onnx``) lives: ``X_windows.onnx`` beside it."""
    model = Path(model)
    return model.with_name(f"{model.stem}_windows.onnx")


def card_path(model) -> Path:
    """Where the card of `model` (``X.onnx``) lives: ``X_card.json`` beside it."""
    model = Path(model)
    return model.with_name(f"{model.stem}_card.json")


def _network_nodes(graph):
    """The nodes from the windows to ``window_probabilities``, the windows' value name, the initializers used."""
    producer = {out: node for node in graph.node for out in node.output}
    if _NET_OUTPUT not in producer:
        raise ParameterError(f"the model has no {_NET_OUTPUT!r} output: not a model written by `audiospec export`")
    # the windows enter the network through the Identity the export names after the network's input
    # ("net/x"): walk back from the output until a value the front end ("pre/...") produced
    keep, stack, seen, entry = [], [_NET_OUTPUT], set(), None
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        node = producer.get(name)
        if node is None:
            continue  # an initializer
        if node.op_type == "Identity" and node.input[0].startswith("pre/"):
            entry = node.output[0]
            continue
        keep.append(node)
        stack.extend(i for i in node.input if i)
        for attr in node.attribute:  # a subgraph reads values of the enclosing graph by name
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                stack.extend(i for n in sub.node for i in n.input if i)
    if entry is None:
        raise ParameterError("the network's input was not found in the model: not a model written by "
                             "`audiospec export`")
    order = {id(n): i for i, n in enumerate(graph.node)}
    keep.sort(key=lambda n: order[id(n)])
    used = {i for n in keep for i in n.input} | seen
    inits = [t for t in graph.initializer if t.name in used]
    return keep, entry, inits


def export_window_network(model, out=None, *, card: dict | None = None) -> Path:
    """Write the network of an exported model alone: normalised image windows in, probabilities out.

    Parameters
    ----------
    model : str or os.PathLike
        A ``.onnx`` file written by :func:`audiospec_utils.infer.export_onnx.export_onnx`.
    out : str or os.PathLike or None
        The file to write; default :func:`window_network_path` (``X_windows.onnx`` beside `model`).
        Replaced atomically.
    card : dict or None
        A model card (:func:`model_card`) stored in the file's metadata (key :data:`CARD_KEY`).

    Returns
    -------
    pathlib.Path
        The file written. Its input :data:`WINDOWS_INPUT` is float32 ``(n_windows, 3, height,
        crop_frames)`` (dynamic ``n_windows``), the windows as the model feeds them to its network
        (pixels / 255, minus ``mean``, divided by ``std``); its output :data:`WINDOWS_OUTPUT` float32
        ``(n_windows, n_classes)``. Metadata: the model's own ``audiospec`` entry and
        :data:`WINDOWS_KEY` (JSON: ``height``, ``crop_frames``, ``channels``, ``labels``,
        ``source`` the model's file name).

    Raises
    ------
    ParameterError
        `model` is missing, not ONNX, or not an audiospec export (no metadata, no network output).

    Notes
    -----
    Needs the ``onnx`` package (``pip install "audiospec[deploy]"``), not torch. The nodes and
    weights are those of `model`, so the window network gives the model's window probabilities to
    float32 rounding (tests/test_app.py checks it).
    """
    import onnx
    from onnx import TensorProto, helper

    model = Path(model)
    if not model.is_file():
        raise ParameterError(f"{model}: no such ONNX model file")
    try:
        full = onnx.load(str(model))
    except Exception as err:  # onnx raises DecodeError, OSError...
        raise ParameterError(f"{model}: not an ONNX model ({type(err).__name__}: {err})") from None
    props = {p.key: p.value for p in full.metadata_props}
    if METADATA_KEY not in props:
        raise ParameterError(f"{model}: not an audiospec model (no {METADATA_KEY!r} metadata); export one with "
                             f"`audiospec export RUN --out model.onnx`")
    meta = json.loads(props[METADATA_KEY])
    nodes, entry, inits = _network_nodes(full.graph)
    height, length, n_classes = int(meta["height"]), int(meta["crop_frames"]), len(meta["labels"])
    # the network's first node reads `entry`: rename it to WINDOWS_INPUT, the last output to WINDOWS_OUTPUT
    rename = {entry: WINDOWS_INPUT, _NET_OUTPUT: WINDOWS_OUTPUT}
    for node in nodes:
        node.input[:] = [rename.get(i, i) for i in node.input]
        node.output[:] = [rename.get(o, o) for o in node.output]
    graph = helper.make_graph(
        nodes, "audiospec_windows",
        [helper.make_tensor_value_info(WINDOWS_INPUT, TensorProto.FLOAT, ["n_windows", 3, height, length])],
        [helper.make_tensor_value_info(WINDOWS_OUTPUT, TensorProto.FLOAT, ["n_windows", n_classes])],
        inits)
    net = helper.make_model(graph, opset_imports=list(full.opset_import), producer_name="audiospec",
                            functions=list(full.functions))
    net.ir_version = full.ir_version
    net.doc_string = (f"the network of {model.name}: normalised windows (n, 3, {height}, {length}) -> probabilities "
                      f"of {n_classes} labels")
    desc = {"format": 1, "source": model.name, "height": height, "crop_frames": length,
            "channels": int(meta.get("channels", 1)), "labels": meta["labels"], "input": WINDOWS_INPUT,
            "output": WINDOWS_OUTPUT}
    entries = {METADATA_KEY: props[METADATA_KEY], WINDOWS_KEY: json.dumps(desc)}
    if card is not None:
        entries[CARD_KEY] = json.dumps(card)
    for key, value in entries.items():
        p = net.metadata_props.add()
        p.key, p.value = key, value
    onnx.checker.check_model(net)
    out = Path(out) if out is not None else window_network_path(model)
    with atomic_path(out) as tmp:
        tmp.write_bytes(net.SerializeToString())
    return out


# ----------------------------------------------------------------------------------------------
# The model card


def _split_words(split: dict) -> str:
    """How the split was made, in one sentence (as :meth:`audiospec_utils.audio.splits.Split.describe` says it)."""
    if not split:
        return "the split is not recorded"
    n_train, n_valid = split.get("n_train"), split.get("n_valid")
    how = {"group": f"by group: no source recording (group) on both sides, {split.get('n_valid_groups')} groups in "
                    f"validation",
           "fold": f"by fold: validation is fold {split.get('valid_fold')}",
           "clip": "per clip (no groups: may be optimistic for clips cut from longer recordings)"}.get(
        split.get("split_by"), f"by {split.get('split_by')}")
    line = f"{n_train} training and {n_valid} validation clips, split {how}"
    if split.get("test_fold") is not None:
        line += f"; fold {split['test_fold']} ({split.get('n_test')} clips) held out for testing"
    return line


def _score(name: str, metrics: dict, interval: dict | None, n_clips) -> dict:
    from ..assess.evaluate import format_interval

    out = {"name": name, "accuracy": metrics.get("accuracy"), "map_at_3": metrics.get("map_at_3"),
           "n_clips": n_clips}
    if interval and "accuracy" in interval:
        out["interval"] = interval["accuracy"]
        out["interval_text"] = format_interval(interval)
    return out


def _trained_on(metrics: dict) -> str:
    counts = metrics.get("train_label_counts") or {}
    spec = metrics.get("spec_dir")
    where = f" (render folder {Path(spec).name!r})" if spec else ""
    n = metrics.get("n_train")
    if counts:
        per = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        return f"{n} training clips of {len(counts)} labels{where}: {per}"
    return f"{n} training clips{where}"


def _training_words(metrics: dict) -> str:
    arch = {"resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50"}.get(
        metrics.get("arch"), metrics.get("arch") or "a ResNet")
    start = "ImageNet weights" if metrics.get("pretrained") else "from scratch"
    epochs = metrics.get("epochs")
    parts = [f"{arch} ({start})", f"{epochs} epoch{'' if epochs == 1 else 's'}" if epochs else None,
             f"images {metrics.get('img_size')} px high" if metrics.get("img_size") else None,
             f"{metrics.get('crop_seconds'):g} s crops" if metrics.get("crop_seconds") else None,
             f"recipe {metrics['recipe']}" if metrics.get("recipe") else None]
    return ", ".join(p for p in parts if p)


def model_card(run, *, model_metadata: dict | None = None) -> dict:
    """A model card from a run folder: labels, rate, training data, scores with intervals, the split.

    Parameters
    ----------
    run : Run or str or os.PathLike
        A trained run folder (``metrics.json``; ``test_metrics.json`` when ``audiospec evaluate``
        has scored it).
    model_metadata : dict or None
        The exported model's ``audiospec`` metadata (for the sample rate and window length when
        the run's parameters cannot say; default: read from the run).

    Returns
    -------
    dict
        JSON-ready: ``format`` (1), ``title`` (the run folder's name), ``labels``, ``sample_rate``
        (Hz), ``window_seconds`` (the length the model reads at a time), ``trained_on`` (str),
        ``training`` (str: network, epochs, image height, crops), ``split`` (str: how the
        validation clips were chosen), ``scores``: a list of ``{"name", "accuracy", "map_at_3",
        "n_clips", "interval" [low, high], "interval_text"}``, the held-out test score first when
        there is one, then the validation score; ``created`` (ISO date), ``audiospec_version``.

    Raises
    ------
    DatasetError
        The run has no ``metrics.json``.
    """
    run = as_run(run)
    metrics = run.metrics
    meta = model_metadata or {}
    scores = []
    test_file = run.file(Run.TEST_METRICS)
    if test_file.is_file():
        try:
            tm = json.loads(test_file.read_text())
        except ValueError:
            tm = {}
        if tm.get("n_scored"):
            scores.append(_score(f"held-out test accuracy ({tm.get('selected') or 'test split'})", tm,
                                 tm.get("interval"), tm.get("n_scored")))
    scores.append(_score("validation accuracy", metrics, metrics.get("valid_interval"), metrics.get("n_valid")))
    crop = metrics.get("crop") or {}
    sr = meta.get("sample_rate")
    if sr is None:
        params = run.spec_params
        sr = getattr(params, "target_sr", None) or params.sr
    return {
        "format": 1,
        "title": run.path.name,
        "labels": [str(c) for c in metrics.get("classes") or meta.get("labels") or []],
        "sample_rate": int(sr) if sr else None,
        "window_seconds": float(meta.get("crop_seconds") or crop.get("crop_seconds") or metrics.get("crop_seconds")
                                or 0.0),
        "trained_on": _trained_on(metrics),
        "training": _training_words(metrics),
        "split": _split_words(metrics.get("split") or {}),
        "scores": scores,
        "created": time.strftime("%Y-%m-%d"),
        "audiospec_version": __version__,
    }


# ----------------------------------------------------------------------------------------------
# Everything for the app


def _fresh(target: Path, sources) -> bool:
    """`target` exists and is newer than every existing file of `sources`."""
    if not target.is_file():
        return False
    t = target.stat().st_mtime_ns
    return all(t >= s.stat().st_mtime_ns for s in sources if s.is_file())


def _writable_dir(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def prepare_model(model, *, cache=None, force: bool = False, progress=None) -> dict:
    """The files the app serves, made when missing: ``model.onnx``, its window network, its card.

    Parameters
    ----------
    model : str or os.PathLike or Run
        A trained run folder (with ``export.pkl``), or an exported ``.onnx`` model.
    cache : str or os.PathLike or None
        For a run folder: where to export (default ``RUN/app/``, or a temporary folder when the
        run folder is read-only). For a model: where to write its window network when the
        model's own folder is read-only (default a temporary folder).
    force : bool
        Export again even when the cached files are newer than the run's.
    progress : callable or None
        Called with a short line before each slow step (``print``, a logger...).

    Returns
    -------
    dict
        ``model`` (pathlib.Path of the ``.onnx``), ``windows`` (its window network, or None when
        it cannot be made: the ``onnx`` package is missing), ``card`` (dict; for a bare model
        whose card file is absent, a card made from the model's metadata), ``card_path`` (the
        ``X_card.json`` file, or None).

    Raises
    ------
    ParameterError
        `model` is neither a run folder nor an ``.onnx`` file, or the model is not an audiospec
        export.
    DatasetError
        The run folder cannot be exported (see :func:`audiospec_utils.infer.export_onnx.export_onnx`).
    """
    say = progress or (lambda line: None)
    path = Path(model.path if isinstance(model, Run) else model)
    if path.is_dir():
        run = Run(path)
        if not (run.path / Run.EXPORT).is_file():
            raise ParameterError(f"{path}: a folder without {Run.EXPORT}: give a trained run folder or an exported "
                                 f"model.onnx")
        folder = Path(cache) if cache is not None else run.path / APP_CACHE
        if not _writable_dir(folder):
            folder = Path(tempfile.mkdtemp(prefix="audiospec_app_"))
        onnx_path = folder / "model.onnx"
        sources = [run.path / Run.EXPORT, run.path / Run.METRICS, run.path / Run.TEST_METRICS, run.path / "params.json"]
        if force or not _fresh(onnx_path, sources):
            from ..infer.export_onnx import export_onnx

            say(f"exporting {run.path.name} to {onnx_path} (once; kept while the run is unchanged)")
            meta = export_onnx(run, onnx_path)["metadata"]
        else:
            meta = _read_metadata(onnx_path)
        card = model_card(run, model_metadata=meta)
        cpath = write_json_atomic(card_path(onnx_path), card)
        windows = window_network_path(onnx_path)
        if force or not _fresh(windows, [onnx_path, cpath]):
            say(f"writing the window network {windows.name}")
            export_window_network(onnx_path, windows, card=card)
        return {"model": onnx_path, "windows": windows, "card": card, "card_path": cpath}
    if not path.is_file() or path.suffix.lower() != ".onnx":
        raise ParameterError(f"{path}: neither a run folder nor an .onnx model file")
    meta = _read_metadata(path)
    cpath = card_path(path)
    windows = window_network_path(path)
    if cpath.is_file():
        card = json.loads(cpath.read_text())
    else:  # the card an earlier export stored in the window network, else the model's metadata
        card = _stored_card(windows) if windows.is_file() else None
        card = card or basic_card(meta, path)
    if not _fresh(windows, [path]) or force:
        if not _writable_dir(path.parent):
            windows = Path(cache or tempfile.mkdtemp(prefix="audiospec_app_")) / windows.name
        try:
            say(f"writing the window network {windows}")
            export_window_network(path, windows, card=card)
        except ImportError:
            windows = None  # no onnx package: the app runs without explanations
    return {"model": path, "windows": windows, "card": card, "card_path": cpath if cpath.is_file() else None}


def _stored_card(windows: Path) -> dict | None:
    import onnxruntime as ort

    try:
        props = ort.InferenceSession(str(windows), providers=["CPUExecutionProvider"]).get_modelmeta()
    except Exception:  # not loadable: written again below
        return None
    value = props.custom_metadata_map.get(CARD_KEY)
    return json.loads(value) if value else None


def _read_metadata(path: Path) -> dict:
    from ..infer.onnx_predict import OnnxClassifier

    return OnnxClassifier(path, threads=1).metadata


def basic_card(meta: dict, path) -> dict:
    """A card from a model's metadata alone (no run folder to read scores from).

    Parameters
    ----------
    meta : dict
        The model's ``audiospec`` metadata.
    path : str or os.PathLike
        The model file (its name is the title when the metadata names no run).

    Returns
    -------
    dict
        As :func:`model_card`, with ``scores`` empty and ``trained_on`` saying that it is unknown.
    """
    return {"format": 1, "title": meta.get("run") or Path(path).stem, "labels": list(meta.get("labels", [])),
            "sample_rate": meta.get("sample_rate"), "window_seconds": meta.get("crop_seconds"),
            "trained_on": "unknown (no model card beside the model: export from the run folder with "
                          "`audiospec space RUN` to include it)",
            "training": "", "split": "", "scores": [], "created": time.strftime("%Y-%m-%d"),
            "audiospec_version": meta.get("audiospec_version", __version__)}

