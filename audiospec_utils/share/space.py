"""A folder that runs a model's web page as a Hugging Face Space, as it is (``audiospec space``).

:func:`write_space` writes::

    DIR/
      app.py              the page (audiospec_utils.share.app), started by `python app.py`
      audiospec_app/      the modules of audiospec the page imports, copied (no torch, no fastai, no librosa)
      model.onnx          the model: raw audio in, probabilities out (audiospec export)
      model_windows.onnx  its network alone, for the maps (audiospec_utils.share.export_app)
      model_card.json     labels, rate, training data, scores with intervals, the split
      requirements.txt    numpy, soundfile, soxr, onnxruntime, gradio, matplotlib (the versions tested)
      README.md           the Space's front matter (sdk: gradio, sdk_version, app_file...) and the card
      examples/           a few short clips
      .gitattributes      the large files through Git LFS (for `git push`)

``python app.py`` in a fresh virtual environment holding only ``requirements.txt`` serves the same
page as ``audiospec app`` (host from ``$GRADIO_SERVER_NAME``, port from ``$PORT`` or
``$GRADIO_SERVER_PORT``, as Spaces set them). Publish it with the Hugging Face CLI (``hf``, from
``huggingface_hub``): ``hf repos create USER/SPACE --repo-type space --space-sdk gradio`` once, then
``hf upload USER/SPACE DIR . --repo-type space`` (large files go through the Hub's own storage), or
push the folder to the Space's git repository (``.gitattributes`` sends the models through Git LFS).
"""

from __future__ import annotations

import ast
import json
import shutil
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path

from .. import __version__
from ..exceptions import ParameterError
from ..fileio import write_text_atomic
from .export_app import prepare_model

__all__ = ["write_space", "vendored_modules", "SPACE_PACKAGE", "SPACE_REQUIREMENTS", "ENTRY_MODULE"]

#: Name of the copied package inside the Space folder.
SPACE_PACKAGE = "audiospec_app"
#: The module whose imports are followed to choose what is copied.
ENTRY_MODULE = "share.app"
#: The distributions the Space installs (import name -> distribution name), pinned to the versions here.
SPACE_REQUIREMENTS = {"numpy": "numpy", "soundfile": "soundfile", "soxr": "soxr", "onnxruntime": "onnxruntime",
                      "gradio": "gradio", "matplotlib": "matplotlib"}
#: Marks a folder written by :func:`write_space` (so that writing it again may replace its files).
_MARKER = ".audiospec_space"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # audiospec_utils/


def _module_file(name: str) -> Path:
    """The file of the package's module `name` (``"share.app"``, ``"exceptions"``; a subpackage: its ``__init__``)."""
    path = _PACKAGE_DIR.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _module_imports(name: str) -> tuple[set[str], set[str]]:
    """The module-level imports of the package's module `name`: (its modules, by dotted name relative to
    the package, and the top-level packages of its absolute imports).

    Imports inside functions are not followed: they run only when their function does (e.g. the
    resampling of :func:`audiospec_utils.audio.decode.load_audio` to another rate, never used by the app).
    """
    path = _module_file(name)
    tree = ast.parse(path.read_text(), filename=str(path))
    here = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    siblings, absolute = set(), set()

    def module(parts):
        dotted = ".".join(parts)
        return dotted if dotted and (_PACKAGE_DIR.joinpath(*parts).is_dir()
                                     or _PACKAGE_DIR.joinpath(*parts).with_suffix(".py").is_file()) else None

    def visit(statements):
        for node in statements:
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                base = here[:len(here) - (node.level - 1)] + (node.module.split(".") if node.module else [])
                for alias in node.names:  # `from ..audio import decode` imports a module, not a name
                    found = module(base + [alias.name]) if alias.name != "__version__" else None
                    if found:
                        siblings.add(found)
                    elif module(base):
                        siblings.add(module(base))
                    elif alias.name != "__version__":
                        raise ParameterError(f"{path}: cannot resolve `from {'.' * node.level}{node.module or ''} "
                                             f"import {alias.name}`")
            elif isinstance(node, ast.ImportFrom) and node.module:
                absolute.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                absolute.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, (ast.If, ast.Try)):  # `if TYPE_CHECKING:`, `try: import x`
                visit(node.body)
                for h in getattr(node, "handlers", []):
                    visit(h.body)
                visit(node.orelse)
    visit(tree.body)
    return siblings, absolute


def vendored_modules(entry: str = ENTRY_MODULE) -> list[str]:
    """The modules of audiospec the page needs: `entry` and what it imports at module level, recursively.

    Returns
    -------
    list of str
        Module names relative to the package (``"share.app"``, ``"infer.onnx_predict"``, ``"exceptions"``...),
        sorted. The Space keeps the package's tree: ``audiospec_app/share/app.py`` and so on, each
        subpackage with an ``__init__.py`` of its own that imports nothing.

    Raises
    ------
    ParameterError
        One of them imports, at module level, a package the Space does not install (torch,
        librosa, pandas...): the message names the module and the package.
    """
    allowed = set(SPACE_REQUIREMENTS) | set(sys.stdlib_module_names) | {"__future__"}
    todo, seen = [entry], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        siblings, absolute = _module_imports(name)
        bad = sorted(absolute - allowed)
        if bad:
            raise ParameterError(f"audiospec_utils.{name} imports {', '.join(bad)} at module level, which a Space "
                                 f"does not install ({', '.join(sorted(SPACE_REQUIREMENTS))}): the page cannot be "
                                 f"copied")
        todo.extend(siblings - seen)
    return sorted(seen)


def _requirements() -> str:
    lines = ["# The page's runtime only: no torch, no fastai, no librosa (written by `audiospec space`)."]
    for dist in SPACE_REQUIREMENTS.values():
        try:
            lines.append(f"{dist}=={importlib_metadata.version(dist)}")
        except importlib_metadata.PackageNotFoundError:
            lines.append(dist)
    return "\n".join(lines) + "\n"


def _front_matter(title: str, licence: str, short: str) -> str:
    gradio = importlib_metadata.version("gradio")
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return "\n".join(["---", f"title: {json.dumps(title)}", "emoji: 🔊", "colorFrom: indigo", "colorTo: gray",
                      "sdk: gradio", f"sdk_version: {gradio}", f'python_version: "{py}"', "app_file: app.py",
                      f"license: {licence}", f"short_description: {json.dumps(short)}", "pinned: false", "---", ""])


_APP_PY = '''"""{title}: a Hugging Face Space written by `audiospec space` (audiospec {version}).

Runs as it is: `pip install -r requirements.txt && python app.py` (host from $GRADIO_SERVER_NAME,
port from $PORT or $GRADIO_SERVER_PORT, as Spaces set them; 127.0.0.1:7860 otherwise). The page is
audiospec's (audiospec_utils.share.app), copied into audiospec_app/share/ with the few modules it\nimports, in the package's own tree.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from {package}.share.app import serve_folder  # noqa: E402

demo = serve_folder(HERE, max_seconds={max_seconds!r}, top_k={top_k!r}, explain_windows={explain_windows!r},
                    concurrency={concurrency!r}, launch=__name__ == "__main__")
'''

_GITATTRIBUTES = "*.onnx filter=lfs diff=lfs merge=lfs -text\n*.wav filter=lfs diff=lfs merge=lfs -text\n"


def _choose_examples(model, examples, n: int, max_seconds) -> list[tuple[Path, str]]:
    """Up to `n` (source file, name in examples/) pairs: from `examples`, else one validation clip per label."""
    from ..audio.decode import audio_info, is_audio_file

    limit = min(10.0, max_seconds or 10.0)

    def short(p: Path) -> bool:
        try:
            return audio_info(p)["duration"] <= limit
        except Exception:  # unreadable: not an example
            return False

    if examples is not None:
        folder = Path(examples)
        if not folder.is_dir():
            raise ParameterError(f"{folder}: no such folder of examples")
        files = sorted(p for p in folder.rglob("*") if p.is_file() and is_audio_file(p))
        chosen = [p for p in files if short(p)][:n]
        return [(p, p.name) for p in chosen]
    run_dir = Path(model)
    valid = run_dir / "valid_items.csv"
    if not run_dir.is_dir() or not valid.is_file():
        return []
    import csv

    out, labels = [], set()
    with open(valid, newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: (r.get("label", ""), r.get("path", "")))
    for r in rows:
        p = Path(r.get("path") or "")
        if r.get("label") in labels or not p.is_file() or not short(p):
            continue
        labels.add(r["label"])
        out.append((p, f"{r['label']}_{p.name}"))
        if len(out) >= n:
            break
    return out


def write_space(model, out, *, examples=None, n_examples: int = 4, title: str | None = None,
                licence: str = "apache-2.0", max_seconds: float | None = 60.0, top_k: int = 3,
                explain_windows: int | None = 4, concurrency: int = 2, force: bool = False, cache=None,
                progress=None) -> dict:
    """Write a Hugging Face Space folder that serves `model`'s page as it is.

    Parameters
    ----------
    model : str or os.PathLike
        A trained run folder (exported on the way, with its model card) or an exported ``.onnx``
        (its ``X_windows.onnx`` and ``X_card.json`` used when beside it).
    out : str or os.PathLike
        The folder to write. It must be missing, empty, or written by this function before (its
        files are then replaced); `force` writes into any folder.
    examples : str or os.PathLike or None
        A folder of audio files: up to `n_examples` of at most 10 s are copied into ``examples/``.
        Default: one validation clip per label of the run (``valid_items.csv``), when the clips
        are still where they were.
    n_examples : int
        Examples copied at most.
    title : str or None
        The Space's title; default from the card (the run's name).
    licence : str
        The Space's licence (Hugging Face's identifiers: ``apache-2.0``, ``mit``, ``cc-by-4.0``...).
        The examples keep their own licences: check them before publishing.
    max_seconds, top_k, explain_windows, concurrency :
        The page's settings (:func:`audiospec_utils.share.app.build_app`), written into ``app.py``.
    force : bool
        Write into a non-empty folder that :func:`write_space` did not write.
    cache : str or os.PathLike or None
        Where a run folder is exported (:func:`audiospec_utils.share.export_app.prepare_model`; default
        ``RUN/app/``).
    progress : callable or None
        Called with a line before each slow step.

    Returns
    -------
    dict
        ``out`` (pathlib.Path), ``files`` (paths written, relative to `out`), ``modules`` (the
        copied modules), ``examples`` (names in ``examples/``), ``card`` (dict), ``bytes`` (size
        of the folder).

    Raises
    ------
    ParameterError
        `out` is a non-empty folder not written by this function (without `force`), `model` is
        neither a run folder nor an ``.onnx``, `examples` is not a folder, the model has no window
        network (the ``onnx`` package is needed to make it), or a module of the page imports a
        package the Space does not install.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / _MARKER).is_file() and not force:
        raise ParameterError(f"{out}: a folder that is not empty and was not written by `audiospec space`; choose "
                             f"another --out or pass --force")
    if isinstance(n_examples, bool) or not isinstance(n_examples, int) or n_examples < 0:
        raise ParameterError(f"n_examples must be an integer >= 0, got {n_examples!r}")
    modules = vendored_modules()
    prepared = prepare_model(model, cache=cache, progress=progress)
    if prepared["windows"] is None:
        raise ParameterError("the model's window network could not be made (the onnx package is missing: "
                             "pip install 'audiospec[deploy]')")
    card = dict(prepared["card"])
    title = title or f"{card.get('title', 'audiospec')} sound classifier"
    card["title"] = card.get("title") or title
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def copy(src: Path, rel: str):
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        written.append(rel)

    copy(prepared["model"], "model.onnx")
    copy(prepared["windows"], "model_windows.onnx")
    write_text_atomic(out / "model_card.json", json.dumps(card, indent=2) + "\n")
    written.append("model_card.json")
    pkg = out / SPACE_PACKAGE
    if pkg.is_dir():
        shutil.rmtree(pkg)
    for name in modules:
        rel = "/".join(name.split("."))
        copy(_module_file(name), f"{SPACE_PACKAGE}/{rel}/__init__.py" if _module_file(name).name == "__init__.py"
             else f"{SPACE_PACKAGE}/{rel}.py")
    for sub in sorted({m.split(".")[0] for m in modules if "." in m} - set(modules)):
        write_text_atomic(pkg / sub / "__init__.py", f'"""The modules of audiospec_utils.{sub} the page needs."""\n')
        written.append(f"{SPACE_PACKAGE}/{sub}/__init__.py")
    write_text_atomic(pkg / "__init__.py",
                      f'"""audiospec\'s web page and the light runtime it needs, copied from audiospec {__version__} '
                      f'by `audiospec space`."""\n\n__version__ = "{__version__}"\n')
    written.append(f"{SPACE_PACKAGE}/__init__.py")
    if (out / "examples").is_dir():
        shutil.rmtree(out / "examples")
    chosen = _choose_examples(model, examples, n_examples, max_seconds)
    for src, name in chosen:
        copy(src, f"examples/{name}")
    settings = {"max_seconds": max_seconds, "top_k": top_k, "explain_windows": explain_windows,
                "concurrency": concurrency}
    write_text_atomic(out / "app.py", _APP_PY.format(title=title, version=__version__, package=SPACE_PACKAGE,
                                                     **settings))
    write_text_atomic(out / "requirements.txt", _requirements())
    from .app import card_markdown

    n_labels = len(card.get("labels") or [])
    short = f"Names a sound among {n_labels} labels and shows where it heard it"[:60]
    readme = (_front_matter(title[:60], licence, short) + f"\n# {title}\n\n"
              "Upload a sound or record one: the model names it, draws the clip's spectrogram with the place "
              "where it heard the label (occlusion), and for a longer recording its labels window by window. "
              "The same page runs on your machine: `pip install -r requirements.txt && python app.py`.\n\n"
              "## Model card\n\n" + card_markdown(card) + "\n\n"
              + (f"## Examples\n\n{len(chosen)} clips in `examples/`"
                 + (" (from the model's validation clips, named by their label)" if examples is None else "")
                 + ". They keep their own licences: check them before making this Space public.\n\n"
                 if chosen else "")
              + f"Written by `audiospec space` (audiospec {__version__}).\n")
    write_text_atomic(out / "README.md", readme)
    write_text_atomic(out / ".gitattributes", _GITATTRIBUTES)
    write_text_atomic(out / _MARKER, json.dumps({"audiospec_version": __version__, "model": str(model)}) + "\n")
    written += ["app.py", "requirements.txt", "README.md", ".gitattributes", _MARKER]
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"out": out, "files": sorted(written), "modules": modules, "examples": [n for _, n in chosen],
            "card": card, "bytes": size}

