#!/usr/bin/env bash
# Installs (or upgrades) campool-worker as a systemd service on a Debian/Ubuntu edge box.
#   sudo bash installers/install-worker.sh          # CPU build of ONNX Runtime
#   sudo bash installers/install-worker.sh --gpu    # onnxruntime-gpu (NVIDIA driver + CUDA 12 runtime needed)
# Run it again from a newer checkout to upgrade: the venv is updated in place and the service
# restarted; /var/lib/campool-worker (keys, worker id, outbox, assignments, models) is kept.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (sudo): it creates a service user and a systemd unit" >&2; exit 1; }
extra=cpu; [ "${1:-}" = "--gpu" ] && extra=gpu
src="$(cd "$(dirname "$0")/.." && pwd)"
# Debian and Ubuntu ship venv's pip bootstrap separately (python3-venv).
if ! python3 -c 'import ensurepip, venv' 2>/dev/null && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
id campool >/dev/null 2>&1 || useradd --system --home /var/lib/campool-worker --shell /usr/sbin/nologin campool
[ -x /opt/campool/venv/bin/python ] || python3 -m venv /opt/campool/venv
/opt/campool/venv/bin/pip install -q --upgrade pip
/opt/campool/venv/bin/pip install -q --upgrade "$src[$extra]"
# The unit's Documentation= pointers (systemctl help campool-worker).
install -D -m 0644 "$src/README.md" /usr/share/doc/campool-worker/README.md
install -D -m 0644 "$src/installers/README.md" /usr/share/doc/campool-worker/installers.md
install -m 0644 "$src/installers/campool-worker.service" /etc/systemd/system/campool-worker.service
systemctl daemon-reload
systemctl enable campool-worker
systemctl restart campool-worker   # a fresh install starts; an upgrade runs the new code
echo "campool-worker $(/opt/campool/venv/bin/campool-worker --version | cut -d' ' -f2) is running."
echo "Pairing code: journalctl -u campool-worker | grep -i pairing | tail -1"
