"""The values that cross the camera runtime seam (``wall.runtime.interface.CameraRuntime``).

Every one is a plain pydantic model — picklable, comparable, with a JSON schema — and never a live object (a
session, an analyzer, a queue): a runtime whose cameras live in other processes on other machines hands the
service exactly these, so no route can come to depend on something that only exists in this process.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    """A camera's connection as its reader sees it now (``streams.health.CameraHealth`` at one moment)."""

    state: str = Field(description="connecting, live, stalled, offline or stopped")
    since: float = Field(description="When the camera entered this state (Unix time).")
    last_error: str | None = Field(description="The last error, credentials and URLs removed.")
    last_error_kind: str | None
    last_error_at: float | None = None
    fps: float | None
    bitrate_kbps: float | None
    gop_seconds: float | None
    reconnects: int
    packets: int = 0
    bytes: int = 0
    keyframes: int = 0
    codec: str | None
    profile: str | None
    width: int | None
    height: int | None


class RecordingStatus(BaseModel):
    """A camera's recorder (``streams.recorder.RecorderHealth``): a full disk or failing writes show here."""

    mode: str = Field(description="continuous, events or schedule")
    state: str = Field(description="idle (nothing to record now), recording or failing")
    last_error: str | None
    last_error_kind: str | None = Field(description="disk_full, write_failed or not_shared (a cluster worker whose "
                                                    "node lacks the shared recording storage)")
    last_error_at: float | None
    segments: int = Field(description="Segments closed since the recorder started.")
    bytes_written: int
    dropped: int = Field(description="Packets lost because the disk could not keep up.")
    write_seconds: float = Field(description="CPU time of the recorder's thread.")


class RecordedSegment(BaseModel):
    """A segment file a camera's recorder closed, on its way to the index in the database. Crosses the seam (a
    cluster worker records, the control plane indexes), so the path is relative to the recording storage root."""

    camera_id: str
    path: str = Field(description="Under the storage root, '/'-separated.")
    start: float = Field(description="Wall-clock time of its first frame (Unix).")
    end: float = Field(description="start + the media seconds it holds.")
    frames: int
    keyframes: int
    size: int = Field(description="Bytes on disk.")
    codec: str
    width: int
    height: int
    params: str = Field(description="Digest of the codec parameters: equal ones join by stream copy.")
    reason: str = Field(description="Why it closed: rotate, reconnect, dropped, mode, overrun, stopped, recovered.")


class SamplerCounters(BaseModel):
    """What analytics' decoding of one camera cost (``streams.sampler.FrameSampler``'s counters)."""

    decode_seconds: float
    decoded: int
    skipped: int
    emitted: int


class Placement(BaseModel):
    """Where a camera runs in cluster mode: the worker that owns it and that worker's Ray node."""

    worker: str
    node_id: str = Field(description="The Ray node id (hex); operators read its first 8 characters.")
    node_ip: str | None = Field(None, description="The node's address as Ray knows it.")


class CameraStatus(BaseModel):
    """One running camera: its health, who watches it and what analytics makes of it."""

    id: str
    health: Health
    viewers: int = Field(description="Open live views of its sub stream.")
    analysed: bool = Field(description="Its zones run in the analytics now.")
    scene_moved: bool = Field(description="PTZ guard: the view left its preset, rules paused.")
    sampler: SamplerCounters | None = None
    renditions: int = Field(0, description="H.264 renditions of it being made now (browsers without its codec).")
    rendition_viewers: int = Field(0, description="Live views watching one of its renditions.")
    placement: Placement | None = Field(None, description="Cluster mode: its worker and node (None on one box).")
    recording: RecordingStatus | None = Field(None, description="Its recorder (None when it does not record).")


class PipelineCounters(BaseModel):
    frames_in: int
    frames_analysed: int
    frames_reused: int
    frames_dropped: int
    events: int
    analyse_seconds: float


class DetectorCounters(BaseModel):
    model: str
    providers: list[str]
    dynamic_batch: bool
    frames: int
    runs: int
    inference_seconds: float
    preprocess_seconds: float
    postprocess_seconds: float


class AnalyticsCounters(BaseModel):
    """The detector pipeline's totals since start, for ``/metrics``."""

    pipeline: PipelineCounters
    detector: DetectorCounters


class WorkerView(BaseModel):
    """One camera worker of a cluster as its last report showed it (``/metrics``; a hung worker's stays as it
    was, with its ``report_age_seconds`` growing)."""

    worker: str
    node_id: str
    node_ip: str | None
    pid: int
    incarnation: str = Field(description="Changes when Ray restarted the worker's process in place.")
    restarts: int = Field(description="In-place restarts this control plane saw.")
    cameras: int = Field(description="Cameras it runs (the epochs it holds).")
    cpu_seconds: float = Field(description="CPU time of its process (user + system), all threads.")
    rss_bytes: int = Field(description="Resident memory of its process.")
    detector_waiting: int = Field(description="Frames waiting for its detector (at most one per camera).")
    pending_events: int = Field(description="Event changes queued until the control plane acknowledges them.")
    report_age_seconds: float = Field(description="Since its last report arrived (1 s when all is well).")
    available: bool = Field(description="False while Ray restarts its process.")
    detector_actor: str | None = Field(None, description="The node's detector actor it detects with (None: its "
                                       "own CPU).")
    detector_actor_looks: int = Field(0, description="Looks that actor answered for it.")
    detector_fallbacks: int = Field(0, description="Looks it detected itself because the actor did not answer.")


class NodeView(BaseModel):
    """A Ray node as the control plane last saw it (the supervisor's pass, every second)."""

    node_id: str
    node_ip: str | None
    alive: bool
    cpus: float


class ClusterView(BaseModel):
    """Cluster mode's nodes and workers, from what the control plane already holds (never a call to a worker)."""

    nodes: list[NodeView]
    workers: list[WorkerView]
    supervising: bool = Field(True, description="This control plane runs the cluster's supervisor (it holds the "
                              "namespace's lock); False on a follower replica.")


class OverlayZone(BaseModel):
    id: str
    name: str | None
    family: str
    code: str | None
    polygon: list[tuple[float, float]] = Field(description="Corners in 0–1 of the picture.")


class OverlayBox(BaseModel):
    label: str
    confidence: float | None
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in 0–1 of the picture.")


class Overlay(BaseModel):
    """What the wall may draw over a live tile: the camera's zones and its latest detections."""

    zones: list[OverlayZone] = []
    boxes: list[OverlayBox] = []
    looks: int = Field(0, description="Looks the analytics took at this camera since it started.")
    at: float | None = Field(None, description="When the latest look was taken (Unix time).")


class EventBox(BaseModel):
    label: str
    score: float
    xyxy: list[float] = Field(description="x1, y1, x2, y2 in pixels of the analysed frame.")
    track_id: int | None


class EventView(BaseModel):
    """One change of an event (one place and problem on one camera) as clients see it
    (``vision.events.EventChange`` without its evidence files)."""

    kind: str = Field(description="opened, updated, cleared or still_present")
    event_id: str
    camera: str
    zone: str
    family: str
    code: str
    code_name: str
    catalogue_version: str
    place: str
    place_box: list[float]
    frame_size: list[int]
    first_seen: float
    t_wall: float
    t: float = Field(description="Stream seconds of this change.")
    dwell: float
    boxes: list[EventBox]


class Clip(BaseModel):
    """A stretch of a camera's packet ring, cut by stream copy into one MP4."""

    camera_id: str
    data: bytes = Field(repr=False)
    start_wall: float = Field(description="Wall-clock time of the first packet.")
    end_wall: float
    frames: int
    duration: float = Field(description="Seconds of video.")
    analysis_interval: float = Field(description="The camera's seconds between looks, to replay it alike.")
    analysis_max_interval: float | None = Field(None, description="The camera's longest gap between looks (a "
                                                "still scene), also to replay it alike.")


class LiveInit(BaseModel):
    """A new fMP4 init segment: the browser (re)builds its MediaSource for it."""

    kind: Literal["init"] = "init"
    camera_id: str
    mime: str | None
    codec: str | None
    width: int | None
    height: int | None
    rendition: str | None = Field(None, description="'h264' when this is the server's rendition, not the camera's "
                                                    "own stream (the tile shows a badge).")
    data: bytes = Field(repr=False)


class LiveFragment(BaseModel):
    kind: Literal["fragment"] = "fragment"
    data: bytes = Field(repr=False)


class LiveState(BaseModel):
    """The camera's state changed while someone watched it (sent once per change)."""

    kind: Literal["state"] = "state"
    camera_id: str
    state: str
    last_error: str | None
    fps: float | None
    bitrate_kbps: float | None


class LiveRefused(BaseModel):
    """The feed cannot be served as asked (a rendition past ``server.live.renditions``): the socket is closed with
    this reason and the tile shows stills."""

    kind: Literal["refused"] = "refused"
    camera_id: str
    reason: str


LiveItem = LiveInit | LiveFragment | LiveState | LiveRefused


class Applied(BaseModel):
    """What a saved camera or rule change did to the running cameras (the editor tells the admin)."""

    running: bool = Field(description="The camera has a session (it is enabled).")
    restarted: bool = Field(description="Its session was started, restarted or stopped (the video was cut).")
    analysed: bool = Field(description="Its rules run now.")
    message: str = ""


class PlaceCheck(BaseModel):
    """视频核查: watch a place on video until it has been empty long enough, or the time is up."""

    camera_id: str
    event_id: str
    zone_id: str
    place_box: list[float] = Field(min_length=4, max_length=4, description="x1, y1, x2, y2 in frame pixels.")
    absent_seconds: float
    within_seconds: float
