"""Worker settings: defaults < TOML file < CAMPOOL_* environment < flags."""
from __future__ import annotations

import argparse

import pytest

from campool_worker.config import SettingsError, load_settings


def _args(**kw):
    base = dict(config=None, name=None, data_dir=None, bind=None, cmd_port=None, pub_port=None, pair_port=None,
                capacity=None, zeroconf_interface=None, no_zeroconf=False, accept_master=[])
    base.update(kw)
    return argparse.Namespace(**base)


def test_file_then_environment_then_flags(tmp_path):
    cfg = tmp_path / "worker.toml"
    cfg.write_text('name = "edge-3"\ncmd_port = 7000\npub_port = 7001\ncapacity = 2\nzeroconf = false\n')
    s = load_settings(_args(config=str(cfg), pub_port=0), environ={"CAMPOOL_CMD_PORT": "7100", "CAMPOOL_DATA_DIR":
                                                                    str(tmp_path / "d")})
    assert (s.name, s.cmd_port, s.pub_port, s.capacity, s.zeroconf) == ("edge-3", 7100, 0, 2, False)
    assert s.data_dir == tmp_path / "d"


def test_master_keys_from_file_and_flags_add_up(tmp_path):
    cfg = tmp_path / "w.toml"
    cfg.write_text('accept_masters = ["a"]\n')
    s = load_settings(_args(config=str(cfg), accept_master=["b"]), environ={})
    assert s.accept_masters == ["a", "b"]


@pytest.mark.parametrize("text,match", [
    ("colour = 1\n", "unknown setting 'colour'"),
    ("cmd_port = 70000\n", "not a TCP port"),
    ("cmd_port = 'x'\n", "cmd_port = 'x' is not valid"),
    ("name = \n", "cannot be read"),
])
def test_bad_settings_file_says_what_is_wrong(tmp_path, text, match):
    cfg = tmp_path / "w.toml"
    cfg.write_text(text)
    with pytest.raises(SettingsError, match=match):
        load_settings(_args(config=str(cfg)), environ={})


def test_missing_settings_file_is_a_clear_error(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(_args(config=str(tmp_path / "nope.toml")), environ={})


def test_inference_settings_come_from_file_and_environment(tmp_path):
    cfg = tmp_path / "w.toml"
    cfg.write_text("intra_op_threads = 3\n")
    s = load_settings(_args(config=str(cfg)), environ={"CAMPOOL_INFERENCE_WORKERS": "2"})
    assert (s.intra_op_threads, s.inference_workers) == (3, 2)
    with pytest.raises(SettingsError, match="inference_workers"):
        load_settings(_args(config=str(cfg)), environ={"CAMPOOL_INFERENCE_WORKERS": "0"})
