"""A real RTSP camera for tests: Debian's gst-rtsp-server serving a shared video in a loop.

Run as a script with the system Python (/usr/bin/python3, which has `gi` and
GstRtspServer); the project's Python only starts and kills it:

    /usr/bin/python3 tests/helpers/rtsp_server.py --video highway.mp4 --port 8554 [--path /cam] \
        [--user admin --password SECRET]

It prints ``READY rtsp://127.0.0.1:PORT/PATH`` on stdout once it listens. With --user and
--password the camera asks for them (RTSP Basic authentication), like a real one: a client
without them, or with a wrong password, gets 401 Unauthorized. Stopping
it is a plain kill (SIGKILL), like a camera losing power; starting it again on the
same port is a camera coming back.

`RtspCamera` is the pytest side of it (the `rtsp_camera` fixture lives in the test
modules that use it): start(), stop(), restart(), with a clear skip when gi or
GstRtspServer is missing.
"""
from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_PYTHON = os.environ.get("CAMPOOL_GI_PYTHON", "/usr/bin/python3")
_PROBE = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
          "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
          "missing = [e for e in ('qtdemux', 'avidemux', 'h264parse', 'rtph264pay') "
          "if Gst.ElementFactory.find(e) is None]; "
          "print(','.join(missing))")


def _launch_line(video: str) -> str:
    """A pipeline that sends the file's H.264 as is: no decode, no encode, little CPU.

    Use an MP4 (highway.mp4): its timestamps pace the stream at the real frame rate.
    plaza.avi's AVI timestamps are broken (the header claims 682 frames at 50 fps for
    341 real ones), so served this way it streams several times faster than real time.
    """
    demux = "avidemux" if video.lower().endswith(".avi") else "qtdemux"
    return (f"( filesrc location=\"{video}\" ! {demux} ! queue ! h264parse name=parse ! "
            f"rtph264pay name=pay0 pt=96 config-interval=-1 )")


def serve(video: str, port: int, path: str, user: str | None = None,
          password: str | None = None) -> None:  # pragma: no cover - runs under /usr/bin/python3
    import threading

    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(_launch_line(video))
    factory.set_shared(True)

    def on_configure(_factory, media):
        # Loop the file: swallow the end-of-stream at the parser and seek back to the
        # start, so the camera streams for as long as the test needs.
        bin_ = media.get_element()
        parse = bin_.get_by_name("parse")
        pipeline = bin_.get_parent() or bin_

        def rewind():
            pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
            return False

        def probe(_pad, info):
            event = info.get_event()
            if event is not None and event.type == Gst.EventType.EOS:
                threading.Thread(target=rewind, daemon=True).start()
                return Gst.PadProbeReturn.DROP
            return Gst.PadProbeReturn.OK

        parse.get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, probe)

    factory.connect("media-configure", on_configure)
    if user is not None and password is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "camera-user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("camera-user", "media.factory.access", True)
        permissions.add_permission_for_role("camera-user", "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        sys.stderr.write(f"rtsp_server: cannot listen on 127.0.0.1:{port}\n")
        sys.exit(3)
    sys.stdout.write(f"READY rtsp://127.0.0.1:{port}{path}\n")
    sys.stdout.flush()
    GLib.MainLoop().run()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gi_rtsp_missing() -> str | None:
    """Why the RTSP server cannot run here, or None when it can."""
    if not shutil.which(SYSTEM_PYTHON) and not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found (set CAMPOOL_GI_PYTHON to a Python with gi and GstRtspServer)"
    try:
        out = subprocess.run([SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return (f"{SYSTEM_PYTHON} lacks gi/GstRtspServer ({last}); install python3-gi "
                f"gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad")
    if out.stdout.strip():
        return f"GStreamer elements missing: {out.stdout.strip()}; install gstreamer1.0-plugins-good/-bad"
    return None


class RtspCamera:
    """A gst-rtsp-server subprocess serving `video` on a fixed port; stop = SIGKILL."""

    def __init__(self, video: str | Path, port: int | None = None, path: str = "/cam", *,
                 user: str | None = None, password: str | None = None) -> None:
        self.video = str(video)
        self.port = port or free_port()
        self.path = path
        self.user, self.password = user, password
        self.url = f"rtsp://127.0.0.1:{self.port}{path}"  # without credentials
        self.proc: subprocess.Popen[str] | None = None

    def url_with(self, user: str, password: str) -> str:
        """The camera's URL with credentials in it (as typed, unencoded: FFmpeg splits the user
        info at its last @ and its first :)."""
        return f"rtsp://{user}:{password}@127.0.0.1:{self.port}{self.path}"

    def start(self, timeout_s: float = 20.0) -> RtspCamera:
        if self.proc is not None and self.proc.poll() is None:
            return self
        deadline = time.monotonic() + timeout_s
        while True:
            creds = ["--user", self.user, "--password", self.password] if self.user and self.password else []
            self.proc = subprocess.Popen(
                [SYSTEM_PYTHON, __file__, "--video", self.video, "--port", str(self.port), "--path", self.path,
                 *creds],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            assert self.proc.stdout is not None
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.1, deadline - time.monotonic()))
            line = self.proc.stdout.readline() if ready else ""
            if line.startswith("READY"):
                return self
            proc, self.proc = self.proc, None
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            err = proc.stderr.read() if proc.stderr else ""
            proc.stdout.close()
            if proc.stderr:
                proc.stderr.close()
            # The port may still be held for a moment after a kill; try again briefly.
            if "cannot listen" not in err or time.monotonic() > deadline:
                raise RuntimeError(f"RTSP server did not start on port {self.port}: {err.strip()[-500:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Kill the server like a camera losing power (no RTSP TEARDOWN, sockets just close)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
        self.proc = None

    def restart(self) -> RtspCamera:
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> RtspCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:  # pragma: no cover - runs under /usr/bin/python3
    ap = argparse.ArgumentParser(description="serve a video file as a looping RTSP camera")
    ap.add_argument("--video", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/cam")
    ap.add_argument("--user", help="ask clients for this user name (with --password)")
    ap.add_argument("--password", help="and this password (RTSP Basic authentication)")
    args = ap.parse_args()
    if not Path(args.video).is_file():
        sys.stderr.write(f"rtsp_server: video {args.video} not found\n")
        sys.exit(2)
    serve(str(Path(args.video).resolve()), args.port, args.path, args.user, args.password)


if __name__ == "__main__":
    main()
