#!/usr/bin/env bash
# The reference tutorial's kind of fit, from the default start and schedule: data from a noisy rank-2
# oscillator whose 20 units' currents are the 20 observed channels (teacher preset osc-units, 200 trials
# × 75 steps, observation noise 0.1), fitted by a one-to-one student (rank 2, 20 units); the student and
# the teacher are then scored by the same 64-particle filter, in the data's own units.
# SEED picks the student's start and minibatches; OUT the output folder (default tutorial-out/); FIT_ARGS adds
# fit options (e.g. FIT_ARGS="--optimizer radam" or "--init reference" for the README's comparison rows).
# Both models are also scored on 200 held-out trials of the teacher.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT=${OUT:-tutorial-out}
SEED=${SEED:-1}
mkdir -p "$OUT"
cli() { node bin/lowrank-smc.js "$@"; }

echo "== simulate the teacher (osc-units)"
cli simulate --teacher osc-units --trials 200 --steps 75 --seed 1 --out "$OUT/data.npy" --teacher-out "$OUT/teacher.json"
cli simulate --teacher osc-units --trials 200 --steps 75 --seed 2 --out "$OUT/held-out.npy"
echo "== fit a one-to-one student (defaults: Adam, lr 1e-3 → 1e-5, 1000 iterations, 10 particles, data-driven start)"
# shellcheck disable=SC2086 # FIT_ARGS is a list of options
cli fit --data "$OUT/data.npy" --observation one-to-one --rank 2 --seed "$SEED" --plots --out "$OUT/model.json" ${FIT_ARGS:-}
echo "== score teacher and student with the same filter (64 particles), on the training and the held-out trials"
score() { cli filter --model "$1" --data "$2" --particles 64 --json | node -e 'const j = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(j.ll_per_step.toFixed(3))'; }
for data in data held-out; do
  echo "$data: teacher $(score "$OUT/teacher.json" "$OUT/$data.npy"), student $(score "$OUT/model.json" "$OUT/$data.npy") nats per step"
done
echo "learning curves: $OUT/model.curves.png"
