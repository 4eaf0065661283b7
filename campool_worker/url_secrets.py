"""The secrets in a camera URL: where they are, how they are shown, kept apart and put back.

A camera URL carries its credentials in two places: the password of ``user:password@`` (RTSP,
HTTP, any scheme) and query parameters such as ``?user=admin&pwd=...`` (many HTTP/MJPEG
cameras). This module is the one place that knows where those are:

* `mask_url` is how any URL is shown, on a screen or in a log: ``rtsp://admin:•••@host/…``,
  ``http://cam/snap.cgi?user=admin&pwd=•••``. The user name stays visible (the operator needs
  it to tell two cameras apart); every secret becomes `MASK`.
* `split_url` / `join_url`: the master keeps a camera's URL with its secrets masked (the
  masked form is also the marker that a secret exists, and where it goes back) and the secrets
  themselves elsewhere (the OS keyring); the URL sent to a worker is joined again.
* `redact_text` masks every URL inside free text (an FFmpeg or OpenCV error message, a log
  line, a traceback), URLs nested in another URL's query included.

How a URL is read (what FFmpeg does too): the authority ends at the first ``/``, ``?`` or ``#``
after ``://``; the user info ends at the authority's *last* ``@`` (so a password may hold
``@``), and the password starts after the user info's *first* ``:`` (so it may hold ``:``).
Percent-encoded passwords are secrets as written (``p%40ss``); they are put back byte for byte.
One rule leans to safety: a URL whose authority has no ``@`` but that has one later, with a
``:`` before it, is taken as a password holding an unencoded ``/``, ``?`` or ``#``
(``rtsp://admin:pa/ss@host/``): everything from the user's ``:`` to that last ``@`` is the
secret. FFmpeg cannot open such a URL either; the rare path with an ``@`` behind a port
(``rtsp://host:554/a@b``) is then over-masked, which hides a host but never leaks a password.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

MASK = "•••"

#: Query parameters whose value is a secret (compared without case, after percent-decoding).
#: User names (``user``, ``username``, ``loginuse``) are not: they are shown like the user of
#: ``user:password@``.
SECRET_PARAMS = frozenset({
    "password", "passwd", "pass", "pwd", "pw", "passphrase", "loginpas", "psw",
    "token", "access_token", "auth_token", "auth", "authorization", "apikey", "api_key", "key",
    "secret", "signature", "sig", "credential", "credentials",
})

PASSWORD_KEY = "password"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")


class MissingSecret(KeyError):
    """A masked URL names a secret that is not known (the keyring lost it, or it was never given)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        what = "password" if self.key == PASSWORD_KEY else f"query parameter {self.key.partition(':')[2]!r}"
        return f"the {what} of this URL is not known; enter it again"


@dataclass(frozen=True)
class Span:
    """Where one secret lies in a URL string: ``url[start:end]``, known by ``key``
    (`PASSWORD_KEY`, or ``query:<name>`` with ``#2``... for a repeated parameter)."""

    key: str
    start: int
    end: int


def secret_spans(url: str) -> list[Span]:
    """The secrets of one URL (a string that starts with ``scheme://``), in order."""
    m = _SCHEME.match(url)
    if m is None:
        return []
    base = m.end()
    rest = url[base:]
    spans: list[Span] = []
    auth_end = _first_of(rest, "/?#")
    authority = rest[:auth_end]
    at = authority.rfind("@")
    if at < 0:  # a password with an unencoded / ? or # (see the module docstring)
        last_at = rest.rfind("@")
        if last_at > 0 and ":" in rest[:last_at]:
            at = last_at
            auth_end = last_at + 1 + _first_of(rest[last_at + 1:], "/?#")
    if at >= 0:
        colon = rest.find(":", 0, at)
        if 0 <= colon < at - 1:
            spans.append(Span(PASSWORD_KEY, base + colon + 1, base + at))
    tail = rest[auth_end:]
    q = tail.find("?")
    hash_at = tail.find("#")
    if q >= 0 and (hash_at < 0 or q < hash_at):
        q_start = base + auth_end + q + 1
        q_end = base + auth_end + (hash_at if hash_at >= 0 else len(tail))
        spans += _query_spans(url, q_start, q_end)
    return spans


def _first_of(text: str, chars: str) -> int:
    hits = [i for i in (text.find(c) for c in chars) if i >= 0]
    return min(hits) if hits else len(text)


def _query_spans(url: str, start: int, end: int) -> list[Span]:
    spans: list[Span] = []
    seen: dict[str, int] = {}
    pos = start
    for part in re.split(r"[&;]", url[start:end]):
        name, eq, value = part.partition("=")
        if eq and value and unquote(name).strip().lower() in SECRET_PARAMS:
            n = seen[name] = seen.get(name, 0) + 1
            key = f"query:{name}" + (f"#{n}" if n > 1 else "")
            v_start = pos + len(name) + 1
            spans.append(Span(key, v_start, v_start + len(value)))
        pos += len(part) + 1
    return spans


def _replace(url: str, spans: list[Span], values: dict[str, str]) -> str:
    out = url
    for s in sorted(spans, key=lambda s: s.start, reverse=True):
        if s.key in values:
            out = out[:s.start] + values[s.key] + out[s.end:]
    return out


def has_secret(url: str) -> bool:
    """Whether the URL carries a secret, given or masked."""
    return bool(secret_spans(url))


def mask_url(url: str) -> str:
    """The URL as anyone may see it: each secret replaced by `MASK`; anything that is not a
    ``scheme://`` URL (a file, ``usb:0``) as it is."""
    spans = secret_spans(url)
    return _replace(url, spans, {s.key: MASK for s in spans}) if spans else url


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """(the masked URL, its secrets by span key). A secret that is already `MASK` is not in the
    dict: it stands for one kept elsewhere (see `join_url`)."""
    spans = secret_spans(url)
    secrets = {s.key: url[s.start:s.end] for s in spans if url[s.start:s.end] != MASK}
    return _replace(url, spans, {s.key: MASK for s in spans}), secrets


def masked_keys(url: str) -> list[str]:
    """The keys of the secrets a URL holds masked (those `join_url` must be given)."""
    return [s.key for s in secret_spans(url) if url[s.start:s.end] == MASK]


def join_url(url: str, secrets: dict[str, str], *, partial: bool = False) -> str:
    """Put the secrets back where the URL holds `MASK`; raises `MissingSecret` for one not given
    (``partial``: leave that one masked)."""
    spans = [s for s in secret_spans(url) if url[s.start:s.end] == MASK]
    for s in spans:
        if s.key not in secrets and not partial:
            raise MissingSecret(s.key)
    return _replace(url, spans, secrets)


def redact_text(text: str) -> str:
    """Every URL in ``text`` with its secrets masked, URLs nested in another URL's query included."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: _redact_token(m.group(0)), text)


def _redact_token(token: str) -> str:
    spans = secret_spans(token)
    masked = _replace(token, spans, {s.key: MASK for s in spans}) if spans else token
    nested = _SCHEME.search(masked, masked.index("://") + 3)
    if nested is not None:
        masked = masked[:nested.start()] + _redact_token(masked[nested.start():])
    return masked
