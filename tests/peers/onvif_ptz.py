"""A test ONVIF PTZ camera: a small real SOAP 1.2 server over HTTP on loopback.

No ONVIF camera can be had on this machine, so this device stands in for one. It implements only the calls
citywall makes (device: GetServices, GetSystemDateAndTime; media: GetProfiles; PTZ: ContinuousMove, Stop,
GetPresets, GotoPreset, SetPreset, GotoHomePosition, GetStatus), checks every request's WS-Security
UsernameToken digest as a camera does (a wrong password gets the ONVIF ``NotAuthorized`` fault), and keeps a
pan/tilt/zoom state: a continuous move turns the position at the velocity given until a Stop or its timeout
(full speed = ``SPEED`` of the −1 … 1 range per second), presets store and recall positions, home is (0, 0, 0).
The requests are parsed with the standard library and the answers written by hand, so citywall's client (zeep
with the ONVIF WSDLs) reads them as it would a camera's.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape, quoteattr

SPEED = 0.5  # position units per second at velocity 1
ENV = "http://www.w3.org/2003/05/soap-envelope"
NS = {
    "env": ENV,
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
}
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "ptz_main"  # the profile with PTZ (a profile without it comes first, as on many cameras)


@dataclass
class Position:
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0


@dataclass
class PresetEntry:
    name: str
    position: Position


@dataclass
class Call:
    operation: str
    user: str | None
    args: dict[str, str] = field(default_factory=dict)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _seconds(duration: str | None) -> float | None:
    """An xs:duration as zeep writes a timedelta (``PT6S``, ``PT1M0.5S``)."""
    if not duration:
        return None
    match = re.fullmatch(r"P(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?", duration.strip())
    if not match:
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class Fault(Exception):
    def __init__(self, code: str, subcode: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason, self.status = code, subcode, reason, status


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (a timeout test) closed its socket before the answer: nothing to report


class OnvifPtzDevice:
    """``with OnvifPtzDevice(user, password) as device:`` — ``device.address`` is what a ``ptz:`` block names."""

    def __init__(self, user: str = "ptz-admin", password: str = "ptz-Passw0rd",
                 presets: dict[str, tuple[str, Position]] | None = None) -> None:
        self.user, self.password = user, password
        self.lock = threading.Lock()
        self.position = Position()
        self.velocity = Position()
        self.moving_since: float | None = None
        self.move_until: float | None = None
        self.presets: dict[str, PresetEntry] = {
            token: PresetEntry(name, pos) for token, (name, pos) in (presets or {}).items()}
        self._next_token = 100
        self.calls: list[Call] = []
        self.delay = 0.0  # seconds to sit on every answer (a camera that is slow or gone)
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, name="onvif-ptz-device", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OnvifPtzDevice:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    # -- state ----------------------------------------------------------------------------------------------------
    def _advance(self, now: float) -> None:
        """Integrate the continuous move up to ``now`` (or to its timeout)."""
        if self.moving_since is None:
            return
        end = min(now, self.move_until) if self.move_until is not None else now
        dt = max(0.0, end - self.moving_since)
        p, v = self.position, self.velocity
        p.pan = _clamp(p.pan + v.pan * SPEED * dt, -1, 1)
        p.tilt = _clamp(p.tilt + v.tilt * SPEED * dt, -1, 1)
        p.zoom = _clamp(p.zoom + v.zoom * SPEED * dt, 0, 1)
        self.moving_since = end
        if self.move_until is not None and now >= self.move_until:
            self._halt()

    def _halt(self) -> None:
        self.velocity, self.moving_since, self.move_until = Position(), None, None

    def snapshot(self) -> tuple[Position, bool]:
        """(where it points now, whether it is moving)."""
        with self.lock:
            self._advance(time.monotonic())
            return Position(self.position.pan, self.position.tilt, self.position.zoom), self.moving_since is not None

    def operations(self) -> list[str]:
        with self.lock:
            return [c.operation for c in self.calls]

    # -- SOAP -----------------------------------------------------------------------------------------------------
    def _check_auth(self, header: ET.Element | None) -> str:
        token = header.find(f".//{{{WSSE}}}UsernameToken") if header is not None else None
        if token is None:
            raise Fault("env:Sender", "ter:NotAuthorized", "Sender not Authorized")
        user = token.findtext(f"{{{WSSE}}}Username")
        password = token.findtext(f"{{{WSSE}}}Password") or ""
        nonce = token.findtext(f"{{{WSSE}}}Nonce") or ""
        created = token.findtext(f"{{{WSU}}}Created") or ""
        expected = base64.b64encode(hashlib.sha1(base64.b64decode(nonce) + created.encode() +
                                                 self.password.encode()).digest()).decode()
        if user != self.user or password != expected:
            raise Fault("env:Sender", "ter:NotAuthorized", "Sender not Authorized")
        return user

    def answer(self, body: bytes, path: str) -> tuple[int, str]:
        try:
            envelope = ET.fromstring(body)
        except ET.ParseError:
            return self._fault(Fault("env:Sender", "ter:WellFormed", "not XML"))
        header = envelope.find(f"{{{ENV}}}Header")
        body_element = envelope.find(f"{{{ENV}}}Body")
        request = next(iter(body_element), None) if body_element is not None else None
        if request is None:
            return self._fault(Fault("env:Sender", "ter:WellFormed", "no request"))
        operation = _local(request.tag)
        try:
            user = self._check_auth(header)
            args = {_local(child.tag): (child.text or "").strip() for child in request}
            with self.lock:
                self.calls.append(Call(operation, user, args))
            return 200, self._envelope(self._dispatch(operation, request, path))
        except Fault as fault:
            return self._fault(fault)

    def _dispatch(self, operation: str, request: ET.Element, path: str) -> str:
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            raise Fault("env:Receiver", "ter:ActionNotSupported", f"{operation} is not supported here")
        result: str = handler(request)
        return result

    def _envelope(self, body: str) -> str:
        names = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items())
        return f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope {names}><env:Body>{body}</env:Body></env:Envelope>'

    def _fault(self, fault: Fault) -> tuple[int, str]:
        return fault.status, self._envelope(
            f"<env:Fault><env:Code><env:Value>{fault.code}</env:Value><env:Subcode><env:Value>{fault.subcode}"
            f"</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang=\"en\">{escape(fault.reason)}"
            f"</env:Text></env:Reason></env:Fault>")

    def _arg(self, request: ET.Element, name: str) -> ET.Element | None:
        return next((child for child in request if _local(child.tag) == name), None)

    def _profile(self, request: ET.Element) -> None:
        token = self._arg(request, "ProfileToken")
        if token is None or (token.text or "").strip() != PROFILE:
            raise Fault("env:Sender", "ter:NoProfile", "no such profile")

    # device
    def _op_GetServices(self, request: ET.Element) -> str:
        services = [("http://www.onvif.org/ver10/device/wsdl", "device_service"),
                    ("http://www.onvif.org/ver10/media/wsdl", "media_service"),
                    ("http://www.onvif.org/ver20/ptz/wsdl", "ptz_service")]
        return "<tds:GetServicesResponse>" + "".join(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{self.address}/onvif/{path}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
            for ns, path in services) + "</tds:GetServicesResponse>"

    def _op_GetSystemDateAndTime(self, request: ET.Element) -> str:
        now = datetime.now(UTC)
        return ("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
                "<tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time>"
                f"<tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute><tt:Second>{now.second}</tt:Second>"
                f"</tt:Time><tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month>"
                f"<tt:Day>{now.day}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>"
                "</tds:GetSystemDateAndTimeResponse>")

    # media
    def _op_GetProfiles(self, request: ET.Element) -> str:
        return ("<trt:GetProfilesResponse>"
                '<trt:Profiles token="sub_nopt" fixed="true"><tt:Name>sub</tt:Name></trt:Profiles>'
                f'<trt:Profiles token="{PROFILE}" fixed="true"><tt:Name>main</tt:Name>'
                '<tt:PTZConfiguration token="ptz_cfg"><tt:Name>ptz</tt:Name><tt:UseCount>1</tt:UseCount>'
                "<tt:NodeToken>ptz_node</tt:NodeToken></tt:PTZConfiguration></trt:Profiles>"
                "</trt:GetProfilesResponse>")

    # PTZ
    def _op_ContinuousMove(self, request: ET.Element) -> str:
        self._profile(request)
        velocity = self._arg(request, "Velocity")
        wanted = Position()
        if velocity is not None:
            for child in velocity:
                if _local(child.tag) == "PanTilt":
                    wanted.pan, wanted.tilt = float(child.get("x", 0)), float(child.get("y", 0))
                elif _local(child.tag) == "Zoom":
                    wanted.zoom = float(child.get("x", 0))
        timeout_el = self._arg(request, "Timeout")
        timeout = _seconds(timeout_el.text if timeout_el is not None else None)
        now = time.monotonic()
        with self.lock:
            self._advance(now)
            self.velocity, self.moving_since = wanted, now
            self.move_until = now + timeout if timeout else None
        return "<tptz:ContinuousMoveResponse/>"

    def _op_Stop(self, request: ET.Element) -> str:
        self._profile(request)
        with self.lock:
            self._advance(time.monotonic())
            self._halt()
        return "<tptz:StopResponse/>"

    def _op_GetPresets(self, request: ET.Element) -> str:
        self._profile(request)
        with self.lock:
            items = "".join(
                f"<tptz:Preset token={quoteattr(token)}><tt:Name>{escape(p.name)}</tt:Name><tt:PTZPosition>"
                f'<tt:PanTilt x="{p.position.pan}" y="{p.position.tilt}"/><tt:Zoom x="{p.position.zoom}"/>'
                "</tt:PTZPosition></tptz:Preset>" for token, p in self.presets.items())
        return f"<tptz:GetPresetsResponse>{items}</tptz:GetPresetsResponse>"

    def _goto(self, position: Position) -> None:
        with self.lock:
            self._halt()
            self.position = Position(position.pan, position.tilt, position.zoom)

    def _op_GotoPreset(self, request: ET.Element) -> str:
        self._profile(request)
        token_el = self._arg(request, "PresetToken")
        token = (token_el.text or "").strip() if token_el is not None else ""
        preset = self.presets.get(token)
        if preset is None:
            raise Fault("env:Sender", "ter:NoToken", "no such preset")
        self._goto(preset.position)
        return "<tptz:GotoPresetResponse/>"

    def _op_GotoHomePosition(self, request: ET.Element) -> str:
        self._profile(request)
        self._goto(Position())
        return "<tptz:GotoHomePositionResponse/>"

    def _op_SetPreset(self, request: ET.Element) -> str:
        self._profile(request)
        name_el, token_el = self._arg(request, "PresetName"), self._arg(request, "PresetToken")
        with self.lock:
            self._advance(time.monotonic())
            token = (token_el.text or "").strip() if token_el is not None else ""
            if not token:
                self._next_token += 1
                token = str(self._next_token)
            name = (name_el.text or "").strip() if name_el is not None else token
            self.presets[token] = PresetEntry(name, Position(self.position.pan, self.position.tilt,
                                                             self.position.zoom))
        return f"<tptz:SetPresetResponse><tptz:PresetToken>{escape(token)}</tptz:PresetToken></tptz:SetPresetResponse>"

    def _op_GetStatus(self, request: ET.Element) -> str:
        self._profile(request)
        position, moving = self.snapshot()
        state = "MOVING" if moving else "IDLE"
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return ("<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>"
                f'<tt:PanTilt x="{position.pan:.4f}" y="{position.tilt:.4f}"/><tt:Zoom x="{position.zoom:.4f}"/>'
                f"</tt:Position><tt:MoveStatus><tt:PanTilt>{state}</tt:PanTilt><tt:Zoom>{state}</tt:Zoom>"
                f"</tt:MoveStatus><tt:UtcTime>{now}</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>")

    # -- HTTP -----------------------------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        device = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if device.delay:
                    time.sleep(device.delay)
                status, text = device.answer(body, self.path)
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # http.server's signature
                pass  # quiet: the tests read device.calls

        return Handler
