"""System metrics for heartbeats: CPU, memory, disk, network (psutil), GPUs (pynvml when present)."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import psutil

from campool_worker.protocol import GpuMetrics, SystemMetrics

log = logging.getLogger(__name__)


class MetricsSampler:
    """Cheap to call once a second: psutil's CPU percent and the network rates are measured
    between two calls, so the first sample shows zeros."""

    def __init__(self, disk_path: str | os.PathLike[str] = "/") -> None:
        self.disk_path = str(Path(disk_path).resolve())
        psutil.cpu_percent(interval=None)  # primes the counter
        self._net_last = self._net_counters()
        self._net_time = time.monotonic()
        self._nvml = _Nvml()

    @staticmethod
    def _net_counters() -> tuple[int, int]:
        try:
            c = psutil.net_io_counters()
            return (c.bytes_recv, c.bytes_sent) if c else (0, 0)
        except OSError:
            return (0, 0)

    def system(self) -> SystemMetrics:
        vm = psutil.virtual_memory()
        try:
            du = psutil.disk_usage(self.disk_path)
            disk_percent, disk_free = du.percent, du.free / 1e9
        except OSError:
            disk_percent, disk_free = 0.0, 0.0
        now = time.monotonic()
        rx, tx = self._net_counters()
        dt = max(now - self._net_time, 1e-3)
        rx_kbps = max(0.0, (rx - self._net_last[0]) * 8 / 1000 / dt)
        tx_kbps = max(0.0, (tx - self._net_last[1]) * 8 / 1000 / dt)
        self._net_last, self._net_time = (rx, tx), now
        try:
            load1 = os.getloadavg()[0]
        except (OSError, AttributeError):  # Windows
            load1 = 0.0
        return SystemMetrics(
            cpu_percent=float(psutil.cpu_percent(interval=None)), load_1m=float(load1),
            mem_percent=float(vm.percent), mem_used_mb=(vm.total - vm.available) / 1e6, mem_total_mb=vm.total / 1e6,
            disk_percent=float(disk_percent), disk_free_gb=disk_free, net_rx_kbps=rx_kbps, net_tx_kbps=tx_kbps)

    def gpus(self) -> list[GpuMetrics]:
        return self._nvml.sample()

    def gpu_name(self) -> str:
        return self._nvml.names[0] if self._nvml.names else ""

    def close(self) -> None:
        self._nvml.close()


class _Nvml:
    """pynvml when an NVIDIA driver is there; nothing (and no error) when not."""

    def __init__(self) -> None:
        self.handles: list[object] = []
        self.names: list[str] = []
        self._mod = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._mod = pynvml
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                name = pynvml.nvmlDeviceGetName(h)
                self.handles.append(h)
                self.names.append(name.decode() if isinstance(name, bytes) else str(name))
        except Exception as exc:  # noqa: BLE001 - no driver / no library: a worker without GPU
            log.debug("no NVIDIA GPU metrics: %s", exc)
            self.handles, self.names = [], []

    def sample(self) -> list[GpuMetrics]:
        out = []
        pynvml = self._mod
        for i, h in enumerate(self.handles):
            try:
                util = pynvml.nvmlDeviceGetUtilizationRates(h)  # type: ignore[union-attr]
                mem = pynvml.nvmlDeviceGetMemoryInfo(h)  # type: ignore[union-attr]
                temp = pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)  # type: ignore[union-attr]
                out.append(GpuMetrics(i, self.names[i], float(util.gpu), mem.used / 1e6, mem.total / 1e6, float(temp)))
            except Exception as exc:  # noqa: BLE001 - a GPU that stops answering must not stop heartbeats
                log.warning("GPU %d metrics unavailable: %s", i, exc)
        return out

    def close(self) -> None:
        if self._mod is not None:
            try:
                self._mod.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass
