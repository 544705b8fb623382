#!/usr/bin/env bash
# The spiking benchmark end to end, small enough for the software adapter: simulate the motor circuit
# as a spiking session in the MC_Maze NWB layout (simulate-motor --spikes), bin it, fit a Poisson
# low-rank RNN driven by the condition inputs (rank 5, bootstrap proposal, as the published maze setting
# but with fewer units and particles), and score it with eval-spikes (co-bps, fp-bps, velocity R²,
# PSTH R² on the val trials). Outputs go to spikes-out/ (git-ignored).
#
# NEURONS (100) circuit neurons, SPIKE_NEURONS (60) of them recorded (a quarter held out), TRIALS (10)
# trials per reach condition (8 conditions), RANK (5), UNITS (128), PARTICLES (16), ITERS (2000, about
# five minutes on the 2-core software adapter), BATCH (10), LR / LR_END (1e-2, 1e-3), LR_WARMUP (fit's default:
# none for bootstrap, min(20, ITERS/2) for the encoder, whose variances Adam's full-size first steps at lr 1e-2
# would switch off), SEED (1), EVAL_PARTICLES (64).
# PROPOSAL=encoder fits with the published maze encoder (kernels 14,4,2, channels 128,64, causal, reflect
# padding, diagonal latent noise) instead of the bootstrap proposal; eval-spikes then filters with it too.
# OUT (spikes-out) is where everything goes; a session already simulated there with the same sizes is reused.
# The published maze setting is 512 units, 128 particles, batch 16 and the full 182-unit session:
# UNITS=512 PARTICLES=128 BATCH=16 SPIKE_NEURONS=180 NEURONS=200 (a few seconds per iteration on lavapipe).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT=${OUT:-spikes-out}
NEURONS=${NEURONS:-100}
SPIKE_NEURONS=${SPIKE_NEURONS:-60}
TRIALS=${TRIALS:-10}
RANK=${RANK:-5}
UNITS=${UNITS:-128}
PARTICLES=${PARTICLES:-16}
ITERS=${ITERS:-2000}
BATCH=${BATCH:-10}
PROPOSAL=${PROPOSAL:-bootstrap}
EVAL_PARTICLES=${EVAL_PARTICLES:-64}
LR=${LR:-1e-2}
LR_END=${LR_END:-1e-3}
SEED=${SEED:-1}
mkdir -p "$OUT"
[ -f dist/src/cli/main.js ] || npm run build
cli() { node bin/lowrank-smc.js "$@"; }
# the binning of the MC_Maze benchmark: 20 ms bins from 250 ms before movement onset to 450 ms after
B=(--bin-ms 20 --align move_onset_time --align-window=-250,450 --held-out-neurons file)

echo "== adapter"
cli info
case "$PROPOSAL" in
  bootstrap) P=(--proposal bootstrap) ;;
  # the published maze encoder (its proposal combines diagonal Gaussians)
  encoder)
    P=(--proposal encoder --noise diag --encoder-kernels 14,4,2 --encoder-channels 128,64 --encoder-padding causal --encoder-pad-mode reflect)
    ;;
  *) echo "PROPOSAL must be bootstrap or encoder, not $PROPOSAL" >&2; exit 2 ;;
esac
SIM="$NEURONS neurons, $SPIKE_NEURONS recorded, $TRIALS trials per condition, seed $SEED"
if [ -f "$OUT/maze.nwb" ] && [ "$(cat "$OUT/maze.sim" 2>/dev/null)" = "$SIM" ]; then
  echo "== reusing the simulated session in $OUT ($SIM)"
else
  echo "== simulate the spiking session ($SIM)"
  cli simulate-motor --out "$OUT/circuit" --spikes "$OUT/maze.nwb" --neurons "$NEURONS" --spike-neurons "$SPIKE_NEURONS" \
    --trials-per-condition "$TRIALS" --seed "$SEED"
  echo "$SIM" >"$OUT/maze.sim"
fi
echo "== bin (arrays for other tools)"
cli bin "$OUT/maze.nwb" --out "$OUT/maze.npy" "${B[@]}" --condition trial_type
echo "== fit (rank $RANK, $UNITS units, $PARTICLES particles, batch $BATCH, $PROPOSAL proposal, condition inputs, $ITERS iterations)"
cli fit --data "$OUT/maze.nwb" "${B[@]}" --inputs condition_input --trials train --obs poisson --rank "$RANK" --units "$UNITS" \
  --particles "$PARTICLES" --batch "$BATCH" "${P[@]}" --iters "$ITERS" --lr "$LR" --lr-end "$LR_END" ${LR_WARMUP:+--lr-warmup "$LR_WARMUP"} --seed "$SEED" --out "$OUT/model.json" --plots
echo "== score (val trials)"
cli eval-spikes --model "$OUT/model.json" --data "$OUT/maze.nwb" "${B[@]}" --inputs condition_input --forward-ms 200 \
  --condition trial_type --particles "$EVAL_PARTICLES" --plots "$OUT/scores" --json | tee "$OUT/scores.json"
echo "outputs in $OUT/"
