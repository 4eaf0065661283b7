"""Code that drives CamPool rather than being it: benchmarks, the screenshot runner, count
audits and the local worker launcher.

    launcher.py        LocalWorker: a `campool-worker serve` process on this machine (demo, benches, tests)
    audit.py           an uninterrupted offline count of the same frames, matched against stored events
    bench_store.py     `campool-gui bench-store`: history chart queries on generated history
    bench_failover.py  `campool-gui bench-failover`: SIGKILL a worker under load, time the failover
    bench_failover_live.py  `... --live`: the same with live RTSP cameras, counts audited by time
    live_audit.py      a looped file's crossings on a live stream's timeline, matched one to one
    rtsp_camera.py     the RTSP test camera (gst-rtsp-server, run by the system Python) and its launcher
    bench_ui.py        `campool-gui bench-ui`: UI event-loop stalls under a simulated 64-worker pool
    screenshots.py     `campool-gui --screenshot DIR`: every main view of a demo pool as PNG

These modules import the domain packages (`campool_gui.pool`, `campool_gui.ui`,
`campool_worker`); nothing in those packages imports them. The one product module that
does is `campool_gui.demo`, whose `--demo` pool runs on the same launcher the benches and
the tests use (see its docstring). Nothing here is imported at package import, so
`bench-failover` and `bench-store` run on a box without Qt.
"""
