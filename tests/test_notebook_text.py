"""The notebooks' text agrees with the code, and every notebook ends as a course should.

What a notebook's markdown names in backticks must exist:

- functions, classes and attributes (``render_clip``, ``Run(...).spec_params``, ``learn.lr_find``,
  ``DataBlock``): importable from an ``audiospec_utils`` module, or from the library the notebook uses
  (fastai, scikit-learn, librosa, numpy...), or an attribute of the object named before the dot;
- snake_case names (``verified_weight``, ``n_fft``, ``train_seconds``): a function, attribute or
  parameter of the toolkit, a field of its settings, or a column of the tables it writes;
- ``cfg.<name>``: an attribute of ``course_config()`` (mini and real);
- ``AUDIOSPEC_*``: a variable that ``course_config()`` (or, for the set-up cell's, the README) documents;
- ``audiospec <command> ... --option`` and bare ``--option``: shown by ``audiospec <command> --help``
  (of a command named in the same cell, else of any command); fenced ``audiospec`` command lines too.

And each notebook ends with a questionnaire of at least 10 questions and at least 3 exercises.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CLI = [sys.executable, "-m", "audiospec_utils"]

#: Libraries whose names the notebooks' text may use, besides the toolkit.
LIBRARIES = ("fastai.vision.all", "fastai.interpret", "fastai.callback.hook", "fastai.callback.schedule",
             "sklearn.model_selection", "sklearn.ensemble", "sklearn.manifold", "sklearn.metrics", "librosa",
             "librosa.display", "librosa.feature", "numpy", "numpy.fft", "scipy.fft", "torch", "IPython.display",
             "PIL.Image", "pandas")

#: Objects the text names by their usual variable name.
VARIABLES = {"learn": "fastai.learner:Learner", "learn_fastai": "fastai.learner:Learner", "dls": "audiospec_utils.learn.dataloaders:SpectrogramDataLoaders",
             "split": "audiospec_utils.audio.splits:Split", "interp": "fastai.interpret:ClassificationInterpretation",
             "np": "numpy", "plt": "matplotlib.pyplot"}


def _cells(nb_path: Path, kind: str = "markdown") -> list[str]:
    return [c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            for c in json.loads(nb_path.read_text())["cells"] if c["cell_type"] == kind]


def _split_fences(text: str) -> tuple[str, list[str]]:
    """The text without its fenced code blocks, and the blocks' lines."""
    fences = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    return re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S), [ln for f in fences for ln in f.splitlines()]


def _backticked(text: str) -> list[str]:
    prose, _ = _split_fences(text)
    return [t.strip() for t in re.findall(r"`([^`\n]+)`", prose)]


@functools.lru_cache(maxsize=None)
def _toolkit() -> dict:
    """Every public name of the toolkit's modules -> object; plus parameter names and table columns."""
    import audiospec_utils

    names, params = {}, set()
    for info in pkgutil.walk_packages(audiospec_utils.__path__, "audiospec_utils."):
        short = info.name.rpartition(".")[2]
        if short.startswith("_"):  # __main__ runs the command line
            continue
        try:
            mod = importlib.import_module(info.name)
        except Exception:  # an optional dependency missing: its names are simply not known
            continue
        names.setdefault(short, mod)
        for name, obj in vars(mod).items():
            if name.startswith("__"):
                continue
            names.setdefault(name, obj)
            if callable(obj) and getattr(obj, "__module__", "").startswith("audiospec_utils"):
                targets = [obj] + ([m for _, m in inspect.getmembers(obj, inspect.isfunction)]
                                   if inspect.isclass(obj) else [])
                for target in targets:
                    try:
                        params.update(inspect.signature(target).parameters)
                    except (TypeError, ValueError):
                        pass
                if inspect.isclass(obj):
                    params.update(n for n in dir(obj) if not n.startswith("__"))
    from fastai.learner import Learner

    from audiospec_utils.assess import compare, cv
    from audiospec_utils.audio import benchmarks, datasets
    from audiospec_utils.learn import TrainingConfig, schedules
    from audiospec_utils.features import SpectrogramParams

    params.update(compare.ROWS, compare.COLUMNS, cv.CV_COLUMNS, TrainingConfig().to_dict(), schedules.SCHEDULES,
                  SpectrogramParams.defaults(), (n for n in dir(Learner) if not n.startswith("_")))
    # the columns of the clip tables, as the loaders document them (``freesound_id``, ``manually_verified``...)
    for mod in (datasets, benchmarks):
        docs = [mod.__doc__ or ""] + [f.__doc__ or "" for _, f in inspect.getmembers(mod, inspect.isfunction)]
        params.update(re.findall(r"``([a-z][a-z0-9_]*)``", "\n".join(docs)))
    return {"names": names, "params": params}


@functools.lru_cache(maxsize=None)
def _libraries() -> list:
    mods = []
    for name in LIBRARIES:
        try:
            mods.append(importlib.import_module(name))
        except ImportError:
            pass
    return mods


def _load(spec: str):
    mod, _, attr = spec.partition(":")
    obj = importlib.import_module(mod)
    return getattr(obj, attr) if attr else obj


def _resolve(dotted: str) -> bool:
    """Whether `a.b.c` names something: a toolkit or library name, then attributes along the dots."""
    parts = dotted.split(".")
    head = parts[0]
    tk = _toolkit()["names"]
    if head in VARIABLES:
        obj = _load(VARIABLES[head])
    elif head in tk:
        obj = tk[head]
    elif head == "audiospec_utils":
        obj = importlib.import_module("audiospec_utils")
        if len(parts) > 1 and parts[1] in tk and inspect.ismodule(tk[parts[1]]):
            obj, parts = tk[parts[1]], parts[1:]
    elif hasattr(builtins, head):
        obj = getattr(builtins, head)
    else:
        obj = next((getattr(m, head) for m in _libraries() if hasattr(m, head)), None)
        if obj is None:
            try:
                obj = importlib.import_module(head)
            except ImportError:
                return False
    for part in parts[1:]:
        if not hasattr(obj, part):
            if inspect.ismodule(obj):
                try:
                    obj = importlib.import_module(f"{obj.__name__}.{part}")
                    continue
                except ImportError:
                    pass
            return False
        obj = getattr(obj, part)
    return True


@functools.lru_cache(maxsize=None)
def _configs() -> list:
    from audiospec_utils.course.config import course_config

    return [course_config("mini"), course_config("fsdkaggle2018")]


@functools.lru_cache(maxsize=None)
def _commands() -> tuple:
    out = subprocess.run(CLI + ["--help"], capture_output=True, text=True, check=True).stdout
    block = out[out.index("COMMAND"):]
    return tuple(sorted(set(re.findall(r"^\s{4}([a-z]+)\s", block, flags=re.M))))


@functools.lru_cache(maxsize=None)
def _options(command: str) -> frozenset:
    res = subprocess.run(CLI + [command, "--help"], capture_output=True, text=True)
    assert res.returncode == 0, f"audiospec {command} --help failed: {res.stderr[-500:]}"
    return frozenset(re.findall(r"(--[a-z][a-z0-9-]*)", res.stdout))


@functools.lru_cache(maxsize=None)
def _documented_variables() -> frozenset:
    """Variables course_config() documents, and those the README documents (the set-up cell's AUDIOSPEC_SOURCE)."""
    import audiospec_utils.course.config as course

    return frozenset(re.findall(r"AUDIOSPEC_[A-Z_]+", (course.__doc__ or "") + (REPO / "README.md").read_text()))


IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
DOTTED = re.compile(rf"^{IDENT}(\.{IDENT})*$")


def _check_command_line(line: str) -> list[str]:
    words = line.split()
    if len(words) < 2 or words[0] != "audiospec":
        return []
    command = words[1]
    if command not in _commands():
        return [f"`{line}`: no command {command!r} (commands: {', '.join(_commands())})"]
    return [f"`{line}`: audiospec {command} has no {opt}" for opt in re.findall(r"(--[a-z][a-z0-9-]*)", line)
            if opt not in _options(command)]


def problems_of(text: str) -> list[str]:
    """Everything a markdown cell names that does not exist (an empty list when all is well)."""
    problems = []
    _, fenced = _split_fences(text)
    named = [c for c in re.findall(r"audiospec ([a-z]+)", text) if c in _commands()]
    for line in fenced:
        problems += _check_command_line(line.split("#")[0].strip())
    for token in _backticked(text):
        if token.startswith("audiospec "):
            problems += _check_command_line(token)
        elif token.startswith("--"):
            opt = token.split()[0].split("=")[0]
            pool = named or list(_commands())
            if not any(opt in _options(c) for c in pool):
                problems.append(f"`{token}`: no command among {', '.join(pool)} has {opt}")
        elif re.match(r"^AUDIOSPEC_[A-Z_]+", token):
            var = re.match(r"^AUDIOSPEC_[A-Z_]+", token).group(0)
            if var not in _documented_variables():
                problems.append(f"`{token}`: {var} is documented neither by course_config() nor by the README")
        elif token.startswith("cfg."):
            attr = re.match(rf"cfg\.({IDENT})", token)
            if attr and not any(hasattr(c, attr.group(1)) for c in _configs()):
                problems.append(f"`{token}`: course_config() has no attribute {attr.group(1)!r}")
        else:
            call = re.match(rf"^({IDENT}(?:\.{IDENT})*)\(.*\)(\.{IDENT})*$", token)
            if call:  # f(...) or f(...).attr
                if not _resolve(call.group(1)):
                    problems.append(f"`{token}`: {call.group(1)} not found")
                elif call.group(2) and inspect.isclass(obj := _load_dotted(call.group(1))) and not hasattr(
                        obj, call.group(2)[1:]):
                    problems.append(f"`{token}`: {call.group(1)} has no {call.group(2)[1:]}")
            elif DOTTED.match(token) and "." in token and not re.search(r"\.(csv|json|png|pkl|pth|wav|txt|py|npz|mp3"
                                                                         r"|flac|ogg|ipynb|toml)$", token):
                if not _resolve(token):
                    problems.append(f"`{token}`: not found in the toolkit or its libraries")
            elif re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", token):  # snake_case: a function, parameter, column
                tk = _toolkit()
                if token not in tk["names"] and token not in tk["params"] and not _resolve(token):
                    problems.append(f"`{token}`: no function, attribute, parameter or column of that name")
            elif re.fullmatch(r"[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+", token):  # CamelCase: a class
                if not _resolve(token):
                    problems.append(f"`{token}`: no such class in the toolkit or its libraries")
    return problems


def _load_dotted(dotted: str):
    parts = dotted.split(".")
    tk = _toolkit()["names"]
    obj = tk.get(parts[0]) or next((getattr(m, parts[0]) for m in _libraries() if hasattr(m, parts[0])), None)
    for part in parts[1:]:
        obj = getattr(obj, part, None)
    return obj


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_name_in_the_markdown_exists(nb):
    problems = [f"cell {i}: {p}" for i, text in enumerate(_cells(nb)) for p in problems_of(text)]
    assert not problems, f"{nb.name} names things that do not exist:\n" + "\n".join(problems)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_ends_with_a_questionnaire_and_exercises(nb):
    tail = "\n".join(_cells(nb)[-2:])
    assert "## Questionnaire" in tail and "## Further research" in tail, f"{nb.name} must end with them"
    questionnaire = tail[tail.index("## Questionnaire"):tail.index("## Further research")]
    research = tail[tail.index("## Further research"):]
    questions = re.findall(r"^\d+\. .*\?", questionnaire, flags=re.M)
    exercises = re.findall(r"^\d+\. ", research, flags=re.M)
    assert len(questions) >= 10, f"{nb.name}: {len(questions)} questions"
    assert len(exercises) >= 3, f"{nb.name}: {len(exercises)} exercises"


def test_the_checker_finds_what_does_not_exist():
    """The checks above can fail: names that do not exist are reported, names that do are not."""
    good = ("`render_clip` and `map_at_k(y, p, k=3)`, `cfg.experiments`, `AUDIOSPEC_EPOCHS`, `--crop-seconds`, "
            "`audiospec train SPEC --out RUN --lr-find`, `verified_weight`, `DataBlock`, `learn.lr_find`, "
            "`Run(cfg.run_dir).spec_params`")
    assert problems_of(good) == []
    bad = ("`render_clipp`, `map_at_kk(y)`, `cfg.no_such_field`, `AUDIOSPEC_NOPE`, `audiospec train X --no-such-flag`, "
           "`verified_weigth`, `DataBlok`, `learn.no_such_method`, `audiospec frobnicate`")
    assert len(problems_of(bad)) == 9, problems_of(bad)
    fenced = "```bash\naudiospec render data --out specs --no-such-option\n```"
    assert len(problems_of(fenced)) == 1


def test_the_readme_and_notebook_03_agree_on_what_03_teaches():
    """The README's course table says what notebook 03 teaches: the words must be in the notebook."""
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `03_train_resnet34.ipynb`"))
    nb03 = "\n".join(_cells(REPO / "notebooks" / "03_train_resnet34.ipynb", "markdown")
                     + _cells(REPO / "notebooks" / "03_train_resnet34.ipynb", "code"))
    for name in re.findall(r"`([A-Za-z_]+)`", row.split("|")[2]):
        assert name in nb03, f"the README says notebook 03 teaches {name}; it does not appear there"


# ------------------------------------------------------------------------------------------------
# Numbers quoted from the README, and hand-built computations checked against their helpers


#: A number as the README writes one: a decimal (0.633, 0.08) or a thousands-separated count (1,524).
QUOTED_NUMBER = re.compile(r"(?<![\w.,])(\d+\.\d+|\d{1,3}(?:,\d{3})+)(?![\w])")


def _sentences(text: str) -> list[str]:
    prose, _ = _split_fences(text)
    prose = re.sub(r"\s+", " ", prose)
    return [s for s in re.split(r"(?<=[.!?:;])\s+(?=[A-Z*(`\"])|\n", prose) if s.strip()]


def readme_quotes(text: str) -> list[tuple[str, str]]:
    """``(number, sentence)`` for every decimal or thousands-separated number of a sentence that names the README."""
    return [(n, s) for s in _sentences(text) if "README" in s for n in QUOTED_NUMBER.findall(s)]


def unquoted_numbers(text: str, readme: str) -> list[str]:
    """The numbers a markdown cell attributes to the README that the README does not contain."""
    return [f"{number!r} (in: {sentence.strip()[:160]})" for number, sentence in readme_quotes(text)
            if not re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d])", readme)]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_quoted_from_the_readme_is_in_the_readme(nb):
    """A sentence of a notebook's markdown that names the README may quote only figures the README has."""
    readme = (REPO / "README.md").read_text()
    problems = [f"cell {i}: {p}" for i, text in enumerate(_cells(nb)) for p in unquoted_numbers(text, readme)]
    assert not problems, f"{nb.name} quotes numbers the README does not have:\n" + "\n".join(problems)


#: The first line of a code cell that builds something by hand, before the toolkit's helper does it.
HAND_MARKER = re.compile(r"^#\s*By hand\b", re.I)


def _code_tree(source: str):
    """The AST of a code cell, IPython's magics and shell lines left out."""
    import ast

    lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines()]
    return ast.parse("\n".join(lines))


def _bound_names(tree) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _asserted_names(tree) -> list[set[str]]:
    """The names each ``assert`` statement of a cell reads."""
    import ast

    return [{n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            for node in ast.walk(tree) if isinstance(node, ast.Assert)]


def hand_blocks(cells: list[dict]) -> list[dict]:
    """The hand-built computations of a notebook and the ``assert`` that checks each.

    A block starts at a code cell whose first line is ``# By hand: ...`` and takes in the following
    code cells up to the first one holding an ``assert`` that reads a name the block's hand cells
    bound (a variable, function or class they made) **and** a name they did not (the helper, or what
    the helper returned). It must end before the next markdown heading (``#``) or the next hand
    cell that is not part of the same computation, i.e. the check comes right after the hand work.

    Parameters
    ----------
    cells : list of dict
        ``{"cell_type", "source"}`` in notebook order.

    Returns
    -------
    list of dict
        ``title`` (the marker line), ``cell`` (its index), ``checked_in`` (index of the cell whose
        assert checks it, or None).
    """
    blocks, i = [], 0
    while i < len(cells):
        cell = cells[i]
        first = cell["source"].lstrip().splitlines()[0] if cell["source"].strip() else ""
        if cell["cell_type"] != "code" or not HAND_MARKER.match(first):
            i += 1
            continue
        block, bound, checked_in, j = [], set(), None, i
        while j < len(cells):
            c = cells[j]
            if j > i and c["cell_type"] == "markdown" and re.match(r"^\s*#", c["source"]):
                break
            if c["cell_type"] == "code":
                tree = _code_tree(c["source"])
                head = c["source"].lstrip().splitlines()[0] if c["source"].strip() else ""
                if HAND_MARKER.match(head):
                    bound |= _bound_names(tree)
                    block.append({"title": head.lstrip("# ").strip(), "cell": j})
                if any(names & bound and names - bound - set(dir(builtins)) - {"np"}
                       for names in _asserted_names(tree)):
                    checked_in = j
                    break
            j += 1
        blocks += [dict(b, checked_in=checked_in) for b in block]
        i = j + 1 if checked_in is not None else i + 1
    return blocks


def _cell_dicts(nb_path: Path) -> list[dict]:
    return [{"cell_type": c["cell_type"], "source": c["source"] if isinstance(c["source"], str) else "".join(c["source"])}
            for c in json.loads(nb_path.read_text())["cells"]]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_hand_built_computation_is_checked_against_its_helper(nb):
    """Each ``# By hand`` cell is followed, before the next heading, by an assert against the helper."""
    blocks = hand_blocks(_cell_dicts(nb))
    unchecked = [f"cell {b['cell']}: {b['title']}" for b in blocks if b["checked_in"] is None]
    assert not unchecked, f"{nb.name}: hand-built computations without an assert against the helper:\n" + "\n".join(
        unchecked)


#: What the issue asks each notebook to build by hand (words of its '# By hand' lines).
HAND_BUILT = {"01_download_fsdkaggle2018": ["MAP@3"], "02_render_spectrograms": ["FFT", "mel", "dB"],
              "03_train_resnet34": ["DataBlock", "Learner", "fine_tune", "interval", "paired difference"],
              "04_interpret": ["windows' probabilities", "Grad-CAM"],
              "05_compare_baselines": ["gbm row"], "06_your_own_sounds": ["recording", "held-out accuracy"]}


@pytest.mark.parametrize("stem", sorted(HAND_BUILT))
def test_the_notebooks_build_what_the_course_promises(stem):
    titles = " | ".join(b["title"] for b in hand_blocks(_cell_dicts(REPO / "notebooks" / f"{stem}.ipynb"))
                        if b["checked_in"] is not None)
    missing = [w for w in HAND_BUILT[stem] if w.lower() not in titles.lower()]
    assert not missing, f"{stem}: nothing built by hand (and checked) about {missing}; hand cells: {titles}"


def test_the_text_checkers_find_what_is_wrong():
    """The two checkers above can fail: an unquoted number, a hand cell without its check."""
    readme = "The crops scored 0.633 on 1,524 slices; 0.08 of accuracy."
    assert unquoted_numbers("The README reports 0.633 against 0.517 (1,524 slices).", readme) == [
        "'0.517' (in: The README reports 0.633 against 0.517 (1,524 slices).)"]
    assert unquoted_numbers("It scored 0.517 here. The README has 0.08.", readme) == []  # 0.517 is not quoted
    md = {"cell_type": "markdown", "source": "## Next"}
    hand = {"cell_type": "code", "source": "# By hand: the mean\nm = x.sum() / len(x)"}
    checked = {"cell_type": "code", "source": "from audiospec_utils.learn.metrics import map_at_k\nassert m == np.mean(x)"}
    selfish = {"cell_type": "code", "source": "assert m == m"}                 # checks nothing against a helper
    assert [b["checked_in"] for b in hand_blocks([hand, checked])] == [1]
    assert [b["checked_in"] for b in hand_blocks([hand, selfish])] == [None]
    assert [b["checked_in"] for b in hand_blocks([hand, md, checked])] == [None]  # the check must come first
    assert [b["checked_in"] for b in hand_blocks([hand, {"cell_type": "code", "source": "print(m)"}, checked])] == [2]
    more = {"cell_type": "code", "source": "# By hand: the spread\ns = x.std()"}
    assert [(b["title"], b["checked_in"]) for b in hand_blocks([hand, more, checked])] == [
        ("By hand: the mean", 2), ("By hand: the spread", 2)]
