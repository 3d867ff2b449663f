#!/usr/bin/env bash
# The GPU checks of issue #14 as one command, for a machine with a CUDA device:
#   bash benchmarks/gpu_check.sh [OUT_DIR]
# 1. gpu_check.py: fit's steps under torch.cuda.set_sync_debug_mode("error"), bf16/fp16 fits, and fit's steps per
#    second against a hand-written sync-free loop; 2. the optimizer step (default vs torch fused AdamW, 1 x 8M and
#    1000 x 8k); 3. the flat-vs-fused crossover on the device. Output goes to the terminal and to
#    OUT_DIR/gpu_check.txt (default benchmarks/results). Every part runs even when an earlier one fails; the exit
#    status counts the parts that failed.
set -u
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results}"
mkdir -p "$out"
log="$out/gpu_check.txt"
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}"
py="${PYTHON:-python}"
failed=0
run() {
  echo "== $* ==" | tee -a "$log"
  timeout 240 "$py" "$@" 2>&1 | tee -a "$log"
  status=${PIPESTATUS[0]}
  if [ "$status" -ne 0 ]; then echo "(exit status $status)" | tee -a "$log"; failed=$((failed + 1)); fi
}
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1; } | tee "$log"
if ! "$py" -c "import torch; assert torch.cuda.is_available(), 'this torch sees no CUDA device'" >>"$log" 2>&1; then
  tail -1 "$log"; echo "no CUDA device for $py: nothing to check (set PYTHON= to another interpreter?)" | tee -a "$log"
  exit 1
fi
run benchmarks/gpu_check.py --steps 300 --repeats 3
run benchmarks/optimizer_step.py --device cuda --rounds 9
run benchmarks/adamw_crossover.py --device cuda --rounds 7 --total 16777216
echo "parts failed: $failed; log in $log" | tee -a "$log"
exit "$failed"
