#!/usr/bin/env bash
# One prepared check for a machine with a GPU (sized for under 8 minutes on one H100/H200): the
# adapter, the GPU test cases (test/gpu.test.ts), and `bench smc` at every published configuration
# plus the K × B sweep, on the hardware adapter. Prints JSON lines only on stdout (paste them into
# bench/RESULTS.md); progress and the tools' own output go to stderr.
#
#   bash bench/gpu-check.sh              run it (refuses a software adapter: the figures would be wrong)
#   bash bench/gpu-check.sh --dry-run    print the steps as JSON lines and run only the adapter check
#   GPU_CHECK_ALLOW_SOFTWARE=1 ...       run on a software adapter anyway (slow; for testing the script)
#
# Needs `npm ci` done; builds dist/ when it is missing. On a lent machine without Node or network, run it
# through bench/device-run.sh with the kit of scripts/device-kit.mjs. Each step has its own time limit, so one that
# hangs cannot take the whole budget; a step that fails or times out is reported and the next runs.
set -u -o pipefail
cd "$(dirname "$0")/.."

DRY=0
for a in "$@"; do
  case "$a" in
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument $a (use --dry-run)" >&2; exit 2 ;;
  esac
done

# Seconds per step (total under 8 minutes): adapter 30, forward sweep 110, tests 230, published configurations 100.
# The forward sweep at large K (the figure the GPU goal is about) runs first, so a lease cut short still has it.
STEPS=(
  "adapter|30|node bin/lowrank-smc.js info --json"
  "bench-forward|110|node bin/lowrank-smc.js bench smc --json --config sweep --ks 4096,65536,1048576 --batches 1,64 --seeds 2 --runs 5"
  "tests|230|node scripts/run-tests.mjs test/gpu.test.ts"
  "bench-configs|100|node bin/lowrank-smc.js bench smc --json --config all --ks 16,256 --batches 1 --seeds 4 --runs 5"
)

json_str() { node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1"; }

if [ ! -f dist/src/cli/main.js ] && [ "$DRY" = 0 ]; then
  echo "gpu-check: building dist/" >&2
  npm run gen >&2 && npx tsc -p tsconfig.json >&2 || { echo '{"step":"build","ok":false}'; exit 1; }
fi

for s in "${STEPS[@]}"; do
  name=${s%%|*}; rest=${s#*|}; limit=${rest%%|*}; cmd=${rest#*|}
  if [ "$DRY" = 1 ] && [ "$name" != adapter ]; then
    echo "{\"step\":\"$name\",\"dry_run\":true,\"limit_s\":$limit,\"command\":$(json_str "$cmd")}"
    continue
  fi
  echo "gpu-check: $name ($cmd, limit ${limit}s)" >&2
  out=$(mktemp)
  t0=$(date +%s)
  timeout "$limit" bash -c "$cmd" >"$out"
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  case "$name" in
    adapter)
      line=$(tail -n 1 "$out")
      echo "{\"step\":\"adapter\",\"ok\":$([ $rc = 0 ] && echo true || echo false),\"seconds\":$secs,\"info\":${line:-null}}"
      if [ $rc != 0 ]; then rm -f "$out"; exit 1; fi
      if echo "$line" | grep -q '"software":true' && [ "${GPU_CHECK_ALLOW_SOFTWARE:-0}" != 1 ] && [ "$DRY" = 0 ]; then
        echo "gpu-check: the adapter is a software one; set GPU_CHECK_ALLOW_SOFTWARE=1 to run anyway" >&2
        rm -f "$out"; exit 1
      fi
      ;;
    tests)
      # run-tests ends with one plain line "N passed, N failed[, N skipped]"
      summary=$(tail -n 1 "$out")
      echo "{\"step\":\"tests\",\"ok\":$([ $rc = 0 ] && echo true || echo false),\"rc\":$rc,\"seconds\":$secs,\"summary\":$(json_str "$summary")}"
      grep -E '(FAIL|×) ' "$out" | head -20 >&2
      ;;
    *)
      grep '^{' "$out"
      echo "{\"step\":\"$name\",\"ok\":$([ $rc = 0 ] && echo true || echo false),\"rc\":$rc,\"seconds\":$secs}"
      ;;
  esac
  rm -f "$out"
done
