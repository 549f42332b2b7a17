#!/bin/bash
# The whole CPU path timed, `quick` before issue 21 against `quick` now, in turns, on one data set:
# `audiospec render`, `train --no-pretrained --test-fold FOLD --recipe quick` and `evaluate`, wall seconds
# each, with the training's own "expected time" line beside its real time. Run it on an idle machine
# (compare figures only within one run).
#
#   bench/recipe_time.sh SOURCE FOLD [render options...]
#   bench/recipe_time.sh /tmp/sl4x10 10                 # 4 s slices (bench/make_grouped_slices.py)
#   bench/recipe_time.sh /tmp/sl08 5 --sr 8000          # short clips at 8 kHz
#
# "before" is spelled out: ResNet-34, 64 px, 10 epochs, crops of the median duration up to 2 s
# (BEFORE_CROP, default 2; 1 for clips under a second). Results: $OUT (default /tmp/recipe_time)/summary.txt.
set -u
SOURCE=$1; FOLD=$2; shift 2
HERE=$(cd "$(dirname "$0")/.." && pwd)
A=$HERE/.venv/bin/audiospec
OUT=${OUT:-/tmp/recipe_time}
BEFORE="--arch resnet34 --img-size 64 --epochs 10 --crop-seconds ${BEFORE_CROP:-2}"
TIMEFORMAT=%R
mkdir -p "$OUT"
name=$(basename "$SOURCE")
for recipe in now before; do
  flags=""; [ $recipe = before ] && flags="$BEFORE"
  d=$OUT/${name}_$recipe; rm -rf "$d"
  t=$( { time ( "$A" render "$SOURCE" --out "$d/specs" "$@" -q >/dev/null 2>&1 && \
                "$A" train "$d/specs" --out "$d/run" --no-pretrained --test-fold "$FOLD" --recipe quick $flags -q \
                    > "$d.train.log" 2>&1 && \
                "$A" evaluate "$d/run" > "$d.eval.log" 2>&1 ) ; } 2>&1 )
  ts=$(python3 -c "import json; print(json.load(open('$d/run/metrics.json'))['seconds'])")
  est=$(grep -o "expected time: about [0-9.]* [a-z]*" "$d.train.log" | head -1)
  acc=$(grep -o "accuracy [0-9.]*" "$d.eval.log" | head -1)
  echo "$name quick $recipe: ${t} s in all, train ${ts} s ($est), test $acc" | tee -a "$OUT/summary.txt"
done
