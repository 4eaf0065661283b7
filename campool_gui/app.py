"""`campool-gui`: the operator's control center, and its headless and benchmark modes.

    campool-gui                      the desktop application (the master of the pool)
    campool-gui --demo               ... with two local demo workers, adopted, counting
    campool-gui --screenshot DIR     render every main view of a demo pool to DIR/*.png, exit
                [--lang vi]          ... in that language (system, en, vi)
    campool-gui --headless           the master without a window (campool_gui.headless)
    campool-gui bench-ui --json      UI event-loop stall under a simulated 64-worker pool
    campool-gui bench-failover       failover timing with real worker processes
    campool-gui bench-failover --live [--standby none|warm|hot]   ... with live RTSP cameras, counts audited
    campool-gui bench-store          history chart queries on generated history
    campool-gui job run FILE... --line NAME:x1,y1,x2,y2 [--workers N] [--json]   count recorded files
    campool-gui bench-jobs --workers N --threads-per-worker T --copies K [--kill-one] --json

This module only parses the command line and dispatches: the application to
campool_gui.ui.application, --headless to campool_gui.headless, the benchmarks and
--screenshot to campool_gui.harness. PySide6 is imported only on the GUI paths, so
`--headless`, `bench-failover` and `bench-store` run on a box without Qt.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from campool_gui import __version__

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="campool-gui",
                                description="CamPool control center: the master of the worker pool.")
    p.add_argument("--version", action="version", version=f"campool-gui {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--data-dir", help="where the master keeps its database, keys and logs "
                                      "(default: the platform's data folder, or $CAMPOOL_DATA_DIR)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--demo", action="store_true",
                      help="start two local demo workers, adopt them and give them cameras")
    mode.add_argument("--screenshot", metavar="DIR",
                      help="render each main view of a demo pool into DIR as PNG, then exit")
    mode.add_argument("--headless", action="store_true", help="run the master without a window")
    p.add_argument("--theme", choices=("system", "dark", "light"), help="override the theme setting")
    p.add_argument("--lang", choices=("system", "en", "vi"),
                   help="the control center's language (default: the Settings choice, else the system's)")
    p.add_argument("--policy", help="placement policy (hybrid, least_loaded, round_robin, capability, priority, site)")
    p.add_argument("--no-zeroconf", action="store_true", help="do not browse the LAN for workers")
    h = p.add_argument_group("headless")
    h.add_argument("--config", metavar="FILE", help="--headless: workers and cameras to set up (TOML or JSON)")
    h.add_argument("--status-every", type=float, metavar="S",
                   help="--headless: log the pool state every S seconds (30)")
    h.add_argument("--run-seconds", type=float, metavar="S", help="--headless: stop after S seconds (default: run "
                                                                "until SIGTERM / Ctrl-C)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    b = sub.add_parser("bench-ui", help="measure the UI event loop's stalls under simulated telemetry and previews")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--workers", type=int, default=64, help="simulated workers (default 64)")
    b.add_argument("--cameras", type=int, default=8, help="cameras per worker (default 8)")
    b.add_argument("--previews", type=int, default=16, help="live preview tiles (default 16)")
    b.add_argument("--preview-fps", type=float, default=5.0, help="frames per second per preview (default 5)")
    b.add_argument("--seconds", type=float, default=15.0, help="how long to measure (default 15)")
    b.add_argument("--job-segments", type=int, default=0,
                   help="a job of N segments in progress as well (a 40-hour survey: 800); Jobs joins the cycle")
    b.add_argument("--view", choices=("workers", "live", "overview", "jobs", "cycle"), default="cycle",
                   help="what is on screen while measuring (default: cycle through views)")
    f = sub.add_parser("bench-failover", help="measure how fast cameras move off a SIGKILLed worker")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.add_argument("--workers", type=int, help="local worker processes (default 3; --live: 2)")
    f.add_argument("--cameras", type=int, help="cameras to spread over them (default 6; --live: 1)")
    f.add_argument("--repeat", type=int, default=3, help="kills to measure (default 3)")
    f.add_argument("--video", help="video file the cameras play (default: the shared highway video with the shared "
                                   "YOLOX model when present, else synthetic streams)")
    f.add_argument("--seconds", type=float, help="settle time before each kill (default 8)")
    f.add_argument("--keep", metavar="DIR", help="keep the workers' and master's data in DIR")
    lv = f.add_argument_group("live", "--live: RTSP cameras (gst-rtsp-server looping the shared highway video)")
    lv.add_argument("--live", action="store_true", help="fail a worker holding live RTSP cameras and audit the "
                                                       "stored crossings against the looped file's offline count")
    lv.add_argument("--standby", choices=("none", "warm", "hot"), help="the cameras' standby (default none)")
    lv.add_argument("--duration", type=float, metavar="S", help="seconds of counting; the kill is at the middle "
                                                               "(default 90)")
    lv.add_argument("--kill", choices=("sigkill", "sigstop", "partition", "camera", "none"),
                    help="how the holding worker fails (default sigkill; partition: its network is cut, every "
                         "worker in a namespace of its own, needs root; camera: the cameras' servers are killed "
                         "instead, like a power loss; none: the audit's own noise)")
    lv.add_argument("--detect-fps", type=float, metavar="N", help="the cameras' fixed detector rate (default 10); 0: "
                                                                   "the camera's default, adaptive detection")
    lv.add_argument("--stop-s", type=float, metavar="S", help="how long the outage lasts: --kill sigstop before "
                                                             "SIGCONT (default 15), partition before the heal "
                                                             "(default 30), camera before the server is back "
                                                             "(default 10)")
    st = sub.add_parser("bench-store", help="time the history chart queries on generated history")
    st.add_argument("--json", action="store_true", help="print one JSON object")
    st.add_argument("--cameras", type=int, default=50, help="cameras of generated history (default 50)")
    st.add_argument("--days", type=int, default=30, help="days of generated history (default 30)")
    st.add_argument("--per-hour", type=int, default=60, help="count events per camera per hour (default 60)")
    st.add_argument("--runs", type=int, default=20, help="timed runs of each query (default 20)")
    st.add_argument("--db", help="keep the generated database at this path (default: a temporary file)")
    from campool_gui.job_cli import add_job_parser
    add_job_parser(sub)
    bj = sub.add_parser("bench-jobs", help="a job over K copies of the highway video on N local workers against one")
    bj.add_argument("--workers", type=int, default=2, help="local worker processes of the pool (default 2)")
    bj.add_argument("--threads-per-worker", type=int, default=1,
                    help="ONNX threads per worker (default 1); each worker runs on that many cores of its own "
                         "where the machine has workers x threads of them")
    bj.add_argument("--no-pin", action="store_true",
                    help="let every worker run on every core (its decoding then runs beside its model)")
    bj.add_argument("--copies", type=int, default=4, help="copies of the highway video joined into one file")
    bj.add_argument("--kill-one", action="store_true", help="SIGKILL a worker in the middle of its segment")
    bj.add_argument("--repeat", type=int, default=1,
                    help="run pool and single pass this many times, alternated; each side's fastest counts")
    bj.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from campool_worker import log_redaction
    log_redaction.install()  # no log line (stderr, the GUI's log file) shows a camera's password
    try:
        if args.command == "bench-failover":
            from campool_gui.harness.bench_failover import bench_failover
            return bench_failover(args)
        if args.command == "job":
            from campool_gui.job_cli import job_command
            return job_command(args)
        if args.command == "bench-jobs":
            from campool_gui.harness.bench_jobs import bench_jobs
            return bench_jobs(args)
        if args.command == "bench-store":
            from campool_gui.harness.bench_store import bench_store
            return bench_store(args)
        if args.headless:
            from campool_gui.headless import run_headless
            return int(run_headless(args) or 0)
        if args.command == "bench-ui":
            from campool_gui.harness.bench_ui import bench_ui_command
            return bench_ui_command(args)
        if args.screenshot:
            from campool_gui.harness.screenshots import screenshot_command
            return screenshot_command(args)
        from campool_gui.ui.application import run_gui
        return run_gui(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from campool_worker.errors import CampoolError
        if isinstance(exc, CampoolError):
            from campool_worker.url_secrets import redact_text
            sys.stderr.write(f"campool-gui: error: {redact_text(str(exc))}\n")
            return exc.exit_code
        raise


if __name__ == "__main__":
    sys.exit(main())
