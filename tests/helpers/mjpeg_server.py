"""A real HTTP/MJPEG camera for tests: multipart/x-mixed-replace JPEGs from the synthetic scene.

Many cheap IP cameras serve exactly this (`GET /video.mjpg`). It runs on a thread
in the test process, on a real socket; `stop()` closes the listener and every open
connection, like a camera losing power.

By default each connection gets the scene from its first frame (tests that compare the pictures
rely on it). ``live=True`` is a real camera: every viewer sees the frame of the moment, so two
workers watching it at once see the same objects at the same time (the live standby tests).
"""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from campool_worker.pipeline.synthetic import SyntheticParams, SyntheticScene

BOUNDARY = "campoolframe"


class MjpegCamera:
    def __init__(self, scene_url: str = "synthetic://?w=320&h=240&fps=25&objects=2&seed=4",
                 path: str = "/video.mjpg", *, live: bool = False) -> None:
        self.live = live
        self.t0 = time.time()
        self.params = SyntheticParams.parse(scene_url)
        self.scene = SyntheticScene(self.params)
        self.path = path
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: list[socket.socket] = []
        self._stopped = threading.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> MjpegCamera:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                if self.path != camera.path:
                    self.send_error(404, "no such stream")
                    return
                camera._conns.append(self.connection)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                period = 1.0 / camera.params.fps
                i = 0
                try:
                    while not camera._stopped.is_set():
                        if camera.live:
                            i = int((time.time() - camera.t0) * camera.params.fps)
                        _ok, jpg = cv2.imencode(".jpg", camera.scene.render(i), [cv2.IMWRITE_JPEG_QUALITY, 90])
                        data = jpg.tobytes()
                        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                         f"Content-Length: {len(data)}\r\n\r\n".encode() + data + b"\r\n")
                        i += 1
                        time.sleep(period)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass

        self._stopped.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="mjpeg-camera", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._conns.clear()
