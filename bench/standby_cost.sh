#!/usr/bin/env bash
# What a warm standby costs against a hot one, per camera, on a real RTSP camera: the tests'
# gst-rtsp-server looping the shared highway video, the shared YOLOX-nano model.
#   bash bench/standby_cost.sh [--cameras 2] [--seconds 20] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${CAMPOOL_SHARED_DATA:-../shared/data}
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
/usr/bin/python3 tests/helpers/rtsp_server.py --video "$DATA/videos/highway.mp4" --port "$PORT" --path /cam \
    > /tmp/standby-bench-rtsp.$$ 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; rm -f /tmp/standby-bench-rtsp.$$' EXIT
for _ in $(seq 100); do grep -q READY /tmp/standby-bench-rtsp.$$ && break; sleep 0.1; done
grep -q READY /tmp/standby-bench-rtsp.$$ || { cat /tmp/standby-bench-rtsp.$$; exit 1; }
python3 -m campool_worker.harness.standby_bench --url "rtsp://127.0.0.1:$PORT/cam" \
    --model "$DATA/models/yolox_nano.onnx" "$@"
