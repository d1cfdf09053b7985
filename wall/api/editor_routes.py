"""The camera and zone editor's API (admins only): cameras.yaml and analytics.yaml edited from the console.

The YAML files stay the one source of truth: every read comes from the file, every save writes the file (its
comments kept) and loads the directory back as ``citywall serve`` would before anything is applied; the running
service then follows without a restart (``wall.editing.apply``). Every change, refusal, probe and try is
audited. Camera URLs are write-only: no answer carries one, only whether it is set.

Refusals of a proposal are ``422`` (``409`` when the site's state forbids it) with ``detail`` (one line) and
``problems``: one ``key.path: reason`` line each, keys relative to what was sent.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from anyio import from_thread
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from settings.errors import ConfigError
from settings.secrets import public_error
from streams.config import CameraConfig, check_stream_url
from streams.probe import ProbeResult, probe
from streams.ptz_config import PtzConfig
from streams.recording_config import RecordingPolicy
from streams.ring import ClipUnavailable
from vision.card import DEFAULT_CARD
from wall.access import NOT_FOUND, audit_action, require
from wall.api.common import ADMIN_ONLY, Closed, error
from wall.api.deps import services
from wall.auth.principal import Permission, Principal
from wall.editing import apply, cameras_file, rules_file
from wall.editing.checks import check_rules, without_urls
from wall.editing.rule_try import RuleTrier, TryResult
from wall.errors import Conflict, DomainError, Invalid, TooMany, Unprocessable

router = APIRouter(prefix="/api", tags=["editor"], responses=ADMIN_ONLY)
Admin = Annotated[Principal, Depends(require(Permission.ADMINISTER))]
CameraId = Annotated[str, PathParam(max_length=64)]
PROBE_SECONDS = 4.0  # enough for two keyframes of a usual 1–2 s GOP; citywall probe reads 6 s


class ProblemsOut(BaseModel):
    """A refused proposal: ``problems`` has one ``key.path: reason`` line each (``detail`` joins them). A body
    that is not even JSON gets FastAPI's own answer, whose ``detail`` is a list."""

    detail: str | list[dict[str, Any]]
    problems: list[str] = Field(default_factory=list)


REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"model": ProblemsOut, "description": "invalid: `problems` lists each as key.path: reason"},
    409: {"model": ProblemsOut, "description": "the site's state forbids it (the id exists, a read-only directory, "
          "a try running, no video of the camera yet)"},
}
_trier_lock = threading.Lock()


class PtzConfigOut(PtzConfig):
    """A camera's ptz: block as the console shows it: the model itself (a new field shows without a second list
    to keep), with the password write-only like the URLs — only whether one is set."""

    password: None = Field(default=None, exclude=True, description="Never shown.")  # narrowed: it cannot carry one
    password_set: bool = Field(default=False, description="Whether an ONVIF password is set (it is never shown).")


class CameraConfigOut(BaseModel):
    """A camera as cameras.yaml has it, without its URLs (they carry the video network's credentials) and without
    its ONVIF password."""

    id: str
    name: str | None = None
    national_id: str | None = None
    group: str | None = None
    grid_code: str | None = None
    street: str | None = None
    community: str | None = None
    address: str | None = None
    lon: float | None = None
    lat: float | None = None
    analysis_interval: float = 2.0
    analysis_max_interval: float | None = None
    enabled: bool = True
    url_set: bool = Field(description="Whether the sub-stream URL is set (it is never shown).")
    main_url_set: bool = Field(description="Whether a main-stream URL is set (it is never shown).")
    running: bool = Field(default=False, description="The hub has a session for it (it is enabled).")
    state: str | None = Field(default=None, description="Its stream state when running.")
    analysed: bool = False
    recording: RecordingPolicy | None = Field(default=None, description="Its recording (录像) block, if any.")
    ptz: PtzConfigOut | None = Field(default=None, description="Its PTZ block, if any (password never shown).")


class ProbeIn(Closed):
    url: str | None = Field(default=None, max_length=2048, description="A URL to check (schemes rtsp, rtsps, or "
                            "file: inside the configuration directory); only ${NAME} references to the site's "
                            "server.camera_env_prefix variables (CITYWALL_CAM_…) are resolved, any other is "
                            "refused.")
    camera: str | None = Field(default=None, max_length=64, description="Or check this camera's saved URL.")


class ProbeOut(BaseModel):
    """What ``citywall probe`` measures (without the URL)."""

    ok: bool
    error_kind: str | None = None
    error: str | None = None
    codec: str | None = None
    profile: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    gop_seconds: float | None = None
    bitrate_kbps: float | None = None
    seconds_read: float | None = None
    open_seconds: float | None = None


class CameraSaved(BaseModel):
    camera: CameraConfigOut
    probe: ProbeOut | None = Field(description="The check of a new URL before it was saved (none if unchanged).")
    running: bool
    restarted: bool = Field(description="The camera's session was started, restarted or stopped.")
    analysed: bool


class RulesOut(BaseModel):
    camera: str
    rules: dict[str, Any] = Field(description="The camera's entry of analytics.yaml, every field filled in.")
    analytics: bool = Field(description="The site runs analytics (it started with analytics.yaml).")
    analysed: bool = Field(description="These rules run on the camera now.")
    message: str = ""


class TryIn(Closed):
    rules: dict[str, Any] = Field(max_length=64, description="Proposed rules, as for PUT /api/cameras/{id}/rules.")
    minutes: float = Field(default=2.0, gt=0, le=10, description="How far back (the ring keeps what "
                           "streams.ring_seconds allows).")


def _refusal(request: Request, admin: Principal, action: str, target: str, exc: DomainError) -> DomainError:
    """Audit a refused proposal; the same refusal with every URL taken out of its problems, to be answered."""
    problems = [without_urls(p) for p in exc.problems]
    audit_action(request, admin, action, target, False, {"problems": problems[:10]})
    return type(exc).of(problems)


def _probe_out(result: ProbeResult) -> ProbeOut:
    data = result.as_dict()
    data.pop("url", None)
    data.pop("gop_frames", None)
    data["error"] = without_urls(public_error(result.error) or "") or None
    return ProbeOut(**data)


def _site_camera(request: Request, camera_id: str) -> CameraConfig:
    camera = services(request).registry.get(camera_id)
    if camera is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return camera


def _config_out(request: Request, entry: dict[str, Any]) -> CameraConfigOut:
    running = {s.id: s for s in services(request).runtime.camera_statuses_now()}.get(str(entry.get("id")))
    known = {k: v for k, v in entry.items() if k in CameraConfigOut.model_fields}
    for key in ("name", "national_id", "group", "grid_code", "street", "community", "address"):
        if known.get(key) is not None:
            known[key] = str(known[key])
    return CameraConfigOut(**known, running=running is not None,
                           state=running.health.state if running is not None else None,
                           analysed=running is not None and running.analysed)


def _read_cameras(request: Request) -> list[dict[str, Any]]:
    try:
        site = services(request).site
        return cameras_file.read_cameras(site.directory, site.server_file.server.camera_env_prefix)
    except ConfigError as exc:
        problems = [without_urls(p) for p in exc.problems]
        raise HTTPException(status.HTTP_409_CONFLICT, "cameras.yaml does not load: " + "; ".join(problems)) from None


# -- cameras ---------------------------------------------------------------------------------------------------


@router.get("/config/cameras", responses={409: error("cameras.yaml does not load (edited by hand since)")})
def list_camera_configs(admin: Admin, request: Request) -> list[CameraConfigOut]:
    """Every camera of cameras.yaml (disabled ones too) as the file has it, URLs only as set / not set."""
    return [_config_out(request, entry) for entry in _read_cameras(request)]


@router.post("/config/cameras/probe", responses={400: error("no URL or camera given, or an unusable URL"),
                                                  404: error(NOT_FOUND), 429: error("too many probes this minute")})
def probe_camera(body: ProbeIn, admin: Admin, request: Request) -> ProbeOut:
    """Open a stream the way the hub does and measure it (``citywall probe``): codec, resolution, fps — or the
    classified reason it cannot be opened (refused, timeout, not_found, unauthorized, not_a_video, io).
    Audited; each admin gets ``wall.editing.probe_quota`` probes a minute (429 past them), saves that probe a
    new URL included, so the classified answers cannot serve as a quick port scanner."""
    site = services(request).site
    services(request).probe_quota.take(admin.name)  # refused probes opened nothing: not audited (no flood)
    target = "url"
    if body.url:
        proposal_url = body.url.strip()
        try:
            url = cameras_file.resolve_references(proposal_url, "url",
                                                  env_prefix=site.server_file.server.camera_env_prefix)
            check_stream_url(url)
            cameras_file.check_file_source(site.directory, "url", url)
        except (ValueError, DomainError) as exc:  # for a probe, an unusable URL is a bad request (400)
            why = exc.message if isinstance(exc, DomainError) else f"url: {exc}"
            raise Invalid(without_urls(why)) from None
        url = cameras_file.resolved_url(site.directory, url)
    elif body.camera:
        camera = _site_camera(request, body.camera)
        url, target = camera.url, f"camera:{camera.id}"
    else:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "give a url or a camera")
    result = probe(url, seconds=PROBE_SECONDS, open_timeout=site.server_file.streams.open_timeout,
                   read_timeout=site.server_file.streams.read_timeout)
    audit_action(request, admin, "camera.probe", target, result.ok,
                 {"kind": result.error_kind} if not result.ok else {"codec": result.codec})
    return _probe_out(result)


def _save_camera(request: Request, admin: Principal, camera_id: str, body: dict[str, Any], *, create: bool,
                 offline: bool) -> CameraSaved:
    site = services(request).site
    action = "camera.create" if create else "camera.update"
    target = f"camera:{camera_id}"
    try:
        proposal = cameras_file.propose(site.directory, camera_id, body, create=create,
                                        grid_code_length=site.server_file.server.grid_code_length,
                                        env_prefix=site.server_file.server.camera_env_prefix)
        checked: ProbeOut | None = None
        if proposal.url_changed and proposal.camera.enabled:
            services(request).probe_quota.take(admin.name)
            result = probe(cameras_file.resolved_url(site.directory, proposal.camera.url), seconds=PROBE_SECONDS,
                           open_timeout=site.server_file.streams.open_timeout,
                           read_timeout=site.server_file.streams.read_timeout)
            checked = _probe_out(result)
            if not result.ok and not offline:
                raise Unprocessable.of([f"url: the stream does not open ({checked.error_kind}: {checked.error}); "
                                        "save with offline=true to keep it anyway"])
        camera, _loaded = cameras_file.save_camera(site.directory, proposal)
    except cameras_file.CameraMissing:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND) from None
    except TooMany:
        raise  # the probe quota: nothing was opened or saved
    except DomainError as exc:
        raise _refusal(request, admin, action, target, exc) from None
    except ConfigError as exc:  # cameras.yaml was broken by hand since the start: fix it there first
        raise _refusal(request, admin, action, target, Conflict.of(exc.problems)) from None
    except OSError as exc:  # e.g. a configuration directory mounted read-only
        raise _refusal(request, admin, action, target,
                       Conflict.of([f"(file): cannot write cameras.yaml: {exc.strerror}"])) from None
    parts = services(request)
    applied = apply.apply_camera(parts.registry, parts.runtime, camera)
    audit_action(request, admin, action, target, True,  # names only: never a value (a URL) in the audit log
                 {"fields": proposal.changed, "restarted": applied.restarted, "probe": checked.ok if checked else None})
    entry = next(e for e in cameras_file.read_cameras(site.directory, site.server_file.server.camera_env_prefix)
                 if e.get("id") == camera_id)
    return CameraSaved(camera=_config_out(request, entry), probe=checked, running=applied.running,
                       restarted=applied.restarted, analysed=applied.analysed)


@router.post("/config/cameras", status_code=status.HTTP_201_CREATED, response_model=CameraSaved,
             responses=REFUSED)
def create_camera(admin: Admin, request: Request, body: Annotated[dict[str, Any], Body(max_length=64)],
                  offline: Annotated[bool, Query(description="save even if the stream does not open now")] = False,
                  ) -> Any:
    """Add a camera to cameras.yaml (its URL checked by the probe first) and start it at once."""
    camera_id = body.pop("id", None)
    if not isinstance(camera_id, str) or not camera_id:
        raise _refusal(request, admin, "camera.create", "camera:?", Unprocessable.of(["id: is required"]))
    return _save_camera(request, admin, camera_id[:64], body, create=True, offline=offline)


@router.put("/config/cameras/{camera_id}", response_model=CameraSaved, responses={**REFUSED, 404: error(NOT_FOUND)})
def update_camera(camera_id: CameraId, admin: Admin, request: Request,
                  body: Annotated[dict[str, Any], Body(max_length=64)],
                  offline: Annotated[bool, Query(description="save even if the stream does not open now")] = False,
                  ) -> Any:
    """Change a camera in cameras.yaml. Absent keys keep their value, ``null`` removes an optional one; an
    absent or empty ``url`` keeps the saved one. Only a new URL or switching it on/off restarts its video."""
    _site_camera(request, camera_id)
    return _save_camera(request, admin, camera_id, body, create=False, offline=offline)


# -- zones and rules -------------------------------------------------------------------------------------------


def _catalogue(request: Request) -> Any:
    return services(request).cases.desk.catalogue


@router.get("/cameras/{camera_id}/rules", responses={404: error(NOT_FOUND), 409: error("analytics.yaml does not "
                                                                                       "load")})
def get_rules(camera_id: CameraId, admin: Admin, request: Request) -> RulesOut:
    """The camera's zones and rules as analytics.yaml has them now (no entry: no zones)."""
    _site_camera(request, camera_id)
    try:
        rules = rules_file.read_rules(services(request).site.directory, camera_id)
    except ConfigError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, "analytics.yaml does not load: " + "; ".join(exc.problems)
                            ) from None
    runtime = services(request).runtime
    running = from_thread.run(runtime.status, camera_id)
    return RulesOut(camera=camera_id, rules=rules.model_dump(mode="json"), analytics=runtime.analytics_enabled,
                    analysed=running is not None and running.analysed,
                    message="" if runtime.analytics_enabled else apply.NO_ANALYTICS)


@router.put("/cameras/{camera_id}/rules", response_model=RulesOut, responses={**REFUSED, 404: error(NOT_FOUND)})
def put_rules(camera_id: CameraId, admin: Admin, request: Request,
              body: Annotated[dict[str, Any], Body(
                  max_length=64, description="The camera's rules: zones, class_map, ptz_guard, detector_gate — "
                  "the form of one camera in analytics.yaml.")],
              ) -> Any:
    """Save the camera's rules into analytics.yaml (comments kept; the directory loaded back as ``serve`` would)
    and run them on the camera from its next look, without a restart."""
    _site_camera(request, camera_id)
    target = f"camera:{camera_id}"
    try:
        rules = check_rules(body, _catalogue(request))
        saved, _site = rules_file.save_rules(services(request).site.directory, camera_id, rules)
    except DomainError as exc:
        raise _refusal(request, admin, "rules.update", target, exc) from None
    except OSError as exc:
        raise _refusal(request, admin, "rules.update", target,
                       Conflict.of([f"(file): cannot write analytics.yaml: {exc.strerror}"])) from None
    parts = services(request)
    applied = apply.apply_rules(parts.registry, parts.runtime, camera_id, saved)
    audit_action(request, admin, "rules.update", target, True,
                 {"zones": [z.id for z in saved.zones], "applied": applied.analysed})
    return RulesOut(camera=camera_id, rules=saved.model_dump(mode="json"),
                    analytics=services(request).runtime.analytics_enabled, analysed=applied.analysed,
                    message=applied.message)


def _trier(request: Request) -> RuleTrier:
    with _trier_lock:
        parts = services(request)
        if parts.rule_trier is None:
            parts.rule_trier = RuleTrier(parts.site.model_card or DEFAULT_CARD, _catalogue(request))
        return parts.rule_trier


@router.post("/cameras/{camera_id}/rules/try", response_model_exclude_unset=True,
             responses={**REFUSED, 404: error(NOT_FOUND)})
async def try_rules(camera_id: CameraId, body: TryIn, admin: Admin, request: Request) -> TryResult:
    """Run proposed rules on the camera's last ``minutes`` (cut from its packet ring, replayed through the live
    analytics with the real model) and return the event changes they would have raised, each opened one with
    its annotated snapshot (``data:`` URL). Nothing is saved and no case is raised."""
    _site_camera(request, camera_id)
    target = f"camera:{camera_id}"
    try:
        rules = check_rules(body.rules, _catalogue(request))
        try:
            clip = await services(request).runtime.recent_clip(camera_id, body.minutes * 60)
        except LookupError:
            raise Conflict.of(["(camera): the camera is disabled: it has no video to try rules on"]) from None
        except ClipUnavailable as exc:
            raise Conflict.of([f"(camera): {exc}"]) from None
        result = await run_in_threadpool(_trier(request).run, clip, rules, body.minutes * 60)
    except DomainError as exc:
        raise await run_in_threadpool(_refusal, request, admin, "rules.try", target, exc) from None
    await run_in_threadpool(audit_action, request, admin, "rules.try", target, True,
                            {"zones": [z.id for z in rules.zones], "seconds": round(result.seconds, 1),
                             "events": len(result.events)})
    return result
