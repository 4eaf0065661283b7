"""A real RTSP camera on this machine: Debian's gst-rtsp-server serving a video file in a loop.

The live failover bench (`bench-failover --live`) and the stream tests use it. This file is
two things: `RtspCamera`, which the project's Python uses to start, kill and restart the
server, and the server itself, run as a script by the system Python (/usr/bin/python3, which
has `gi` and GstRtspServer; the project's virtualenv usually has neither)::

    /usr/bin/python3 campool_gui/harness/rtsp_camera.py --video highway.mp4 --port 8554 \
        [--path /cam] [--user admin --password SECRET] [--always-on]

So this module imports nothing but the standard library at its top.

The server prints ``READY rtsp://127.0.0.1:PORT/PATH`` on stdout once it listens, then
``LOOP <n> <wall seconds>`` each time a loop of the file starts going out (see `serve`):
`RtspCamera.loop_starts` collects them, so a crossing at frame f of the file is seen near
``loop_starts[k] + f / fps`` on the stream. With --user and --password the camera asks for
them (RTSP Basic authentication), like a real one: a client without them, or with a wrong
password, gets 401 Unauthorized. With --always-on the server watches its own stream (an
`rtspsrc ! fakesink` inside it over UDP, no decoding), so the stream runs from the start whether or
not a client is connected, like a real camera: without it gst-rtsp-server starts the file
afresh for the first client after the last one left, and a failover would look like a
rewind. An always-on camera is also not seekable: without that, gst-rtsp-server seeks the shared
stream back to 0 for every client's PLAY (FFmpeg asks for npt=0-), which the tests written
against the plain camera rely on (a new client gets a key frame at once). A known limit of
gst-rtsp-server 1.22 (Debian 12): a TCP client that stops reading (SIGSTOP, a partition) while
another TCP client reads makes its backlog span a loop, whose timestamps start at 0 again, and
the server aborts ("gst_rtsp_stream_transport_backlog_push: assertion failed: (queue_duration >=
0)", 7 s into a partition); over UDP nothing backs up. Stopping it is a
plain kill (SIGKILL), like a camera losing power; starting it
again on the same port is a camera coming back.
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
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

SYSTEM_PYTHON = os.environ.get("CAMPOOL_GI_PYTHON", "/usr/bin/python3")
_PROBE = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
          "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
          "missing = [e for e in ('qtdemux', 'avidemux', 'h264parse', 'rtph264pay', 'rtspsrc', 'fakesink') "
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


def serve(video: str, port: int, path: str, user: str | None = None,  # pragma: no cover - runs under /usr/bin/python3
          password: str | None = None, always_on: bool = False, address: str = "127.0.0.1") -> None:
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(address)
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(_launch_line(video))
    factory.set_shared(True)
    loops = [0]

    def on_configure(_factory: Any, media: Any) -> None:
        # Loop the file with segment seeks: at the end of each play the demuxer says
        # SEGMENT_DONE (not EOS) and a non-flushing seek back to 0 queues the next play behind
        # it, so the stream's running time goes on without a jump, as a camera's clock does.
        # Each play's first frame is reported (LOOP) with the wall time the sinks send it.
        bin_ = media.get_element()
        parse = bin_.get_by_name("parse")
        pipeline = bin_.get_parent() or bin_
        state: dict[str, Any] = {"new_loop": True, "pending": None}

        def seek(flush: bool) -> None:
            flags = Gst.SeekFlags.SEGMENT | (Gst.SeekFlags.FLUSH if flush else Gst.SeekFlags.NONE)
            if not pipeline.seek(1.0, Gst.Format.TIME, flags, Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1):
                sys.stderr.write("rtsp_server: the loop seek failed\n")

        def on_event(_pad: Any, info: Any) -> Any:
            event = info.get_event()
            if event is None:
                return Gst.PadProbeReturn.OK
            if event.type == Gst.EventType.SEGMENT_DONE:
                threading.Thread(target=seek, args=(False,), daemon=True).start()
                return Gst.PadProbeReturn.DROP
            if event.type == Gst.EventType.EOS:
                # A plain play ended (a client's PLAY with a range seeks without our flag): the
                # flushing loop then, which also makes the next play a segment one.
                threading.Thread(target=seek, args=(True,), daemon=True).start()
                return Gst.PadProbeReturn.DROP
            if event.type == Gst.EventType.SEGMENT:
                state["new_loop"] = True   # in stream order: the next buffer is frame 0 of a play
            return Gst.PadProbeReturn.OK

        def on_buffer(pad: Any, info: Any) -> Any:
            buf = info.get_buffer()
            if buf is None:
                return Gst.PadProbeReturn.OK
            if state["new_loop"]:
                state["new_loop"] = False
                seg = pad.get_sticky_event(Gst.EventType.SEGMENT, 0).parse_segment()
                state["pending"] = seg.to_running_time(Gst.Format.TIME, buf.pts)
            pending = state["pending"]
            clock = pipeline.get_clock()
            if pending is not None and clock is not None and pipeline.get_base_time() > 0 \
                    and pipeline.get_state(0)[1] == Gst.State.PLAYING:
                # The loop's first frame goes out when the sinks' clock reaches it: base time +
                # its running time. From the running time, not from when the packet passes here:
                # the first play is parsed at preroll, a second or so before anyone plays it.
                now_rt = clock.get_time() - pipeline.get_base_time()
                sys.stdout.write(f"LOOP {loops[0]} {time.time() + (pending - now_rt) / 1e9:.6f}\n")
                sys.stdout.flush()
                loops[0] += 1
                state["pending"] = None
            return Gst.PadProbeReturn.OK

        def on_query(_pad: Any, info: Any) -> Any:
            # Not seekable, as a live camera is not: gst-rtsp-server otherwise seeks the shared
            # stream back to 0 for each client whose PLAY names a range (FFmpeg sends npt=0-),
            # so a worker connecting after a failover would rewind everyone's stream.
            # (A new SEEKING query says "not seekable" until filled in; PyGObject cannot write
            # to it here, so answering it untouched is the answer.)
            query = info.get_query()
            if query is not None and query.type == Gst.QueryType.SEEKING:
                return Gst.PadProbeReturn.HANDLED
            return Gst.PadProbeReturn.OK

        if always_on:
            parse.get_static_pad("src").add_probe(Gst.PadProbeType.QUERY_UPSTREAM, on_query)
        parse.get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, on_event)
        parse.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_buffer)

        def first_seek() -> bool:
            # The first play starts as a plain one; a flushing segment seek to 0 before the
            # clients are served turns it into a segment play, so its end is SEGMENT_DONE too.
            seek(True)
            return False

        media.connect("prepared", lambda _m: threading.Thread(target=first_seek, daemon=True).start())

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
        sys.stderr.write(f"rtsp_server: cannot listen on {address}:{port}\n")
        sys.exit(3)
    keeper: list[Any] = []
    if always_on:
        creds = f"{user}:{password}@" if user and password else ""

        def watch_own_stream() -> bool:
            # No decoder: it only holds the shared media open. Over UDP: an in-process TCP
            # client falls behind now and then, and a TCP backlog holding packets from both sides
            # of a loop aborts gst-rtsp-server ("gst_rtsp_stream_transport_backlog_push:
            # assertion failed: (queue_duration >= 0)", at the third loop, twice out of two).
            own = Gst.parse_launch(f"rtspsrc location=rtsp://{creds}{address}:{port}{path} protocols=udp "
                                   f"latency=0 ! fakesink sync=false")
            own.set_state(Gst.State.PLAYING)
            keeper.append(own)
            return False

        GLib.idle_add(watch_own_stream)
    sys.stdout.write(f"READY rtsp://{address}:{port}{path}\n")
    sys.stdout.flush()
    GLib.MainLoop().run()


def reencode(video: str, out: str, gop_frames: int) -> None:  # pragma: no cover - runs under /usr/bin/python3
    """Write `video` again with a key frame every `gop_frames` frames (x264, no B-frames, MP4).

    highway.mp4 has two key frames in 450 (a GOP of 8.3 s): a client joining its stream decodes
    smeared frames or nothing until the next one, which no camera set up for analytics does
    (their I-frame interval is 1-2 s). The copy is decoded and encoded once, then served as is."""
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    Gst.init(None)
    demux = "avidemux" if video.lower().endswith(".avi") else "qtdemux"
    pipeline = Gst.parse_launch(
        f"filesrc location=\"{video}\" ! {demux} ! h264parse ! avdec_h264 ! videoconvert ! "
        f"x264enc key-int-max={gop_frames} bframes=0 speed-preset=faster bitrate=4000 ! h264parse ! "
        f"mp4mux ! filesink location=\"{out}\"")
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg is None or msg.type != Gst.MessageType.EOS:
        detail = msg.parse_error()[0].message if msg is not None else "timed out"
        sys.stderr.write(f"rtsp_server: re-encoding {video} failed: {detail}\n")
        sys.exit(4)


def gop_copy(video: str | Path, gop_frames: int, cache_dir: Path | None = None) -> Path:
    """A copy of `video` with a key frame every `gop_frames` frames (see `reencode`), made once
    and kept in a cache folder (by name, size, modification time and GOP)."""
    src = Path(video)
    st = src.stat()
    folder = cache_dir or Path(tempfile.gettempdir()) / "campool-rtsp-camera"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{src.stem}-{st.st_size}-{int(st.st_mtime)}-gop{gop_frames}.mp4"
    if out.is_file():
        return out
    part = out.with_name(f"{out.name}.{os.getpid()}.part")
    res = subprocess.run([SYSTEM_PYTHON, __file__, "--reencode", str(src.resolve()), "--out", str(part),
                          "--gop", str(gop_frames)], capture_output=True, text=True, timeout=900, check=False)
    if res.returncode != 0 or not part.is_file():
        part.unlink(missing_ok=True)
        raise RuntimeError(f"could not re-encode {src} with a GOP of {gop_frames}: {res.stderr.strip()[-500:]}")
    part.replace(out)   # whole or not at all: another process may be reading the cache
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
    """A gst-rtsp-server subprocess serving `video` on a fixed port; stop = SIGKILL.

    gop_frames: serve a copy with a key frame every that many frames (`gop_copy`) instead of
    the file as is. always_on: stream with or without clients (see the module doc).

    loop_starts: the wall-clock second each loop of the file started going out, in order,
    as the server reported them (a restart of the server starts a new list).
    """

    def __init__(self, video: str | Path, port: int | None = None, path: str = "/cam", *,
                 user: str | None = None, password: str | None = None, always_on: bool = False,
                 gop_frames: int | None = None, address: str = "127.0.0.1") -> None:
        self.video = str(video)
        self.address = address
        self.gop_frames = gop_frames
        self.port = port or free_port()
        self.path = path
        self.user, self.password = user, password
        self.always_on = always_on
        self.url = f"rtsp://{address}:{self.port}{path}"  # without credentials
        self.proc: subprocess.Popen[str] | None = None
        self.loop_starts: list[float] = []
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._errors: list[str] = []

    def url_with(self, user: str, password: str) -> str:
        """The camera's URL with credentials in it (as typed, unencoded: FFmpeg splits the user
        info at its last @ and its first :)."""
        return f"rtsp://{user}:{password}@{self.address}:{self.port}{self.path}"

    def loops(self) -> list[float]:
        """A copy of `loop_starts` (the reader thread appends to it)."""
        with self._lock:
            return list(self.loop_starts)

    def wait_first_loop(self, timeout_s: float = 20.0) -> float:
        """The wall second the first loop started; with always_on it starts without a client."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            starts = self.loops()
            if starts:
                return starts[0]
            if not self.running:
                break
            time.sleep(0.05)
        raise RuntimeError(f"RTSP camera on port {self.port} started no loop within {timeout_s:.0f} s")

    def served_video(self) -> Path:
        """The file the camera streams: the video, or its copy with the asked-for GOP (made on first use)."""
        return gop_copy(self.video, self.gop_frames) if self.gop_frames else Path(self.video)

    def start(self, timeout_s: float = 20.0) -> RtspCamera:
        if self.proc is not None and self.proc.poll() is None:
            return self
        video = str(self.served_video())
        deadline = time.monotonic() + timeout_s
        while True:
            extra = ["--user", self.user, "--password", self.password] if self.user and self.password else []
            if self.always_on:
                extra.append("--always-on")
            self.proc = subprocess.Popen(
                [SYSTEM_PYTHON, __file__, "--video", video, "--port", str(self.port), "--path", self.path,
                 "--address", self.address, *extra],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            assert self.proc.stdout is not None
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.1, deadline - time.monotonic()))
            line = self.proc.stdout.readline() if ready else ""
            if line.startswith("READY"):
                with self._lock:
                    self.loop_starts = []
                # Its stdout must be drained for as long as it runs: a full pipe would block the
                # server's streaming thread at its next LOOP line, and the camera would freeze.
                self._reader = threading.Thread(target=self._read_loops, args=(self.proc.stdout,),
                                                name=f"rtsp-camera-{self.port}", daemon=True)
                self._reader.start()
                assert self.proc.stderr is not None
                threading.Thread(target=self._read_errors, args=(self.proc.stderr,),
                                 name=f"rtsp-camera-{self.port}-err", daemon=True).start()
                return self
            proc, self.proc = self.proc, None
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            err = proc.stderr.read() if proc.stderr else ""
            if proc.stdout:
                proc.stdout.close()
            if proc.stderr:
                proc.stderr.close()
            # The port may still be held for a moment after a kill; try again briefly.
            if "cannot listen" not in err or time.monotonic() > deadline:
                raise RuntimeError(f"RTSP server did not start on port {self.port}: {err.strip()[-500:]}")
            time.sleep(0.2)

    def _read_loops(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                parts = line.split()
                if len(parts) == 3 and parts[0] == "LOOP":
                    with self._lock:
                        self.loop_starts.append(float(parts[2]))
        except (OSError, ValueError):  # the pipe closed under us (stop)
            return

    def _read_errors(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                with self._lock:
                    self._errors = [*self._errors[-49:], line.rstrip()]
        except (OSError, ValueError):
            return

    def errors(self) -> list[str]:
        """The last lines the server wrote on stderr (GStreamer warnings, a failed seek)."""
        with self._lock:
            return list(self._errors)

    def stop(self) -> None:
        """Kill the server like a camera losing power (no RTSP TEARDOWN, sockets just close)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
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
    ap.add_argument("--video")
    ap.add_argument("--reencode", metavar="VIDEO", help="write VIDEO again to --out with a GOP of --gop frames, exit")
    ap.add_argument("--out")
    ap.add_argument("--gop", type=int, default=60)
    ap.add_argument("--port", type=int)
    ap.add_argument("--path", default="/cam")
    ap.add_argument("--address", default="127.0.0.1", help="listen on this address (default 127.0.0.1)")
    ap.add_argument("--user", help="ask clients for this user name (with --password)")
    ap.add_argument("--password", help="and this password (RTSP Basic authentication)")
    ap.add_argument("--always-on", action="store_true",
                    help="stream from the start, with or without clients, like a real camera")
    args = ap.parse_args()
    if args.reencode:
        reencode(args.reencode, args.out, args.gop)
        return
    if not args.video or not args.port:
        ap.error("--video and --port are required")
    if not Path(args.video).is_file():
        sys.stderr.write(f"rtsp_server: video {args.video} not found\n")
        sys.exit(2)
    serve(str(Path(args.video).resolve()), args.port, args.path, args.user, args.password, args.always_on,
          args.address)


if __name__ == "__main__":
    main()
