"""One camera's live loop in the daemon, and the one supervisor that keeps it going.

A `CameraRunner` runs one camera on two threads:

* the loop opens the camera's source, hands every frame to the camera's `CameraPipeline` and
  reports crossings and results through callbacks. A dead stream is the loop's own business: it
  reopens it with a backoff (1 s doubling to 30 s, from 1 s again once the stream worked for a
  while), reporting "reconnecting".
* the supervisor (Frigate's watchdog) restarts the loop on a fresh thread with a fresh pipeline
  when it stops making progress (a decoder or model call that hangs), and rebuilds it when it
  failed: a pipeline that cannot be built (a model that does not load, or that the master has
  not pushed yet) is tried again with a backoff of its own (1 s doubling to 60 s), so a model
  pushed or fixed later is picked up, and a changed configuration is tried at once. Restarts of
  both kinds are capped by a `RestartBudget` (5 in 60 s, then they wait), so a camera that
  breaks in a loop cannot spin a core.

A warm standby (``warm_buffer_s``) runs the same loop without a pipeline: it keeps the stream
connected and its last seconds of frames in a `FrameRing` (frame_ring.py), and builds nothing.
`promote(count_from_ts)` makes it count: its pipeline is built beside the loop (which goes on
buffering meanwhile), then it processes the buffered frames from ``count_from_ts`` minus
`PROMOTION_WARMUP_S` (the tracker needs history; crossings before the cut are suppressed) as
fast as it can, taking in the frames that arrive meanwhile behind them, and once it has caught up
it reads the stream directly again: no frame is lost or processed twice on the way. A hot
standby (or a primary) is promoted by its role alone.

Every frame processed (a warm standby: buffered) is told to the camera's `CoverageTracker`
(coverage.py), after its crossings; every loss of the stream, stop or restart ends its span.

Frame indices keep growing across reconnects and restarts. A seekable source (file, synthetic)
continues at the next frame, so counts stay exact. A live stream's index jumps by the frames
the outage lasted (at the stream's fps), so a tracker sees the gap as time passing and does not
join an object from before the outage to one after it.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol

from campool_worker.camera import CameraConfig
from campool_worker.coverage import CoverageTracker
from campool_worker.errors import SourceError
from campool_worker.pipeline.frame_ring import FrameRing
from campool_worker.pipeline.sources import Frame, FrameSource, open_source, redact_url
from campool_worker.supervision import Backoff, RestartBudget

log = logging.getLogger(__name__)

State = Literal["starting", "running", "reconnecting", "failed", "stopped"]
# Why the current loop thread is gone: its pipeline could not be built (or it crashed), its file
# ended, or the supervisor abandoned it as stalled.
LoopExit = Literal["failed", "ended", "stalled"]

RECONNECT_INITIAL_S = 1.0
RECONNECT_CAP_S = 30.0
RECONNECT_RESET_AFTER_S = 10.0  # a stream that delivered this long was a working connection
REBUILD_INITIAL_S = 1.0
REBUILD_CAP_S = 60.0
REBUILD_RESET_AFTER_S = 60.0
RESTARTS_PER_WINDOW = 5  # Frigate's watchdog: at most 5 restarts a minute, then back off
RESTART_WINDOW_S = 60.0
WARMUP_FRAMES = 50  # frames replayed before a resumed file starts counting, so tracks exist
PROMOTION_WARMUP_S = 2.0  # a promoted warm standby replays this much before the cut, so tracks exist


class PipelineLike(Protocol):
    """What the runner needs of a CameraPipeline (camera_pipeline.py)."""

    def process(self, frame: Frame) -> Any: ...


PipelineFactory = Callable[[CameraConfig], PipelineLike]
SourceOpener = Callable[..., FrameSource]


@dataclass(frozen=True)
class RunnerStatus:
    """A snapshot of one camera's runner; the daemon turns it into the wire's `CameraTelemetry`."""

    camera_id: str
    state: State
    fps: float = 0.0  # frames processed per second, recent average
    latency_ms: float = 0.0  # capture to processed, recent average
    frames: int = 0  # frames processed since start()
    last_error: str | None = None  # why it is reconnecting / failed / was restarted
    frame_index: int = -1  # index of the last processed frame
    reconnects: int = 0
    retry_in_s: float | None = None  # when reconnecting or failed: seconds until the next attempt
    dropped: int = 0  # live frames dropped because processing was slower than the camera
    suppressed: int = 0  # crossings before count_from_frame / count_from_ts (handover warm-up)
    ended: bool = False  # a non-looped file reached its end
    frame_ts: float = 0.0  # capture time (worker clock) of the last processed frame (warm: buffered)
    buffered_s: float = 0.0  # a warm standby: seconds of frames it holds (promoted: still to count)
    warm: bool = False  # buffering without a pipeline (a warm standby not promoted yet)
    catch_up_fps: float = 0.0  # a promoted warm standby: how fast it counted its buffered frames
    model_runs: int = 0  # frames the detector ran on since start()
    detect: str = ""  # the pipeline's detection mode: "adaptive", "fixed" or "every"
    detect_starved: int = 0  # adaptive: runs the current pipeline needed and its budget refused
    detect_budget: float = 0.0  # adaptive: the most runs a second it has now (the worker may lower it)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CameraRunner:
    """One camera's loop and its supervisor (see the module doc).

    pipeline_factory(config) builds the CameraPipeline; it is called again after every restart
    (the old pipeline may still be stuck inside process()) and after a failure, so whatever it
    raises (ModelError...) becomes the camera's "failed" status and is tried again later.
    start_frame: seek there first (seekable sources; ignored for live streams).
    count_from_frame / count_from_ts: crossings before this frame index / wall time
    are not reported (the handover warm-up: the tracker needs history, the old worker
    already counted that interval).
    warm_buffer_s: a warm standby keeping this many seconds of frames until `promote`.
    watch: told of every frame watched and every loss, for the coverage spans.
    """

    def __init__(
        self,
        config: CameraConfig,
        pipeline_factory: PipelineFactory,
        *,
        on_crossing: Callable[[Any], None] | None = None,
        on_crossings: Callable[[list[Any]], None] | None = None,
        on_result: Callable[[Frame, Any], None] | None = None,
        start_frame: int | None = None,
        count_from_frame: int | None = None,
        count_from_ts: float | None = None,
        realtime: bool | None = None,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        backoff_initial_s: float = RECONNECT_INITIAL_S,
        backoff_max_s: float = RECONNECT_CAP_S,
        rebuild_initial_s: float = REBUILD_INITIAL_S,
        rebuild_max_s: float = REBUILD_CAP_S,
        stall_timeout_s: float = 20.0,
        opener: SourceOpener = open_source,
        log_context: str = "",
        warm_buffer_s: float | None = None,
        watch: CoverageTracker | None = None,
    ) -> None:
        self.config = config
        self._factory = pipeline_factory
        self._on_crossing = on_crossing
        # All crossings of one frame in one call, so a consumer can commit a frame atomically
        # (the outbox's resume-after-crash rule relies on frames being all-or-nothing).
        self._on_crossings = on_crossings
        self._on_result = on_result
        self._start_frame = start_frame
        self.count_from_frame = count_from_frame
        self.count_from_ts = count_from_ts
        self._realtime = realtime
        self._open_timeout_s = open_timeout_s
        self._read_timeout_s = read_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self._opener = opener
        self._ctx = f"camera {config.camera_id!r}{' ' + log_context if log_context else ''}"
        # The detector budget the worker allows now (None: the camera's own); applied by the camera's
        # thread to whichever pipeline it runs, a rebuilt one too.
        self._detect_budget: float | None = None
        # The loop's reconnects, and the supervisor's rebuilds and restarts: each owned by one thread.
        self._reconnect = Backoff(backoff_initial_s, backoff_max_s, reset_after=RECONNECT_RESET_AFTER_S)
        self._rebuild = Backoff(rebuild_initial_s, rebuild_max_s, reset_after=REBUILD_RESET_AFTER_S)
        self._budget = RestartBudget(RESTARTS_PER_WINDOW, RESTART_WINDOW_S)

        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a loop ended or the config changed: the supervisor looks now
        self._generation = 0  # bumped for every loop thread; an older one exits quietly
        self._exited: LoopExit | None = None  # why the current loop is gone (None: it runs)
        self._restart_at: float | None = None  # when the supervisor starts the next loop
        self._thread: threading.Thread | None = None
        self._supervisor: threading.Thread | None = None
        self._source: FrameSource | None = None
        self._heartbeat = time.monotonic()
        self._busy = False  # inside open/read/process (the supervisor only judges a busy loop)
        self._next_index: int | None = start_frame  # where a seekable source continues
        self._index_offset = 0  # live streams: added to the source's own index
        self._media_offset = 0.0
        self._last_frame_wall: float | None = None  # None: no frame processed since the last (re)start
        self._last_media = 0.0
        self._status = RunnerStatus(camera_id=config.camera_id, state="stopped")
        self._fps_ema = 0.0
        self._lat_ema = 0.0
        self._last_tick: float | None = None
        self._pending_config: CameraConfig | None = None
        self._watch = watch
        # A warm standby: its ring (also while a promotion counts it), the promotion asked for and
        # its cut, the pipeline being built for it, and whether the buffered frames are being counted.
        self._ring = FrameRing(warm_buffer_s, config.detect_fps) if warm_buffer_s is not None else None
        self._promoted = False
        self._promote_from: float | None = None
        self._cut: float | None = None
        self._build: _Build | None = None
        self._catching_up = False
        self._catch_up_start: tuple[float, int] = (0.0, 0)  # (monotonic time, frames processed then)
        if self._ring is not None:
            self._status = replace(self._status, warm=True)

    # ---- public API -------------------------------------------------------------

    def start(self) -> CameraRunner:
        if self._thread is not None:
            raise RuntimeError(f"{self._ctx}: runner already started")
        self._set(state="starting", last_error=None)
        self._rebuild.started()
        self._spawn_loop()
        self._supervisor = threading.Thread(target=self._supervise, name=f"supervisor-{self.config.camera_id}",
                                            daemon=True)
        self._supervisor.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the camera; returns within about timeout_s even if the loop is stuck."""
        self._stop.set()
        self._wake.set()
        src = self._source
        if src is not None:
            src.interrupt()
        for th in (self._thread, self._supervisor):
            if th is not None and th is not threading.current_thread():
                th.join(timeout=timeout_s)
        if self._thread is not None and self._thread.is_alive():
            log.warning("%s: loop did not stop within %.1f s; abandoning its thread", self._ctx, timeout_s)
        if self._watch is not None:
            self._watch.lost()
        self._set(state="stopped", retry_in_s=None)

    def set_detect_budget(self, budget: float | None) -> None:
        """Allow the adaptive detector `budget` runs a second (None: the camera's own budget);
        thread-safe, taken at the camera's next frame (detect_governor.py decides it)."""
        self._detect_budget = budget

    def promote(self, count_from_ts: float | None) -> None:
        """The camera becomes its epoch's primary (thread-safe, idempotent). A warm standby counts
        its buffered frames from ``count_from_ts`` (its clock; None: from its newest frame, counting
        nothing it buffered) faster than real time, then goes on live; a hot one only changes its
        role (its crossings were reported all along)."""
        with self._lock:
            if self._promoted:
                return
            self._promoted = True
            self._promote_from = count_from_ts
            if self._ring is not None and count_from_ts is not None:
                # Its frame_ts so far said "buffered up to"; from now on it says "counted up to"
                # (a heartbeat's watermark). Nothing before the cut will ever be counted, so up to
                # the cut is claimed; the buffered frames after it only once they are processed.
                st = self._status
                self._status = replace(st, frame_ts=min(st.frame_ts, count_from_ts))
        if self._ring is None and self._watch is not None:
            self._watch.set_role("primary")

    def status(self) -> RunnerStatus:
        with self._lock:
            return self._status

    def ring_figures(self) -> dict[str, float] | None:
        """A warm standby's ring as it stands (frames, bytes, frames kept so far and the ms spent
        keeping them), for the cost figures (harness/standby_bench.py); None when it has none.
        Read from another thread: figures, not state to act on."""
        ring = self._ring
        if ring is None:
            return None
        return {"frames": len(ring), "bytes": ring.nbytes, "kept": ring.kept, "keep_ms": ring.keep_ms}

    def update_config(self, config: CameraConfig) -> None:
        """Apply a changed camera (lines, zones, model...) between two frames.

        A changed source reconnects; anything else only rebuilds the pipeline. A camera that
        had failed (or whose file ended) is tried again at once with the new settings.
        """
        if config.camera_id != self.config.camera_id:
            raise ValueError(f"{self._ctx}: update for another camera {config.camera_id!r}")
        with self._lock:
            self._pending_config = config
        if config.source != self.config.source or config.loop != self.config.loop:
            src = self._source
            if src is not None:
                src.interrupt()
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- the loop -----------------------------------------------------------------

    def _spawn_loop(self) -> None:
        if self._stop.is_set():
            return
        with self._lock:
            self._generation += 1
            gen = self._generation
            self._exited = None
            self._heartbeat = time.monotonic()
            self._busy = False
        self._reconnect.reset()  # a fresh loop: its first reconnect waits the initial delay
        self._thread = threading.Thread(target=self._loop, args=(gen,), name=f"camera-{self.config.camera_id}",
                                        daemon=True)
        self._thread.start()

    def _current(self, gen: int) -> bool:
        return gen == self._generation and not self._stop.is_set()

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def _beat(self, gen: int, busy: bool) -> None:
        if gen == self._generation:  # a thread the supervisor gave up on must not mask a new stall
            self._heartbeat = time.monotonic()
            self._busy = busy

    def _loop(self, gen: int) -> None:
        exit_as: LoopExit | None = "failed"
        try:
            exit_as = self._run(gen)
        except Exception as exc:  # a bug in the loop itself: the supervisor rebuilds it
            log.exception("%s: camera loop crashed", self._ctx)
            if self._current(gen):
                self._set(state="failed", last_error=f"camera loop error: {exc}", retry_in_s=None)
        finally:
            with self._lock:
                current = gen == self._generation
                if current and exit_as is not None:
                    self._exited = exit_as
            if current and self._watch is not None:
                self._watch.lost()
            self._wake.set()

    def _run(self, gen: int) -> LoopExit | None:
        """Open, read and reopen until the camera fails ("failed"), its file ends ("ended"), or this
        loop is no longer wanted (None: stopped, or abandoned by the supervisor)."""
        loop = _Loop()
        while self._current(gen):
            # A model that cannot load is not something reopening the stream fixes: the camera is
            # "failed", and the supervisor rebuilds it later (or at once after update_config). A
            # warm standby builds nothing until it is promoted.
            if self._needs_pipeline() and (loop.pipeline is None or self._pending_config is not None):
                loop.pipeline = self._build_pipeline(gen)
                if loop.pipeline is None:
                    return "failed"
            source: FrameSource | None = None
            try:
                self._beat(gen, busy=True)
                source = self._open()
                self._source = source
                # The pipeline was built before the stream's rate was known (duck-typed: the
                # runner also drives simpler pipelines in tests).
                self._stream_fps_known(loop.pipeline, source)
                if not self._current(gen):
                    break
                outcome = self._run_frames(gen, source, loop)
                if outcome == "failed":
                    return "failed"
                if outcome == "ended":
                    log.info("%s: end of %s", self._ctx, source.display_url)
                    self._set(state="stopped", ended=True, retry_in_s=None)
                    return "ended"
                # "reopen" (the source changed) goes round at once; "stopped" leaves the loop.
            except SourceError as exc:
                if not self._current(gen):
                    break
                delay = self._reconnect.failed()
                self._note_loss(str(exc), delay)
                self._sleep(gen, delay)
            except Exception as exc:  # fail alone, never take the worker down
                log.exception("%s: camera loop failed", self._ctx)
                if not self._current(gen):
                    break
                delay = self._reconnect.failed()
                self._note_loss(f"camera loop error: {exc}", delay)
                self._sleep(gen, delay)
            finally:
                if source is not None:
                    if self._source is source:
                        self._source = None
                    source.close()
                self._beat(gen, busy=False)
        return None

    def _needs_pipeline(self) -> bool:
        """False for a warm standby not promoted yet: it buffers, it builds nothing."""
        with self._lock:
            return self._ring is None or self._promoted

    def _stream_fps_known(self, pipeline: PipelineLike | None, source: FrameSource) -> None:
        set_fps = getattr(pipeline, "set_stream_fps", None)
        if set_fps is not None and source.fps:
            set_fps(source.fps)
        if self._watch is not None:
            # A slow camera, or a warm standby's detection-rate frames counted on promotion, is still watched.
            rates = [r for r in (source.fps, self.config.detect_fps) if r]
            self._watch.set_gap(2.5 / min(rates) if rates else 0.0)

    def _take_config(self) -> None:
        """Apply a pending config (the pipeline, if any, is the caller's to rebuild)."""
        with self._lock:
            pending, self._pending_config = self._pending_config, None
            if pending is None:
                return
            if (pending.source, pending.loop) != (self.config.source, self.config.loop):
                # Another stream: positions in the old one mean nothing there, nor its frames.
                self._next_index, self._index_offset, self._media_offset = None, 0, 0.0
                self._last_frame_wall, self._last_media = None, 0.0
                if self._ring is not None:
                    self._ring.clear()
            self.config = pending
            if self._ring is not None:
                self._ring.detect_fps = pending.detect_fps

    def _build_pipeline(self, gen: int) -> PipelineLike | None:
        """Apply a pending config and build its pipeline; None (camera failed) when that fails."""
        self._take_config()
        try:
            return self._factory(self.config)
        except Exception as exc:  # noqa: BLE001 - ModelError, ConfigError, anything the factory raises
            msg = str(exc) or type(exc).__name__
            if self._current(gen):
                self._set(state="failed", last_error=msg, retry_in_s=None)
            return None

    def _open(self) -> FrameSource:
        cfg = self.config
        source = self._opener(cfg.source, loop=cfg.loop, realtime=self._realtime,
                              open_timeout_s=self._open_timeout_s, read_timeout_s=self._read_timeout_s)
        try:
            if self._next_index is not None:
                if source.seekable:
                    source.seek(self._next_index)
                    self._index_offset = 0
                else:
                    self._continue_live_index(source)
            log.info("%s: opened %s (%dx%d, %s fps)", self._ctx, source.display_url, source.width,
                     source.height, f"{source.fps:.2f}" if source.fps else "?")
        except BaseException:
            source.close()
            raise
        return source

    def _continue_live_index(self, source: FrameSource) -> None:
        """Make a reopened live stream's indices carry on, with the outage counted as frames."""
        assert self._next_index is not None
        fps = source.fps or 25.0
        if self._last_frame_wall is None:  # first open with a start frame: just start there
            self._index_offset, self._media_offset = self._next_index, 0.0
            return
        gap_s = max(0.0, time.time() - self._last_frame_wall)
        self._index_offset = self._next_index + int(gap_s * fps)
        self._media_offset = self._last_media + max(gap_s, 1.0 / fps)

    def _run_frames(self, gen: int, source: FrameSource, loop: _Loop) -> str:
        """Process frames until the source fails (raises) or one of these outcomes:

        "ended" (a file's last frame), "reopen" (the camera's source was changed),
        "failed" (a changed config whose pipeline cannot be built), "stopped".
        A config change that keeps the source rebuilds the pipeline in place. A warm standby
        buffers instead (`_buffer_frame`) until a promotion's pipeline is ready, then counts its
        buffered frames before it reads the stream again (`_next_frame`).
        """
        first = True
        while self._current(gen):
            pending = self._pending_config
            if pending is not None:
                if (pending.source, pending.loop) != (self.config.source, self.config.loop):
                    log.info("%s: source changed to %s; reopening", self._ctx, redact_url(pending.source))
                    return "reopen"
                if loop.pipeline is None:
                    self._take_config()  # a warm standby: nothing to rebuild
                else:
                    rebuilt = self._build_pipeline(gen)
                    if rebuilt is None:
                        return "failed"
                    loop.pipeline = rebuilt
                    log.info("%s: configuration updated at frame %s", self._ctx, self._next_index)
            if self._ring is not None and not self._catching_up:
                if loop.pipeline is None and not self._promotion_built(gen, loop, source):
                    return "failed"
                if loop.pipeline is not None:
                    self._begin_catch_up()
            self._beat(gen, busy=True)
            if loop.pipeline is None:
                if not self._buffer_frame(source, first):
                    return "ended"
                first = False
                continue
            frame, buffered = self._next_frame(source)
            if frame is None:
                return "ended"
            result = loop.pipeline.process(frame)
            if not self._current(gen):
                break  # the supervisor restarted the loop while we were inside process()
            self._note_detection(loop.pipeline, bool(getattr(result, "detected", True)))
            if buffered:
                assert self._ring is not None
                self._ring.pop()
            else:
                self._read_up_to(frame)
            self._deliver(frame, result)
            if self._watch is not None and (self.count_from_ts is None or frame.ts >= self.count_from_ts):
                self._watch.frame(frame.ts)
            self._tick(frame, source, first)
            first = False
        return "stopped"

    def _read(self, source: FrameSource, wait: bool = True) -> Frame | None:
        """The source's next frame with its index carried on across reconnects; ``wait=False``:
        only one that is ready now."""
        frame = source.read() if wait else source.poll()
        if frame is not None and self._index_offset:
            frame = Frame(frame.image, frame.index + self._index_offset, frame.ts,
                          frame.media_ts + self._media_offset)
        return frame

    def _read_up_to(self, frame: Frame) -> None:
        """Where the stream stands: a reconnect, restart or seek goes on after this frame."""
        self._next_index = frame.index + 1
        self._last_frame_wall = frame.ts
        self._last_media = frame.media_ts

    def _buffer_frame(self, source: FrameSource, first: bool) -> bool:
        """A warm standby's step: read one frame into the ring. False at the end of a file."""
        assert self._ring is not None
        frame = self._read(source)
        if frame is None:
            return False
        self._read_up_to(frame)
        self._ring.push(frame)
        if self._watch is not None:
            self._watch.frame(frame.ts)
        with self._lock:
            promoted = self._promoted
        # Promoted, its pipeline still being built: the frame is kept, not counted yet, so it
        # must not move frame_ts (the primary's watermark).
        self._tick(frame, source, first, processed=not promoted)
        return True

    def _next_frame(self, source: FrameSource) -> tuple[Frame | None, bool]:
        """The next frame to process, and whether it comes from the ring (a promotion catching
        up: the frames that arrived meanwhile go in behind the buffered ones first)."""
        if self._catching_up:
            ring = self._ring
            assert ring is not None
            while (arrived := self._read(source, wait=False)) is not None:
                self._read_up_to(arrived)
                ring.push(arrived)
            frame = ring.peek()
            if frame is not None:
                return frame, True
            self._end_catch_up()
        return self._read(source), False

    def _promotion_built(self, gen: int, loop: _Loop, source: FrameSource) -> bool:
        """A warm standby's promotion: build its pipeline beside the loop (which goes on buffering)
        and put it in ``loop`` once ready. False when it cannot be built (the camera failed)."""
        with self._lock:
            promoted, start = self._promoted, self._promote_from
        if not promoted:
            return True
        ring = self._ring
        assert ring is not None
        if self._build is None:
            self._cut = start if start is not None else (ring.newest_ts or time.time())
            ring.hold_from(self._cut - PROMOTION_WARMUP_S)  # from now on nothing it must count ages out
            self._build = _Build(self._factory, self.config, f"build-{self.config.camera_id}")
        if not self._build.done:
            return True
        build, self._build = self._build, None
        if build.error is not None:
            msg = str(build.error) or type(build.error).__name__
            if self._current(gen):
                self._set(state="failed", last_error=msg, retry_in_s=None)
            return False
        loop.pipeline = build.pipeline
        self._stream_fps_known(loop.pipeline, source)
        return True

    def _begin_catch_up(self) -> None:
        """The promoted warm standby's pipeline is ready: count the ring from the cut's warm-up on."""
        ring = self._ring
        assert ring is not None
        with self._lock:
            start = self._promote_from
        if self._cut is None:  # built by a fresh loop (a restart after a failed build)
            self._cut = start if start is not None else (ring.newest_ts or time.time())
            ring.hold_from(self._cut - PROMOTION_WARMUP_S)
        cut = self._cut
        self._build = None  # a fresh loop built its own pipeline: one still being built is not needed
        with self._lock:
            self.count_from_ts = cut if self.count_from_ts is None else max(self.count_from_ts, cut)
        if self._watch is not None:
            self._watch.set_role("primary")
        self._catching_up = True
        self._catch_up_start = (time.monotonic(), self._status.frames)
        oldest = ring.oldest_ts
        log.info("%s: promoted: counting %d buffered frame(s) (%.1f s of video, from %s s before the cut) faster "
                 "than real time", self._ctx, len(ring), ring.seconds,
                 f"{cut - oldest:.1f}" if oldest is not None else "-")
        if oldest is None or oldest > cut:
            # The master's cut is older than anything kept (a buffer_s shorter than the time the
            # master took to promote, or a stream that came back after the cut): said, not hidden.
            log.warning("%s: the cut is %s before the oldest buffered frame: crossings of that time were not "
                        "counted (a longer buffer_s would have held them)", self._ctx,
                        f"{oldest - cut:.1f} s" if oldest is not None else "entirely")
        self._set(warm=False)

    def _end_catch_up(self) -> None:
        """Every buffered frame is counted: from the next frame on the stream is read directly."""
        t0, frames0 = self._catch_up_start
        elapsed = max(time.monotonic() - t0, 1e-6)
        counted = self._status.frames - frames0
        fps = counted / elapsed
        ring = self._ring
        dropped = ring.dropped if ring is not None else 0
        self._catching_up = False
        self._ring = None  # its memory goes back
        # logged before the status says so: whoever sees the catch-up end finds its figures in the log
        log.info("%s: caught up: %d buffered frame(s) counted in %.2f s (%.0f frames/s)%s; live from frame %s",
                 self._ctx, counted, elapsed, fps, f", {dropped} lost at the limit" if dropped else "",
                 self._next_index)
        self._set(buffered_s=0.0, catch_up_fps=round(fps, 1))

    def _deliver(self, frame: Frame, result: Any) -> None:
        crossings = getattr(result, "crossings", None) or ()
        kept = [c for c in crossings if not self._before_cut(c)]
        suppressed = len(crossings) - len(kept)
        if kept and self._on_crossings is not None:
            try:
                self._on_crossings(kept)
            except Exception:  # a faulty consumer must not stop counting
                log.exception("%s: on_crossings callback failed", self._ctx)
        if self._on_crossing is not None:
            for crossing in kept:
                try:
                    self._on_crossing(crossing)
                except Exception:  # a faulty consumer must not stop counting
                    log.exception("%s: on_crossing callback failed", self._ctx)
        if suppressed:
            log.debug("%s: %d crossing(s) before the count start suppressed", self._ctx, suppressed)
            self._set(suppressed=self._status.suppressed + suppressed)
        if self._on_result is not None:
            try:
                self._on_result(frame, result)
            except Exception:  # a faulty consumer must not stop the camera
                log.exception("%s: on_result callback failed", self._ctx)

    def _before_cut(self, crossing: Any) -> bool:
        if self.count_from_frame is not None and getattr(crossing, "frame_index", 0) < self.count_from_frame:
            return True
        return self.count_from_ts is not None and getattr(crossing, "ts", 0.0) < self.count_from_ts

    def _tick(self, frame: Frame, source: FrameSource, first: bool, processed: bool = True) -> None:
        """Note a frame in the status. ``processed`` False: it was only kept (frame_ts stays).
        frame_ts never goes back: a promoted warm standby counting its ring from before the cut
        has nothing to report there (crossings before the cut are suppressed)."""
        now = time.monotonic()
        latency = (time.time() - frame.ts) * 1000.0
        if self._last_tick is not None and not first:
            dt = max(now - self._last_tick, 1e-6)
            # Smooth over roughly the last second of frames.
            alpha = min(1.0, dt)
            self._fps_ema = (1 - alpha) * self._fps_ema + alpha / dt
        self._lat_ema = latency if first else 0.9 * self._lat_ema + 0.1 * latency
        self._last_tick = now
        with self._lock:
            st = self._status
            ring = self._ring
            changes: dict[str, Any] = {
                "fps": self._fps_ema, "latency_ms": self._lat_ema, "frames": st.frames + 1,
                "frame_index": frame.index, "frame_ts": max(st.frame_ts, frame.ts) if processed else st.frame_ts,
                "dropped": source.dropped, "retry_in_s": None,
                "buffered_s": ring.seconds if ring is not None else 0.0}
            if st.state != "running":
                changes.update(state="running", last_error=None)
            self._status = replace(st, **changes)
        if first:
            self._reconnect.started()  # the stream works: a long enough run earns a fresh backoff
            log.info("%s: running (first frame %d)", self._ctx, frame.index)

    def _note_detection(self, pipeline: PipelineLike, detected: bool) -> None:
        """Count the detector runs and say how they are decided (heartbeat: model_runs, detect)."""
        planner = getattr(pipeline, "planner", None)
        if planner is not None:
            wanted = self._detect_budget if self._detect_budget is not None else self.config.detect_budget
            if planner.budget != max(wanted, planner.settings.floor):
                planner.set_budget(wanted)
        with self._lock:
            st = self._status
            self._status = replace(st, model_runs=st.model_runs + (1 if detected else 0),
                                   detect=str(getattr(pipeline, "mode", "")),
                                   detect_starved=int(getattr(planner, "starved", 0)),
                                   detect_budget=float(planner.budget) if planner is not None else 0.0)

    def _note_loss(self, message: str, delay: float) -> None:
        with self._lock:
            st = self._status
            reconnects = st.reconnects + (1 if st.state == "running" else 0)
            self._status = replace(st, state="reconnecting", last_error=message, retry_in_s=delay,
                                   reconnects=reconnects, fps=0.0)
        self._last_tick = None
        if self._watch is not None:
            self._watch.lost()
        log.warning("%s: %s; retrying in %g s", self._ctx, message, delay)

    def _sleep(self, gen: int, seconds: float) -> None:
        self._beat(gen, busy=False)
        end = time.monotonic() + seconds
        while self._current(gen):
            left = end - time.monotonic()
            if left <= 0:
                return
            self._set(retry_in_s=round(left, 1))
            self._stop.wait(min(left, 0.5))

    # ---- the supervisor -----------------------------------------------------------

    def _supervise(self) -> None:
        period = min(1.0, self.stall_timeout_s / 4)
        while not self._stop.is_set():
            timeout = period
            if self._restart_at is not None:
                timeout = max(0.0, min(period, self._restart_at - time.monotonic()))
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._look()
            except Exception:  # the supervisor must outlive whatever it watches
                log.exception("%s: supervisor step failed", self._ctx)

    def _look(self) -> None:
        """One supervisor step: start a changed camera, schedule a rebuild, restart on time, or
        catch a stall."""
        now = time.monotonic()
        with self._lock:
            exited, changed = self._exited, self._pending_config is not None
        if exited is not None and changed:
            # The operator changed a camera that had failed, ended or stalled: try the new settings now.
            self._restart_at = None
            self._rebuild.reset()
            self._set(state="starting", ended=False, retry_in_s=None)
            self._rebuild.started()
            self._spawn_loop()
        elif exited == "failed" and self._restart_at is None:
            delay = max(self._rebuild.failed(), self._budget.wait_s())
            self._restart_at = now + delay
            self._set(retry_in_s=round(delay, 1))
            # The heartbeat shows the state and the daemon turns the change into an alert.
            log.error("%s: cannot start: %s; trying again in %.0f s", self._ctx, self.status().last_error, delay)
        elif self._restart_at is not None:
            left = self._restart_at - now
            if left > 0:
                self._set(retry_in_s=round(left, 1))
                return
            wait = self._budget.wait_s()
            if wait > 0:
                self._restart_at = now + wait
                return
            self._restart(exited)
        elif exited is None and self._busy and now - self._heartbeat > self.stall_timeout_s:
            self._abandon_stalled(now - self._heartbeat)

    def _abandon_stalled(self, idle: float) -> None:
        """Give up on a loop stuck inside open/read/process (a hung decoder or model call); a
        fresh loop with a fresh pipeline carries on at the frame it was stuck on."""
        wait = self._budget.wait_s()
        msg = f"camera loop stalled for {idle:.0f} s; "
        msg += "restarted it" if wait <= 0 else (
            f"restarting it in {wait:.0f} s ({self._budget.recent} restarts within {RESTART_WINDOW_S:.0f} s)")
        log.error("%s: %s", self._ctx, msg)
        with self._lock:
            self._generation += 1  # the stuck thread exits quietly if it ever returns
            self._exited = "stalled"
            self._busy = False
            src, self._source = self._source, None
            self._status = replace(self._status, state="reconnecting", last_error=msg,
                                   reconnects=self._status.reconnects + 1, fps=0.0,
                                   retry_in_s=round(wait, 1) if wait > 0 else None)
        if src is not None:
            src.interrupt()  # the stuck thread closes it if it ever returns
        if self._watch is not None:
            self._watch.lost()
        if wait > 0:
            self._restart_at = time.monotonic() + wait
        else:
            self._restart("stalled")

    def _restart(self, exited: LoopExit | None) -> None:
        self._restart_at = None
        self._budget.restarted()
        if exited == "failed":
            self._resume_after_failure()
        self._rebuild.started()
        self._spawn_loop()

    def _resume_after_failure(self) -> None:
        """A rebuilt camera goes on after the last frame it processed instead of from where it
        started, so crossings already reported under this epoch are not reported again (seekable
        sources; a live stream simply goes on). Frames are reported all-or-nothing, so the next
        frame is exactly where counting must resume; the warm-up before it gives the fresh
        tracker its history. (A stall restart needs none of this: it goes on at the stuck frame.)"""
        with self._lock:
            if self._last_frame_wall is None or self._next_index is None:
                return  # nothing processed since the last (re)start: start where that one did
            if self._ring is not None:
                return  # a warm standby's frames wait in its ring, with their own indices
            resume = self._next_index
            self.count_from_frame = max(self.count_from_frame or 0, resume)
            self._next_index = max(self._start_frame or 0, resume - WARMUP_FRAMES)
            self._index_offset, self._media_offset = 0, 0.0
            self._last_frame_wall, self._last_media = None, 0.0


@dataclass
class _Loop:
    """What one loop thread carries across its reconnects: its pipeline (None: a warm standby)."""

    pipeline: PipelineLike | None = None


class _Build:
    """A promoted warm standby's pipeline, built on a thread of its own so that the camera's
    loop goes on buffering frames meanwhile (loading a model takes a while)."""

    def __init__(self, factory: PipelineFactory, config: CameraConfig, name: str) -> None:
        self.pipeline: PipelineLike | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(factory, config), name=name, daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def _run(self, factory: PipelineFactory, config: CameraConfig) -> None:
        try:
            self.pipeline = factory(config)
        except Exception as exc:  # noqa: BLE001 - ModelError, ConfigError...: the camera's "failed" status
            self.error = exc
