#!/usr/bin/env bash
# Installs campool-worker as a systemd service on a Debian/Ubuntu edge box.
#   sudo bash installers/install-worker.sh          # CPU build of ONNX Runtime
#   sudo bash installers/install-worker.sh --gpu    # onnxruntime-gpu (NVIDIA driver + CUDA 12 runtime needed)
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (sudo): it creates a service user and a systemd unit" >&2; exit 1; }
extra=cpu; [ "${1:-}" = "--gpu" ] && extra=gpu
src="$(cd "$(dirname "$0")/.." && pwd)"
id campool >/dev/null 2>&1 || useradd --system --home /var/lib/campool-worker --shell /usr/sbin/nologin campool
python3 -m venv /opt/campool/venv
/opt/campool/venv/bin/pip install -q --upgrade pip
/opt/campool/venv/bin/pip install -q "$src[$extra]"
install -m 0644 "$src/installers/campool-worker.service" /etc/systemd/system/campool-worker.service
systemctl daemon-reload
systemctl enable --now campool-worker
echo "campool-worker is running. Pairing code: journalctl -u campool-worker | grep -i pairing | tail -1"
