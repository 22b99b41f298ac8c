#!/usr/bin/env bash
# Does the GPU install work? Run on a machine with one or more CUDA GPUs, from a checkout,
# after `pip install -e ".[gpu]"` (or `pip install "keras-gin-zoo[gpu]"` plus this checkout
# for benchmarks/throughput.py):
#   benchmarks/gpu_check.sh                 # results in benchmarks/out/gpu_check/
#   SECONDS_PER_ROW=10 BIG_BATCH=64 benchmarks/gpu_check.sh
# 1. zoo system: the GPUs TensorFlow sees and the policy auto picks (mixed_float16 expected);
# 2. a tiny digits run with train.precision = 'auto': it must pick mixed_float16;
# 3. the same run under train.distribution = 'mirrored' over every visible GPU;
# 4. throughput rows (images/s, float32 and auto) of resnet50 and the cnn.
# It stops at the first failure, and says which step failed.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PY:-python}
ZOO=${ZOO:-zoo}
OUT=${OUT:-$REPO/benchmarks/out/gpu_check}
SECONDS_PER_ROW=${SECONDS_PER_ROW:-5}
BIG_BATCH=${BIG_BATCH:-32}
export TF_CPP_MIN_LOG_LEVEL=2

fail() { echo "gpu check: FAILED: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }
mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/runs.XXXXXX")
export MLFLOW_TRACKING_URI="sqlite:///$WORK/mlflow.db"

step "1. zoo system"
"$ZOO" system --seconds 3 --also float32 | tee "$OUT/system.txt" || fail "zoo system"
grep -q "^  gpus  *none" "$OUT/system.txt" && fail "TensorFlow sees no GPU (see zoo system above)"

# summary.json of a run, checked: the policy, and the replicas of a mirrored run
check_run() {
    "$PY" - "$WORK/runs/digits/$1/summary.json" "$2" "$3" <<'EOF'
import json
import sys

summary = json.load(open(sys.argv[1]))
policy, replicas = sys.argv[2], sys.argv[3]
print(f"status {summary['status']}, precision {summary['precision']}: {summary['precision_reason']}")
print(f"test_accuracy {summary['test_metrics'].get('test_accuracy')}, {summary['wall_time_s']} s")
if summary["status"] != "FINISHED":
    sys.exit("the run did not finish")
if summary["precision"] != policy:
    sys.exit(f"auto picked {summary['precision']}, expected {policy}")
if replicas != "-":
    from mlflow.tracking import MlflowClient

    run = MlflowClient(summary["mlflow"]["tracking_uri"]).get_run(summary["mlflow"]["run_id"])
    got = run.data.params.get("zoo.replicas")
    print(f"zoo.replicas {got}, zoo.distribution {run.data.params.get('zoo.distribution')}")
    if got != replicas:
        sys.exit(f"{got} replicas, expected one per visible GPU ({replicas})")
EOF
}

GPUS=$("$PY" -c "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))")
echo "visible GPUs: $GPUS"

step "2. a tiny run with train.precision = 'auto' (expect mixed_float16)"
(cd "$WORK" && "$ZOO" train digits_cnn --bind train.epochs=3 --bind "train.run_name='auto'" \
    --bind "train.precision='auto'") | tee "$OUT/auto.txt" || fail "zoo train (auto)"
check_run auto mixed_float16 - | tee -a "$OUT/auto.txt" || fail "the auto run"

step "3. train.distribution = 'mirrored' over the $GPUS visible GPU(s)"
(cd "$WORK" && "$ZOO" train digits_cnn --bind train.epochs=3 --bind "train.run_name='mirrored'" \
    --bind "train.distribution='mirrored'") | tee "$OUT/mirrored.txt" || fail "zoo train (mirrored)"
check_run mirrored mixed_float16 "$GPUS" | tee -a "$OUT/mirrored.txt" || fail "the mirrored run"

step "4. throughput of resnet50 and the cnn (float32 and auto)"
"$PY" benchmarks/throughput.py --models resnet50,cnn --seconds "$SECONDS_PER_ROW" \
    --big-batch "$BIG_BATCH" --out "$OUT/throughput.csv" || fail "benchmarks/throughput.py"
cat "$OUT/throughput.csv"

echo
echo "gpu check: passed; outputs in $OUT (paste system.txt and throughput.csv into RESULTS.md)"
