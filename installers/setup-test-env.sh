#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian/Ubuntu machine:
# the Python package with its test extras, Qt's system libraries for offscreen
# rendering, Debian's gst-rtsp-server (a real RTSP camera for stream tests),
# iproute2 (network namespaces for partition tests), GNOME Keyring with a D-Bus daemon
# (a real Secret Service for the camera-credential tests), python3-venv (a venv where the
# system python3 is externally managed), mosquitto (the MQTT broker),
# prometheus (the server and promtool) and openssl (throwaway TLS certificates)
# for the integration tests. Those tests start their own broker and Prometheus
# processes, with their own config files on free loopback ports; the system
# services the packages bring are stopped and disabled when this script installs them.
# Safe to run again. Without root or apt, it installs the Python part only and
# the tests that need the system parts skip with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
      gstreamer1.0-plugins-ugly gstreamer1.0-libav
      libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
      iproute2 iptables procps dbus-daemon gnome-keyring
      mosquitto prometheus openssl)
# python3-venv: where pip refuses the system's python3 (PEP 668: Debian 12, Ubuntu 24.04), installers/run.py
# installs into ./.venv, which needs the venv module Debian ships apart; tests/integration/test_first_command.py
# makes one from /usr/bin/python3.
debs+=(python3-venv)
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  for d in "${debs[@]}"; do dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The tests run their own mosquitto and prometheus: the system services just installed (which Debian
    # starts) would only hold ports. A service that was there before this script is left alone.
    for svc in mosquitto prometheus; do
      case " ${missing[*]} " in *" $svc "*) ;; *) continue ;; esac
      if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
      if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
    done
  fi
else
  echo "setup: not root or no apt-get; skipping system packages (RTSP, netns, MQTT and Prometheus tests will skip)" >&2
fi

echo "setup: installing campool with its test extras"
# Into python3 where pip may install (CI's, a venv's), else into ./.venv (installers/run.py says which);
# `python3 installers/run.py pytest` then runs the tests with that interpreter.
python3 installers/run.py --install-only test
