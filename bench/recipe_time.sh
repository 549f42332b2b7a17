#!/bin/bash
# The whole CPU path timed, `quick` as issue 21 measured it against `quick` now, in turns, on one data
# set: `audiospec render`, `train --no-pretrained --test-fold FOLD` and `evaluate` with the defaults,
# wall seconds each, with the training's own "expected time" line beside its real time. Run it on an
# idle machine (compare figures only within one run).
#
#   bench/recipe_time.sh SOURCE FOLD [render options...]
#   bench/recipe_time.sh /tmp/sl4x10 10                 # 4 s slices (bench/make_grouped_slices.py)
#   bench/recipe_time.sh /tmp/sl08 5 --sr 8000          # short clips at 8 kHz
#
# "before" is the code of commit BEFORE_REV (default 3833ac5, the commit issue 21 timed: ResNet-34,
# 64 px, 10 epochs, crops of the median duration within 1 and 2 s, fastai's Adam), extracted with
# `git archive` and run by this environment's Python; "now" is the working tree. Both with their own
# defaults, as a learner runs them (TRAIN_FLAGS, default none, are added to "now"'s train command;
# RUNS="now" times "now" alone). Results: $OUT (default /tmp/recipe_time)/summary.txt.
set -u
SOURCE=$(cd "$1" && pwd) || exit 1; FOLD=$2; shift 2
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=$HERE/.venv/bin/python
OUT=$(mkdir -p "${OUT:-/tmp/recipe_time}" && cd "${OUT:-/tmp/recipe_time}" && pwd) || exit 1
REV=${BEFORE_REV:-3833ac5}
TIMEFORMAT=%R
mkdir -p "$OUT"
BEFORE_CODE=$OUT/code_$REV
if [ ! -d "$BEFORE_CODE/audiospec_utils" ]; then
  mkdir -p "$BEFORE_CODE" && git -C "$HERE" archive "$REV" audiospec_utils | tar -x -C "$BEFORE_CODE" || exit 1
fi
name=$(basename "$SOURCE")
for recipe in ${RUNS:-now before}; do
  code=$HERE; flags=${TRAIN_FLAGS:-}; [ $recipe = before ] && code=$BEFORE_CODE && flags=""
  # run from $OUT: `python -c` puts the working directory first on sys.path, before PYTHONPATH
  A() { (cd "$OUT" && PYTHONPATH=$code "$PY" -c "import sys; from audiospec_utils.cli import main; sys.argv[0] = 'audiospec'; sys.exit(main())" "$@"); }
  d=$OUT/${name}_$recipe; rm -rf "$d"
  t=$( { time ( A render "$SOURCE" --out "$d/specs" "$@" -q >/dev/null 2>&1 && \
                A train "$d/specs" --out "$d/run" --no-pretrained --test-fold "$FOLD" $flags -q > "$d.train.log" 2>&1 && \
                A evaluate "$d/run" > "$d.eval.log" 2>&1 ) ; } 2>&1 )
  ts=$("$PY" -c "import json; print(json.load(open('$d/run/metrics.json'))['seconds'])")
  est=$(grep -o "expected time: about [0-9.]* [a-z]*" "$d.train.log" | head -1)
  acc=$(grep -o "accuracy [0-9.]*" "$d.eval.log" | head -1)
  echo "$name quick $recipe${flags:+ ($flags)}: ${t} s in all, train ${ts} s ($est), test $acc" | tee -a "$OUT/summary.txt"
done
