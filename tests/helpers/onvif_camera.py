"""A small ONVIF camera for the scan tests, on real sockets in the test process: it answers
WS-Discovery probes (UDP 3702, the multicast group joined on loopback, and unicast) and the
three SOAP calls of a scan (GetCapabilities, GetProfiles, GetStreamUri) on an HTTP port of its
own, checking each call's WS-Security password digest as a camera does (a wrong one gets the
ONVIF fault: HTTP 400, env:Sender / ter:NotAuthorized). Its stream URIs are whatever the test
gives (an MJPEG camera of tests/helpers/mjpeg_server.py, so "test the stream" reads real frames).

    with OnvifCameraResponder(streams={"main": url}, user="admin", password="s3cret") as cam:
        devices = probe(wait_s=2, interface="127.0.0.1")
"""
from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from xml.sax.saxutils import escape

GROUP, PORT = "239.255.255.250", 3702
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
SOAP_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
             'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
             'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error">')


class OnvifCameraResponder:
    def __init__(self, streams: dict[str, str], *, user: str = "admin", password: str = "s3cret",
                 name: str = "Gate North", model: str = "TestCam 4K") -> None:
        self.streams = streams          # profile token -> stream URI, in order
        self.user, self.password = user, password
        self.name, self.model = name, model
        self.endpoint = f"urn:uuid:{uuid.uuid4()}"
        self.calls: list[str] = []      # SOAP operations served (refused ones too)
        self.probes = 0
        self._closed = threading.Event()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self._udp.bind(("", PORT))
        self._udp.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton("127.0.0.1")))
        self._udp.settimeout(0.1)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.device_url = f"http://127.0.0.1:{self._http.server_port}/onvif/device_service"
        self.media_url = f"http://127.0.0.1:{self._http.server_port}/onvif/media_service"
        self._threads = [threading.Thread(target=self._serve_probes, daemon=True, name="onvif-probes"),
                         threading.Thread(target=self._http.serve_forever, daemon=True, name="onvif-http")]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------ WS-Discovery

    def _serve_probes(self) -> None:
        while not self._closed.is_set():
            try:
                data, sender = self._udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                root = ET.fromstring(data)
            except ET.ParseError:
                continue
            types = root.findtext("s:Body/d:Probe/d:Types", default="", namespaces=NS) or ""
            message_id = root.findtext("s:Header/a:MessageID", default="", namespaces=NS)
            if not message_id or (types and "NetworkVideoTransmitter" not in types):
                continue
            self.probes += 1
            self._udp.sendto(self._probe_matches(message_id).encode(), sender)

    def _probe_matches(self, relates_to: str) -> str:
        scopes = " ".join([f"onvif://www.onvif.org/name/{self.name.replace(' ', '_')}",
                           f"onvif://www.onvif.org/hardware/{self.model.replace(' ', '%20')}",
                           "onvif://www.onvif.org/Profile/Streaming", "onvif://www.onvif.org/type/video_encoder"])
        return (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" '
                f'xmlns:d="{NS["d"]}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>'
                f"<a:MessageID>uuid:{uuid.uuid4()}</a:MessageID><a:RelatesTo>{relates_to}</a:RelatesTo>"
                "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
                "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action></s:Header>"
                f"<s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>{self.endpoint}</a:Address>"
                "</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
                f"<d:Scopes>{scopes}</d:Scopes><d:XAddrs>{self.device_url}</d:XAddrs>"
                "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>")

    # ------------------------------------------------------------------ SOAP

    def _authorised(self, root: ET.Element) -> bool:
        token = root.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
        if token is None:
            return False
        user = token.findtext("wsse:Username", default="", namespaces=NS)
        digest = token.findtext("wsse:Password", default="", namespaces=NS)
        nonce = base64.b64decode(token.findtext("wsse:Nonce", default="", namespaces=NS) or "")
        created = token.findtext("wsu:Created", default="", namespaces=NS) or ""
        expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()).decode()
        return user == self.user and digest == expected

    def _answer(self, path: str, body: bytes) -> tuple[int, str]:
        root = ET.fromstring(body)
        op_el = root.find("s:Body/*", NS)
        op = (op_el.tag.split("}", 1)[1] if op_el is not None and "}" in op_el.tag else "")
        self.calls.append(op)
        if not self._authorised(root):
            return 400, (SOAP_HEAD + "<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode>"
                         "<s:Value>ter:NotAuthorized</s:Value></s:Subcode></s:Code><s:Reason>"
                         '<s:Text xml:lang="en">Sender not Authorized</s:Text></s:Reason></s:Fault></s:Body>'
                         "</s:Envelope>")
        if path.endswith("device_service") and op == "GetCapabilities":
            inner = (f"<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media><tt:XAddr>{self.media_url}"
                     "</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>")
        elif path.endswith("media_service") and op == "GetProfiles":
            profiles = "".join(
                f'<trt:Profiles token="{escape(token)}" fixed="true"><tt:Name>{escape(token)}</tt:Name>'
                "<tt:VideoEncoderConfiguration><tt:Encoding>H264</tt:Encoding><tt:Resolution>"
                f"<tt:Width>{1920 // (i + 1)}</tt:Width><tt:Height>{1080 // (i + 1)}</tt:Height></tt:Resolution>"
                "</tt:VideoEncoderConfiguration></trt:Profiles>" for i, token in enumerate(self.streams))
            inner = f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>"
        elif path.endswith("media_service") and op == "GetStreamUri":
            token = root.findtext(".//{http://www.onvif.org/ver10/media/wsdl}ProfileToken", default="")
            inner = (f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{escape(self.streams.get(token, ''))}</tt:Uri>"
                     "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:Timeout>PT0S</tt:Timeout>"
                     "</trt:MediaUri></trt:GetStreamUriResponse>")
        else:
            return 400, (SOAP_HEAD + "<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason>"
                         f'<s:Text xml:lang="en">no {escape(op)} here</s:Text></s:Reason></s:Fault></s:Body>'
                         "</s:Envelope>")
        return 200, f"{SOAP_HEAD}<s:Body>{inner}</s:Body></s:Envelope>"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, text = camera._answer(self.path, body)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    # ------------------------------------------------------------------ life cycle

    def close(self) -> None:
        self._closed.set()
        self._http.shutdown()
        self._http.server_close()
        self._udp.close()
        for t in self._threads:
            t.join(2)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
