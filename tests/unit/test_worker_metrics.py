"""Heartbeat metrics come from the real machine."""
from __future__ import annotations

import psutil

from campool_worker.metrics import MetricsSampler


def test_system_metrics_describe_this_machine(tmp_path):
    sampler = MetricsSampler(tmp_path)
    sampler.system()
    m = sampler.system()
    assert abs(m.mem_total_mb - psutil.virtual_memory().total / 1e6) < 1
    assert 0 <= m.cpu_percent <= 100 and 0 <= m.disk_percent <= 100 and m.disk_free_gb > 0
    assert m.net_rx_kbps >= 0 and m.net_tx_kbps >= 0
    # Without an NVIDIA driver there are simply no GPUs, and no error.
    assert isinstance(sampler.gpus(), list)
    assert sampler.gpu_name() == (sampler.gpus()[0].name if sampler.gpus() else "")
    sampler.close()
