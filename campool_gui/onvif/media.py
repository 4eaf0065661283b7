"""A camera's streams over ONVIF: where its media service is (GetCapabilities), its profiles
(GetProfiles: name, encoding, resolution) and each profile's RTSP URI (GetStreamUri).

Every call carries a WS-Security UsernameToken with a password digest
(Base64(SHA-1(nonce + created + password))), which every ONVIF profile S camera accepts; the
password never crosses the network. The URIs come back without credentials: the camera dialog
keeps the user name and password the way it keeps any camera's (the OS keyring), not in the URL.
Errors are `OnvifError` with one line for the operator (refused credentials, no answer, not ONVIF).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit
from xml.sax.saxutils import escape

from campool_worker.errors import CampoolError

log = logging.getLogger(__name__)

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
PASSWORD_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
                   "#PasswordDigest")
NONCE_BASE64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
MAX_RESPONSE_BYTES = 1024 * 1024


class OnvifError(CampoolError):
    """An ONVIF call failed; the text says what to do."""


@dataclass(frozen=True)
class OnvifStream:
    """One media profile of a camera and its RTSP URI (without credentials)."""

    token: str
    name: str
    encoding: str   # H264, H265, JPEG... ("" when the profile does not say)
    width: int
    height: int
    uri: str


def password_digest(nonce: bytes, created: str, password: str) -> str:
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def _security(user: str, password: str, now: dt.datetime, nonce: bytes) -> str:
    if not user:
        return ""
    created = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f'<wsse:Security xmlns:wsse="{NS["wsse"]}" xmlns:wsu="{NS["wsu"]}" s:mustUnderstand="1">'
            f"<wsse:UsernameToken><wsse:Username>{escape(user)}</wsse:Username>"
            f'<wsse:Password Type="{PASSWORD_DIGEST}">{password_digest(nonce, created, password)}</wsse:Password>'
            f'<wsse:Nonce EncodingType="{NONCE_BASE64}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
            f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>")


class OnvifCamera:
    """The calls a scan needs, against one device service URL (from its probe match).

    ``clock`` gives the token's creation time: a camera refuses a token far from its own clock, so
    a test (or a camera whose clock is known to be off) can set it."""

    def __init__(self, device_url: str, user: str = "", password: str = "", *, timeout_s: float = 5.0,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.device_url = device_url
        self.user = user
        self._password = password
        self.timeout_s = timeout_s
        self._clock = clock

    def _call(self, url: str, namespace: str, body: str) -> ET.Element:
        """POST one SOAP 1.2 request; the response's Body, or OnvifError."""
        if not url.startswith(("http://", "https://")):  # the URLs come from the LAN: never file:// or ftp://
            raise OnvifError(f"ONVIF camera: {url[:80]!r} is not an http(s) service address")
        envelope = (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{NS["s"]}" '
                    f'xmlns:tt="{NS["tt"]}" xmlns:m="{namespace}"><s:Header>'
                    f"{_security(self.user, self._password, self._clock(), os.urandom(16))}</s:Header>"
                    f"<s:Body>{body}</s:Body></s:Envelope>")
        request = urllib.request.Request(url, data=envelope.encode(), method="POST",
                                         headers={"Content-Type": "application/soap+xml; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                data = response.read(MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as exc:  # a SOAP fault comes with 400 or 500 (401 from some cameras)
            data = exc.read(MAX_RESPONSE_BYTES)
            raise OnvifError(self._fault_line(url, exc.code, data)) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OnvifError(f"ONVIF camera at {url}: no answer ({reason}); check it is on and reachable "
                             "from this computer") from None
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            raise OnvifError(f"ONVIF camera at {url}: the answer is not SOAP; is it an ONVIF device service?") \
                from None
        body_el = root.find("s:Body", NS)
        if body_el is None:
            raise OnvifError(f"ONVIF camera at {url}: the answer has no SOAP body")
        return body_el

    def _fault_line(self, url: str, status: int, data: bytes) -> str:
        reason, codes = "", ""
        try:
            root = ET.fromstring(data)
            reason = " ".join((root.findtext(".//s:Reason/s:Text", default="", namespaces=NS) or "").split())
            codes = " ".join(v.text or "" for v in root.iterfind(".//s:Value", NS))
        except ET.ParseError:
            pass
        if status == 401 or "NotAuthorized" in codes or "FailedAuthentication" in codes:
            who = f"user {self.user!r}" if self.user else "no user name"
            return (f"ONVIF camera at {url} refused the user name or password ({who}); check them, and that "
                    "this computer's clock is within a few minutes of the camera's")
        return f"ONVIF camera at {url} answered HTTP {status}: {reason or codes or 'no reason given'}"

    def media_url(self) -> str:
        """Its media service URL (GetCapabilities); the device URL when it does not say."""
        body = self._call(self.device_url, NS["tds"],
                          "<m:GetCapabilities><m:Category>Media</m:Category></m:GetCapabilities>")
        url = body.findtext(".//tt:Media/tt:XAddr", default="", namespaces=NS).strip()
        return url or self.device_url

    def streams(self) -> list[OnvifStream]:
        """Every profile with its RTSP URI, in the camera's order (the first is its main stream)."""
        media = self.media_url()
        body = self._call(media, NS["trt"], "<m:GetProfiles/>")
        out = []
        for profile in body.iterfind(".//trt:Profiles", NS):
            token = profile.get("token", "")
            if not token:
                continue
            encoder = profile.find("tt:VideoEncoderConfiguration", NS)
            encoding = width = height = None
            if encoder is not None:
                encoding = encoder.findtext("tt:Encoding", default="", namespaces=NS)
                width = encoder.findtext("tt:Resolution/tt:Width", default="0", namespaces=NS)
                height = encoder.findtext("tt:Resolution/tt:Height", default="0", namespaces=NS)
            uri_body = self._call(media, NS["trt"], (
                "<m:GetStreamUri><m:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport>"
                "<tt:Protocol>RTSP</tt:Protocol></tt:Transport></m:StreamSetup>"
                f"<m:ProfileToken>{escape(token)}</m:ProfileToken></m:GetStreamUri>"))
            uri = uri_body.findtext(".//trt:MediaUri/tt:Uri", default="", namespaces=NS).strip()
            if not uri:
                log.warning("ONVIF camera at %s: profile %s has no stream URI", media, token)
                continue
            out.append(OnvifStream(token, profile.findtext("tt:Name", default="", namespaces=NS) or token,
                                   encoding or "", _int(width), _int(height), uri))
        if not out:
            raise OnvifError(f"ONVIF camera at {media} has no media profile with a stream URI")
        return out


def with_user(uri: str, user: str) -> str:
    """``uri`` with ``user`` as its user name (any user info it had replaced; none when ``user`` is
    empty). Never a password: that one is kept apart (the camera dialog's field, the keyring)."""
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}@{host}" if user else host
    return urlunsplit(parts._replace(netloc=netloc))


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


__all__ = ["OnvifCamera", "OnvifError", "OnvifStream", "password_digest", "with_user"]
