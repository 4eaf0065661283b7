#!/usr/bin/env bash
# The GPU figures of issue #2 in one call on a lent GPU machine (the device tool): the model
# alone and the whole pipeline for 1, 16 and 32 cameras, batched across cameras with the
# model's batch dim made dynamic. Prints one JSON line per measurement, tagged.
#
#   bash bench/gpu_figures.sh MODEL VIDEO [SECONDS]
#
# onnxruntime-gpu must import (../shared/tools/ort-gpu-parts.sh brings it over and says how;
# then PYTHONPATH=/tmp/site). On a machine without a GPU it runs on the CPU and says so.
# ../shared does not travel: copy MODEL and VIDEO into .devdata/ (ignored) and carry it.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: gpu_figures.sh MODEL VIDEO [SECONDS]}
video=${2:?usage: gpu_figures.sh MODEL VIDEO [SECONDS]}
seconds=${3:-9}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

python3 -c 'import onnxruntime as o; print("onnxruntime", o.__version__, o.get_available_providers())'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
work=$(mktemp -d)
dynamic="$work/$(basename "$model" .onnx)-dynamic.onnx"
python3 -c 'import sys; from campool_worker.pipeline.onnx_model import make_batch_dynamic; make_batch_dynamic(*sys.argv[1:])' \
    "$model" "$dynamic"

run() {  # TAG MODEL CAMERAS VIDEO PROVIDERS
    local out
    out=$(python3 -m campool_worker.cli bench --model "$2" --video "$4" --cameras "$3" --seconds "$seconds" \
          --providers "$5" --json 2>"$work/$1.err") || { echo "{\"tag\": \"$1\", \"error\": \"see below\"}"; tail -5 "$work/$1.err"; return 0; }
    echo "{\"tag\": \"$1\", ${out#\{}"
}
cuda=CUDAExecutionProvider,CPUExecutionProvider
run cuda-1cam-fixed "$model" 1 "$video" "$cuda"
run cuda-16cam-batched "$dynamic" 16 "$video" "$cuda"
run cuda-32cam-batched "$dynamic" 32 "$video" "$cuda"
rm -rf "$work"
