#!/usr/bin/env bash
# On the GPU machine, from the repository root: install the carried wheels (.whl/, made by make_wheels.sh), run every
# part of run_all.py, leave results.json, results.md and the logs in $OUT. Extra arguments go to run_all.py:
#   bash benchmarks/gpu/device_run.sh                         # all five parts, about 7.5 minutes
#   bash benchmarks/gpu/device_run.sh --parts 3 --gen-batch 256
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [[ -z "${PY:-}" ]]; then  # the interpreter that has torch (python3 and python may differ)
  for c in python3 python; do
    if command -v "$c" >/dev/null && "$c" -c 'import torch' 2>/dev/null; then PY="$(command -v "$c")"; break; fi
  done
fi
[[ -n "${PY:-}" ]] || { echo "error: no python with torch on PATH; set PY=/path/to/python" >&2; exit 2; }
OUT="${OUT:-benchmarks/gpu/results/gpu}"
SITE="${SITE:-/tmp/sftbench/site-packages}"  # must contain site-packages: see install_wheels.py
LIMIT_S="${RUN_LIMIT_S:-450}"  # run_all's own budget is 420 s; this is the hard stop
mkdir -p "$OUT"
export OUT

{
  echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname), $(nproc) CPUs"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || echo "nvidia-smi: not found"
  "$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "| torch", torch.__version__, "cuda", torch.version.cuda, "| gpu", torch.cuda.is_available())'
  echo "== installing the carried wheels into $SITE"
  "$PY" benchmarks/gpu/install_wheels.py .whl "$SITE"
} 2>&1 | tee "$OUT/install.log"

export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
  TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false HF_HUB_DISABLE_TELEMETRY=1 WANDB_MODE=disabled
echo "== run_all.py $* (hard stop after $LIMIT_S s)"
timeout -k 15 "$LIMIT_S" "$PY" benchmarks/gpu/run_all.py --out "$OUT" "$@" 2>&1 | tee "$OUT/run_all.log"
rc=${PIPESTATUS[0]}
echo "== run_all.py exit $rc ($( [[ $rc == 124 || $rc == 137 ]] && echo 'hard stop: results.json holds the parts that finished' || echo 'see results.md' ))"
exit "$rc"
