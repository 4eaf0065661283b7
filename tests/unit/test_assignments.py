"""The running cameras: epochs seen, capacity, draining, and resuming after a restart."""
from __future__ import annotations

from dataclasses import replace

from campool_worker.assignments import Assignments
from campool_worker.camera import CameraConfig
from campool_worker.coverage import CoverageTracker
from campool_worker.outbox import FrameCrossings, Outbox, StoredAssignment
from campool_worker.pipeline.camera_pipeline import Crossing
from campool_worker.pipeline.runner import WARMUP_FRAMES, RunnerStatus
from campool_worker.protocol import WARM_STANDBY_COST


class _Slot:
    """A camera slot that runs nothing."""

    def __init__(self, a: StoredAssignment) -> None:
        self.assignment, self.camera, self.epoch = a, a.camera, a.epoch
        self.ctx = f"camera {a.camera.camera_id} epoch {a.epoch}"
        self.running = False
        self.coverage = CoverageTracker(a.role)

    @property
    def role(self):
        return self.assignment.role

    def promote(self, count_from_ts):
        if self.assignment.role == "primary":
            return False
        cut = count_from_ts if self.assignment.warm else self.assignment.count_from_ts
        self.assignment = replace(self.assignment, role="primary", count_from_ts=cut)
        self.coverage.set_role("primary")
        return True

    def start(self):
        self.running = True

    def stop(self):
        self.running = False
        self.coverage.lost()

    def update(self, camera):
        self.camera = camera
        self.assignment = StoredAssignment(camera, self.epoch, self.assignment.start_frame,
                                           self.assignment.count_from_frame, self.assignment.count_from_ts)

    def runner_status(self):
        return RunnerStatus(self.camera.camera_id, "running" if self.running else "stopped")


def _assignments(tmp_path, capacity=2):
    outbox = Outbox(tmp_path / "worker.db")
    made: list[_Slot] = []

    def make(a):
        made.append(_Slot(a))
        return made[-1]
    return Assignments(outbox, capacity, make), outbox, made


def test_epochs_seen_only_grow_and_survive_a_restart(tmp_path):
    assignments, outbox, _ = _assignments(tmp_path)
    assert assignments.epoch_seen("gate") == -1
    assignments.start(StoredAssignment(CameraConfig("gate", "rtsp://cam/s"), 3, None, None))
    assignments.note_epoch("gate", 2)
    assert assignments.epoch_seen("gate") == 3
    assignments.note_epoch("gate", 7)
    assignments.stop("gate", forget=True)
    outbox.close()
    again, _, _ = _assignments(tmp_path)
    assert again.epoch_seen("gate") == 7


def test_capacity_and_draining(tmp_path):
    assignments, outbox, made = _assignments(tmp_path, capacity=2)
    for cid in ("a", "b"):
        assignments.start(StoredAssignment(CameraConfig(cid, "rtsp://cam/s"), 1, None, None))
    assert assignments.full and assignments.states() == {"a": "running", "b": "running"}
    assert assignments.set_draining(True) == 2
    assert len(assignments) == 0 and not any(s.running for s in made) and outbox.assignments() == []
    outbox.close()
    again, _, _ = _assignments(tmp_path)
    assert again.draining, "draining is kept across a restart"


def test_resume_continues_a_file_after_its_last_committed_frame_and_a_stream_where_it_is(tmp_path):
    assignments, outbox, _ = _assignments(tmp_path)
    assignments.start(StoredAssignment(CameraConfig("file", "/videos/a.mp4"), 4, 0, 10))
    assignments.start(StoredAssignment(CameraConfig("live", "rtsp://cam/s"), 2, 300, 400, 1234.5))
    outbox.commit([FrameCrossings("file", 4, [Crossing("l", "in", "car", 1, 500, 0.0)])])
    assignments.close()
    outbox.close()

    again, _, made = _assignments(tmp_path)
    again.resume()
    slots = {s.camera.camera_id: s.assignment for s in made}
    assert (slots["file"].start_frame, slots["file"].count_from_frame) == (501 - WARMUP_FRAMES, 501)
    assert (slots["live"].start_frame, slots["live"].count_from_frame, slots["live"].count_from_ts) == \
        (None, None, 1234.5)
    assert len(again) == 2


SECRET_URL = "rtsp://admin:Gr@b:it-7Kq@10.0.0.5/cam?pwd=Q9x"


def _files_holding(folder, needle: bytes) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file() and needle in p.read_bytes()}


def test_a_camera_password_is_kept_in_a_0600_file_never_in_worker_db_and_comes_back_on_resume(tmp_path):
    assignments, outbox, made = _assignments(tmp_path)
    assignments.start(StoredAssignment(CameraConfig("gate", SECRET_URL), 1, None, None))
    assert made[-1].camera.source == SECRET_URL, "the running camera has the whole URL"
    stored = outbox.assignments()[0].camera.source
    assert stored == "rtsp://admin:•••@10.0.0.5/cam?pwd=•••"
    secrets = tmp_path / "camera-secrets.json"
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    outbox.close()
    assert _files_holding(tmp_path, b"Gr@b:it-7Kq") == {"camera-secrets.json"}
    assert _files_holding(tmp_path, b"Q9x") == {"camera-secrets.json"}

    again, outbox, made = _assignments(tmp_path)
    again.resume()
    assert made[-1].camera.source == SECRET_URL
    again.stop("gate", forget=True)
    outbox.close()
    assert b"Gr@b" not in secrets.read_bytes(), "an unassigned camera's password is removed"


def test_an_assignment_stored_by_an_older_worker_with_its_password_is_moved_apart_on_resume(tmp_path):
    outbox = Outbox(tmp_path / "worker.db")
    outbox.save_assignment(StoredAssignment(CameraConfig("gate", SECRET_URL), 1, None, None))  # today's format
    outbox.close()
    again, outbox, made = _assignments(tmp_path)
    again.resume()
    assert made[-1].camera.source == SECRET_URL, "it keeps running"
    assert outbox.assignments()[0].camera.source == "rtsp://admin:•••@10.0.0.5/cam?pwd=•••"


def test_a_lost_secrets_file_leaves_the_camera_to_the_master_instead_of_a_masked_url(tmp_path):
    assignments, outbox, made = _assignments(tmp_path)
    assignments.start(StoredAssignment(CameraConfig("gate", SECRET_URL), 1, None, None))
    outbox.close()
    (tmp_path / "camera-secrets.json").unlink()
    again, outbox, made = _assignments(tmp_path)
    again.resume()
    assert made == [] and again.get("gate") is None


def test_a_standby_is_resumed_as_a_standby_and_a_promoted_one_as_the_primary(tmp_path):
    assignments, outbox, _ = _assignments(tmp_path, capacity=4)
    assignments.start(StoredAssignment(CameraConfig("hot", "rtsp://cam/h"), 5, None, None, None, "standby", "hot"))
    assignments.start(StoredAssignment(CameraConfig("warm", "rtsp://cam/w"), 6, None, None, None, "standby", "warm",
                                       7.5))
    assignments.start(StoredAssignment(CameraConfig("cut", "rtsp://cam/c"), 8, None, None, None, "standby", "warm"))
    assert assignments.promote("cut", 1234.5) and not assignments.promote("cut", 999.0), "a repeat changes nothing"
    assignments.close()
    outbox.close()

    again, _, made = _assignments(tmp_path, capacity=4)
    again.resume()
    roles = {s.camera.camera_id: (s.assignment.role, s.assignment.standby, s.assignment.buffer_s,
                                  s.assignment.count_from_ts) for s in made}
    assert roles == {"hot": ("standby", "hot", 10.0, None), "warm": ("standby", "warm", 7.5, None),
                     "cut": ("primary", "warm", 10.0, 1234.5)}


def test_a_warm_standby_takes_a_fraction_of_the_capacity_a_hot_one_a_whole_camera(tmp_path):
    assignments, _, _ = _assignments(tmp_path, capacity=2)
    assignments.start(StoredAssignment(CameraConfig("p", "rtsp://cam/p"), 1, None, None))
    assignments.start(StoredAssignment(CameraConfig("w", "rtsp://cam/w"), 1, None, None, None, "standby", "warm"))
    assert assignments.load == 1.0 + WARM_STANDBY_COST < 2
    assert assignments.full and not assignments.has_room(1.0), "no room for a whole camera"
    assert assignments.has_room(WARM_STANDBY_COST)
    assert assignments.has_room(1.0, replacing="p"), "a new epoch of a running camera takes its place"


def test_a_stopped_cameras_last_span_is_still_handed_over_closed(tmp_path):
    assignments, _, made = _assignments(tmp_path)
    assignments.start(StoredAssignment(CameraConfig("a", "rtsp://cam/a"), 3, None, None, None, "standby", "warm"))
    made[-1].coverage.frame(100.0)
    made[-1].coverage.frame(100.5)
    assignments.stop("a", forget=True)
    (update,) = assignments.coverage_updates()
    assert update[:2] == ("a", 3) and (update[2].start_ts, update[2].end_ts, update[2].role, update[2].closed) == (
        100.0, 100.5, "standby", True)
    assert assignments.coverage_updates() == []
    assignments.coverage_retry([update])
    assert assignments.coverage_updates() == [update], "what the outbox could not take is told again"
