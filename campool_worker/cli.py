"""`campool-worker serve | count | bench | pair | masters`: the worker's command line.

The `count` and `bench` interfaces are what the product's own checks use; keep them stable.
Each subcommand lives in the module that does the work; this file only parses and
turns a `CampoolError` into one clear line on stderr and a non-zero exit.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from campool_worker import __version__
from campool_worker.errors import CampoolError

log = logging.getLogger(__name__)


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="campool-worker", description="CamPool worker: counts objects in camera streams.")
    p.add_argument("--version", action="version", version=f"campool-worker {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("count", help="count objects crossing lines / in zones of a whole video")
    c.add_argument("video", help="video file, rtsp://, http(s):// URL, usb:N or synthetic://")
    c.add_argument("--model", help="ONNX detector (YOLOX or YOLOv8/11 layout); default: motion detector")
    c.add_argument("--labels", help="class names file, one per line, for a custom model (default: COCO)")
    c.add_argument("--line", action="append", default=[], metavar="NAME:x1,y1,x2,y2", help="counting line (repeatable)")
    c.add_argument("--zone", action="append", default=[], metavar="NAME:x1,y1,...", help="zone polygon (repeatable)")
    c.add_argument("--classes", help="comma-separated class names to count, e.g. car,truck,bus,motorcycle")
    c.add_argument("--confidence", type=float, default=None, help="detection confidence threshold")
    c.add_argument("--detect-fps", type=float, default=None,
                   help="run the detector at a fixed N times per second of video")
    c.add_argument("--detect", choices=("adaptive", "every"), default="adaptive",
                   help="without --detect-fps: run the detector when counting needs it (adaptive, the "
                        "default) or on every frame")
    c.add_argument("--detect-budget", type=float, default=None,
                   help="adaptive: most detector runs in any second of video (default 10)")
    c.add_argument("--detect-floor", type=float, default=None,
                   help="adaptive: fewest detector runs a second when nothing moves (default 1)")
    c.add_argument("--annotate", metavar="OUT.mp4", help="write a video with boxes, track ids, lines and counts")
    c.add_argument("--max-frames", type=int, default=None, help="stop after N frames (streams have no end)")
    c.add_argument("--events", metavar="OUT.jsonl", help="write each count event as a JSON line")
    c.add_argument("--json", action="store_true", help="print one JSON object with the results to stdout")

    b = sub.add_parser("bench", help="measure model-only vs whole-pipeline throughput in one run")
    b.add_argument("--model", required=True, help="ONNX detector")
    b.add_argument("--video", required=True, help="video file to decode (looped)")
    b.add_argument("--cameras", type=int, default=1, help="number of cameras run at once")
    b.add_argument("--seconds", type=float, default=10.0, help="seconds per measurement")
    b.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    b.add_argument("--capacity", action="store_true",
                   help="instead: how many cameras of VIDEO this box sustains at real time, adaptive vs full rate")
    b.add_argument("--line", action="append", default=[], metavar="NAME:x1,y1,x2,y2",
                   help="--capacity: the camera's counting line (default: across the middle)")
    b.add_argument("--max-frames", type=int, default=None, help="--capacity: only the first N frames")
    b.add_argument("--classes", help="--capacity: comma-separated class names to count")
    b.add_argument("--intra-threads", type=int, default=None,
                   help="threads per inference call (default: what the worker uses, the cores minus a quarter)")
    b.add_argument("--inference-workers", type=int, default=None,
                   help="inference calls run in parallel (default 1, as the worker runs)")
    b.add_argument("--providers", default=None, metavar="EP[,EP...]",
                   help="ONNX Runtime execution providers to try in order, e.g. CUDAExecutionProvider "
                        "(default: TensorRT, CUDA, CPU, the worker's order)")

    s = sub.add_parser("serve", help="run the worker daemon (zeroconf + ZeroMQ)")
    s.add_argument("--name", help="worker name shown to the operator (default: host name)")
    s.add_argument("--data-dir", help="keys, outbox and assignments (default: the platform's data folder)")
    s.add_argument("--config", help="settings file (TOML); flags override it, environment overrides the file")
    s.add_argument("--bind", help="address to listen on (default 0.0.0.0)")
    s.add_argument("--cmd-port", type=int, help="command port (0 = pick a free one)")
    s.add_argument("--pub-port", type=int, help="telemetry port (0 = pick a free one)")
    s.add_argument("--pair-port", type=int, help="pairing port (0 = pick a free one)")
    s.add_argument("--ports-file", metavar="FILE",
                   help="write the ports, public key and worker id as JSON once listening")
    s.add_argument("--no-zeroconf", action="store_true", help="do not announce on mDNS")
    s.add_argument("--zeroconf-interface", action="append", help="announce only on this interface address (repeatable)")
    s.add_argument("--capacity", type=int, help="how many cameras this worker takes (default: from CPU/GPU)")
    s.add_argument("--accept-master", action="append", default=[], metavar="KEY",
                   help="trust this master public key (Z85; write --accept-master=KEY, since a key may start with -)")

    pr = sub.add_parser("pair", help="show a short-lived pairing code for adopting this worker")
    pr.add_argument("--data-dir", help="the daemon's data folder")
    pr.add_argument("--config", help="settings file (TOML) of the daemon")
    pr.add_argument("--ttl", type=int, default=600, help="seconds the code stays valid")

    m = sub.add_parser(
        "masters", help="list the master keys this worker trusts, or revoke one",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="List the masters (control centers) this worker serves: key, name, when it was\n"
                    "adopted, and whether it came from pairing or from the settings; or revoke one.",
        epilog="Revoking takes effect in a running worker at once, without a restart: the master's next\n"
               "command is refused and its connection to the telemetry port is dropped. Only keys adopted by\n"
               "pairing can be revoked here; remove a key in accept_masters (settings file or\n"
               "CAMPOOL_ACCEPT_MASTERS) there, and restart the worker. To trust a revoked master again,\n"
               "adopt the worker again with a code from `campool-worker pair`.\n\n"
               "  campool-worker masters\n"
               "  campool-worker masters --remove='rq:rM>}U?@'   # a unique start of the key is enough")
    m.add_argument("--data-dir", help="the daemon's data folder")
    m.add_argument("--config", help="settings file (TOML) of the daemon")
    m.add_argument("--remove", metavar="KEY",
                   help="revoke the master with this key, or with a key starting with these (8 or more) "
                        "characters; write --remove='KEY': keys hold characters the shell reads, and may start with -")
    m.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr if args.command in ("count", "bench", "masters") else sys.stdout,
    )
    from campool_worker import log_redaction
    log_redaction.install()  # no log line shows a camera's password
    try:
        if args.command == "count":
            from campool_worker.pipeline.offline import count_command
            return count_command(args)
        if args.command == "bench":
            from campool_worker.harness.bench import bench_command
            return bench_command(args)
        if args.command == "serve":
            # Everything the daemon writes (worker.db and its -wal/-shm, camera-secrets.json, keys,
            # pushed models) is its user's alone: 0600 files in a 0700 folder.
            os.umask(0o077)
            from campool_worker.service import serve_command
            return serve_command(args)
        if args.command == "pair":
            from campool_worker.security import pair_command
            return pair_command(args)
        if args.command == "masters":
            from campool_worker.masters import masters_command
            return masters_command(args)
    except CampoolError as exc:
        from campool_worker.url_secrets import redact_text
        print(f"campool-worker {args.command}: error: {redact_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
