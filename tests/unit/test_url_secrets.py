"""Secrets in camera URLs: every form is found, masked for display and logs, split off and put back."""
from __future__ import annotations

import pytest

from campool_worker.pipeline.sources import redact_url
from campool_worker.url_secrets import MASK, MissingSecret, join_url, mask_url, redact_text, split_url

CASES = [
    # (url, masked)
    ("rtsp://admin:s3cret@10.0.0.5:554/s", "rtsp://admin:•••@10.0.0.5:554/s"),
    ("rtsp://admin:p@ss@10.0.0.5/s", "rtsp://admin:•••@10.0.0.5/s"),                 # @ in the password
    ("rtsp://admin:pa:ss@10.0.0.5/s", "rtsp://admin:•••@10.0.0.5/s"),                # : in the password
    ("rtsp://admin:Gr@b:it@127.0.0.1:8554/cam", "rtsp://admin:•••@127.0.0.1:8554/cam"),
    ("rtsp://admin:p%40ss%3A1@cam/s", "rtsp://admin:•••@cam/s"),                     # percent-encoded
    ("rtsps://u:pw@cam/s", "rtsps://u:•••@cam/s"),
    ("http://u:pw@cam/mjpg", "http://u:•••@cam/mjpg"),
    ("HTTPS://u:pw@cam/mjpg", "HTTPS://u:•••@cam/mjpg"),
    ("rtsp://admin:pa/ss@host/s", "rtsp://admin:•••@host/s"),                       # unencoded / (FFmpeg can't)
    ("http://cam/snap.cgi?user=admin&pwd=x1&res=hd", "http://cam/snap.cgi?user=admin&pwd=•••&res=hd"),
    ("http://cam/v?password=a&passwd=b&pass=c&token=d&key=e&auth=f#top",
     "http://cam/v?password=•••&passwd=•••&pass=•••&token=•••&key=•••&auth=•••#top"),
    ("http://cam/v?PWD=x&Pass%77ord=y", "http://cam/v?PWD=•••&Pass%77ord=•••"),
    ("https://u:pw@cam/v?api_key=k&x=1", "https://u:•••@cam/v?api_key=•••&x=1"),
    ("rtsp://admin@cam/s", "rtsp://admin@cam/s"),                                  # a user, no password
    ("rtsp://cam/s?user=admin", "rtsp://cam/s?user=admin"),
    ("/videos/a.mp4", "/videos/a.mp4"),
    ("usb:0", "usb:0"),
    ("synthetic://?w=320&h=240", "synthetic://?w=320&h=240"),
]


@pytest.mark.parametrize("url, masked", CASES)
def test_every_form_of_credentials_is_masked_and_comes_back_whole(url, masked):
    assert mask_url(url) == masked
    assert redact_url(url) == masked and redact_text(url) == masked
    stored, secrets = split_url(url)
    assert stored == masked
    assert join_url(stored, secrets) == url
    assert mask_url(masked) == masked, "masking is idempotent"


def test_a_url_inside_an_error_message_is_redacted_wherever_it_stands():
    msg = ("[ERROR:0@1.2] global cap_ffmpeg_impl.hpp:1094 open VIDEOIO/FFMPEG: can't open "
           "'rtsp://admin:Gr@b:it@10.0.0.5:554/cam?token=T0k' (401), retry "
           "url=http://u:pw2@cam/mjpg?next=rtsp://x:pw3@y/ done")
    out = redact_text(msg)
    for secret in ("Gr@b:it", "T0k", "pw2", "pw3"):
        assert secret not in out
    assert "rtsp://admin:•••@10.0.0.5:554/cam?token=•••" in out and out.startswith("[ERROR:0@1.2] global")


def test_a_masked_part_stands_for_a_kept_secret_and_a_missing_one_says_what_to_do():
    masked, secrets = split_url(f"http://admin:{MASK}@cam/v?pwd=new")
    assert secrets == {"query:pwd": "new"}, "a part given as ••• is not a new secret"
    with pytest.raises(MissingSecret, match="the password of this URL is not known; enter it again"):
        join_url(masked, secrets)
    assert join_url(masked, secrets, partial=True) == f"http://admin:{MASK}@cam/v?pwd=new"
    assert join_url(masked, {**secrets, "password": "old"}) == "http://admin:old@cam/v?pwd=new"


def test_repeated_query_secrets_are_kept_apart():
    masked, secrets = split_url("http://cam/v?pwd=1&pwd=2")
    assert masked == "http://cam/v?pwd=•••&pwd=•••" and secrets == {"query:pwd": "1", "query:pwd#2": "2"}
    assert join_url(masked, secrets) == "http://cam/v?pwd=1&pwd=2"
