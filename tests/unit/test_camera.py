"""The shared camera vocabulary validates itself where it enters."""
import pytest

from campool_worker.camera import CameraConfig, ConfigError, CountEvent, CountingLine, Zone


def test_line_parses_command_line_form():
    line = CountingLine.parse("near:0,500,1280,500")
    assert line == CountingLine("near", (0.0, 500.0), (1280.0, 500.0))


@pytest.mark.parametrize("spec, fragment", [
    ("near", "expected NAME:x1,y1,x2,y2"),
    ("near:0,500,1280", "expected 4 coordinates"),
    ("near:a,b,c,d", "must be numbers"),
    ("near:0,0,0,0", "same"),
    (":0,0,10,10", "not valid"),
    ("near:0,nan,10,10", "finite"),
])
def test_malformed_line_says_what_is_wrong(spec, fragment):
    with pytest.raises(ConfigError, match=fragment):
        CountingLine.parse(spec)


def test_line_outside_frame_is_detected():
    assert CountingLine.parse("a:0,800,1280,800").outside(1280, 720)
    assert CountingLine.parse("a:-10,-10,-5,-100").outside(1280, 720)
    assert not CountingLine.parse("a:-100,500,2000,500").outside(1280, 720)  # crosses the frame
    assert not CountingLine.parse("a:0,500,1280,500").outside(1280, 720)


def test_zone_parse_and_validation():
    zone = Zone.parse("door:0,0,100,0,100,100")
    assert zone.points == ((0.0, 0.0), (100.0, 0.0), (100.0, 100.0))
    with pytest.raises(ConfigError, match="even number"):
        Zone.parse("door:0,0,100,0,100")
    with pytest.raises(ConfigError, match="at least 3 points"):
        Zone("door", ((0, 0), (1, 1)))


def test_camera_config_round_trips_through_dict():
    cam = CameraConfig(
        camera_id="gate-2", source="rtsp://10.0.0.5/stream", lines=[CountingLine.parse("in:0,1,2,3")],
        zones=[Zone.parse("z:0,0,1,0,1,1")], classes=["car"], detect_fps=5, priority="high",
    )
    assert CameraConfig.from_dict(cam.to_dict()) == cam
    assert "labels" not in cam.to_dict()  # a worker that predates custom labels still takes it
    custom = CameraConfig(camera_id="belt", source="usb:0", model="sha256:" + "ab" * 32, labels=["bolt", "nut"])
    assert CameraConfig.from_dict(custom.to_dict()) == custom


@pytest.mark.parametrize("change, fragment", [
    ({"labels": []}, "labels"),
    ({"labels": ["bolt", " "]}, "labels"),
    ({"priority": "urgent"}, "priority"),
    ({"source": " "}, "source is empty"),
    ({"detect_fps": 0}, "detect fps"),
    ({"confidence": 1.5}, "confidence"),
    ({"bogus": 1}, "unknown fields"),
    ({"lines": [{"name": "a"}]}, "malformed"),
])
def test_camera_config_rejects_bad_fields(change, fragment):
    d = CameraConfig(camera_id="c1", source="x.mp4").to_dict() | change
    with pytest.raises(ConfigError, match=fragment):
        CameraConfig.from_dict(d)


@pytest.mark.parametrize("change, fragment", [
    ({"confidence": "0.5"}, r"confidence must be a number, got a string \('0.5'\)"),
    ({"confidence": True}, "confidence must be a number, got true/false"),
    ({"detect_fps": "5"}, "detect_fps must be a number, got a string"),
    ({"model": 5}, r"model must be a string or null, got an integer \(5\)"),
    ({"model": "sha256:../../x"}, "is not a valid reference; a pushed model is sha256: followed by 64"),
    ({"source": 7}, "source must be a string, got an integer"),
    ({"name": None}, "name must be a string, got null"),
    ({"site": ["north"]}, "site must be a string, got a list"),
    ({"priority": 1}, "priority must be a string"),
    ({"loop": 1}, "loop must be true or false, got an integer"),
    ({"loop": "yes"}, "loop must be true or false, got a string"),
    ({"classes": "car"}, "classes must be a list of class names"),
    ({"classes": ["car", 3]}, "classes must be a list of class names"),
    ({"labels": [1, 2]}, "labels must be a list of class names"),
    ({"lines": {"a": 1}}, "lines must be a list"),
    ({"lines": [{"name": "a", "p1": ["0", 0], "p2": [5, 5]}]}, "is not \\[x, y\\] with two numbers"),
    ({"lines": [{"name": 5, "p1": [0, 0], "p2": [5, 5]}]}, "line name 5 is not valid"),
    ({"zones": [{"name": "z", "points": [[0, 0], [1, 0], [True, 1]]}]}, "with two numbers"),
    ({"camera_id": 12}, "camera id name 12 is not valid"),
])
def test_every_camera_field_has_a_strict_type_and_a_clear_error(change, fragment):
    d = CameraConfig(camera_id="c1", source="x.mp4").to_dict() | change
    with pytest.raises(ConfigError, match=fragment):
        CameraConfig.from_dict(d)


def test_numbers_may_be_integers_and_become_floats():
    cam = CameraConfig.from_dict({"camera_id": "c1", "source": "x.mp4", "detect_fps": 5, "confidence": 0.5})
    assert isinstance(cam.detect_fps, float) and cam.detect_fps == 5.0


def test_duplicate_line_and_zone_names_are_rejected():
    with pytest.raises(ConfigError, match="unique"):
        CameraConfig(camera_id="c1", source="x.mp4", lines=[CountingLine.parse("a:0,0,1,1")],
                     zones=[Zone.parse("a:0,0,1,0,1,1")])


def test_count_event_round_trip_and_direction_check():
    ev = CountEvent("c1", 3, 17, "near", "in", "car", 42, 1700000000.5, 1234)
    assert CountEvent.from_dict(ev.to_dict()) == ev
    with pytest.raises(ConfigError, match="direction"):
        CountEvent.from_dict(ev.to_dict() | {"direction": "up"})


def test_adaptive_detection_settings_are_checked_and_left_out_of_the_wire_when_default():
    import pytest as _pytest

    from campool_worker.camera import ConfigError as _ConfigError

    cam = CameraConfig("c1", "x.mp4")
    assert (cam.detect, cam.detect_budget, cam.detect_floor) == ("adaptive", 10.0, 1.0)
    assert not {"detect", "detect_budget", "detect_floor"} & set(cam.to_dict())  # older workers take it
    tuned = CameraConfig.from_dict({"camera_id": "c1", "source": "x.mp4", "detect_budget": 6, "detect_floor": 2})
    assert CameraConfig.from_dict(tuned.to_dict()) == tuned and tuned.to_dict()["detect_budget"] == 6.0
    for bad, text in (({"detect": "sometimes"}, "detect 'sometimes' is not one of adaptive, every"),
                      ({"detect_budget": 0.5, "detect_floor": 1}, "0 < floor <= budget"),
                      ({"detect_floor": "1"}, "detect_floor must be a number")):
        with _pytest.raises(_ConfigError, match=text):
            CameraConfig("c1", "x.mp4", **bad)
