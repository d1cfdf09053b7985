// One live tile: a <video> fed by MediaSource from /ws/live/{camera}, or JPEG stills when the browser
// cannot play the camera's codec. Reconnects by itself; never drifts more than MAX_LAG_S behind live.
// Close codes: 4401 the session ended (→ /login), 4403 the camera is no longer granted, 4404 no such camera,
// 4429 over a live-view limit (server.live: per session, user, server): shown, and tried again after a while.
// H.265: when the browser cannot decode the camera's codec (MediaSource.isTypeSupported of the init's exact
// codec string), the tile asks for the server's shared H.264 rendition (?rendition=h264&width=…) and shows a
// small badge; 4430 means the box makes as many renditions as it may: stills, the badge says so, tried later.
import { t } from "./i18n.js";
import { toLogin } from "./nav.js";

const MAX_LAG_S = 3;        // a tile further behind than this jumps back to live
const KEEP_BEHIND_S = 20;   // buffered video kept behind the play head (memory of long-running walls)
const STILL_PERIOD_MS = 1000;
const LIMITED_RETRY_MS = 30_000;  // after 4429: a slot frees when another tile of the user closes
const RENDITIONS_FULL = 4430;
const needsRendition = new Set();  // cameras whose own codec this browser cannot decode: ask for H.264 at once

export class LiveTile {
  constructor(element, camera, { start = "cache", stream = "sub" } = {}) {
    this.el = element;
    this.camera = camera;
    this.start = start;  // "keyframe": wait for the next keyframe instead of the server's cached GOP
    this.stream = stream;  // "main": the camera's high-resolution stream (a maximised tile)
    this.video = element.querySelector("video");
    this.img = element.querySelector("img");
    this.badge = element.querySelector(".state");
    this.queue = [];
    this.retryMs = 500;
    this.closed = false;
    this.rendition = needsRendition.has(camera.id);
    this.setRendition(null);  // an element reused for another camera keeps no badge of the last one
    this.setState(camera.state);
    this.connect();
  }

  setState(state) {
    this.el.dataset.state = state;
    this.badge.textContent = t(state);
    this.badge.className = `state ${state}`;
  }

  connect() {
    if (this.closed) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams();
    if (this.start === "keyframe") params.set("start", "keyframe");
    if (this.stream === "main") params.set("stream", "main");
    if (this.rendition) {
      params.set("rendition", "h264");
      params.set("width", String(Math.round(this.el.clientWidth * (window.devicePixelRatio || 1))));
    }
    const query = params.toString() ? `?${params}` : "";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/live/${encodeURIComponent(this.camera.id)}${query}`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (event) => { if (ws === this.ws) this.onMessage(event); };
    ws.onopen = () => { this.retryMs = 500; };
    ws.onclose = (event) => {
      if (this.closed || ws !== this.ws) return;  // closed by us, or replaced by a rendition's socket
      if (event.code === RENDITIONS_FULL) {
        this.startStills();
        this.setRendition("full", event.reason);
        setTimeout(() => { if (ws === this.ws) this.connect(); }, LIMITED_RETRY_MS);
        return;
      }
      if (event.code === 4401) { toLogin(); return; }
      if (event.code === 4403 || event.code === 4404) {
        this.closed = true;
        this.stopStills();
        this.video.removeAttribute("src");
        this.setState("forbidden");
        return;
      }
      if (event.code === 4429) {
        this.setState("limited");
        this.badge.title = event.reason;
        setTimeout(() => this.connect(), LIMITED_RETRY_MS);
        return;
      }
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10000);
    };
  }

  onMessage(event) {
    if (typeof event.data === "string") {
      const msg = JSON.parse(event.data);
      if (msg.type === "state") this.setState(msg.state);
      if (msg.type === "init") this.startStream(msg);
      return;
    }
    if (this.still) return;
    this.queue.push(event.data);
    this.pump();
  }

  setRendition(kind, reason = "") {
    // The small badge beside the camera's state: "h264" plays the server's rendition, "full" none to be had.
    let el = this.el.querySelector(".rendition");
    if (!kind) { el?.remove(); delete this.el.dataset.rendition; return; }
    if (!el) {
      el = document.createElement("span");
      this.badge.after(el);
    }
    el.className = kind === "full" ? "rendition full" : "rendition";
    el.textContent = t(kind === "full" ? "renditionFull" : "rendition");
    el.title = kind === "full" ? reason : t("renditionTitle");
    this.el.dataset.rendition = kind;
  }

  startStream(msg) {
    // A new init means a new stream (first connect or the camera reconnected): start a fresh MediaSource.
    this.queue = [];
    this.sourceBuffer = null;
    this.atLive = false;
    const playable = msg.mime && window.MediaSource && MediaSource.isTypeSupported(msg.mime);
    if (!playable && window.MediaSource && !msg.rendition && /^(hvc1|hev1)\./.test(msg.codec || "")) {
      // This browser has no HEVC decoder: the server makes H.264 of this camera (shared with other such tiles).
      needsRendition.add(this.camera.id);
      this.rendition = true;
      const old = this.ws;
      this.connect();
      old.close();
      return;
    }
    this.setRendition(msg.rendition ? "h264" : null);
    if (!playable) {
      this.startStills();
      return;
    }
    this.stopStills();
    const ms = new MediaSource();
    this.mediaSource = ms;
    this.video.src = URL.createObjectURL(ms);
    ms.addEventListener("sourceopen", () => {
      if (this.mediaSource !== ms) return;
      URL.revokeObjectURL(this.video.src);
      const sb = ms.addSourceBuffer(msg.mime);
      sb.mode = "segments";
      sb.addEventListener("updateend", () => { this.keepLive(); this.pump(); });
      this.sourceBuffer = sb;
      this.pump();
    }, { once: true });
  }

  pump() {
    const sb = this.sourceBuffer;
    if (!sb || sb.updating || this.queue.length === 0) return;
    try {
      sb.appendBuffer(this.queue.shift());
    } catch (err) {
      // QuotaExceeded or a decode error: drop the buffer and let the next init/keyframe recover.
      this.queue = [];
      try { sb.abort(); } catch (_) { /* already detached */ }
    }
  }

  keepLive() {
    const v = this.video;
    const b = v.buffered;
    if (b.length === 0) return;
    const end = b.end(b.length - 1);
    const start = b.start(b.length - 1);
    // The server sends the cached GOP at once so the tile has a picture at once; when that burst is in,
    // go to its newest frame (the GOP may be seconds long). Afterwards only a drift beyond MAX_LAG_S jumps.
    const caughtUp = this.atLive || (this.queue.length === 0 && end - v.currentTime > 0.3);
    if (v.currentTime < start || end - v.currentTime > MAX_LAG_S || (caughtUp && !this.atLive)) {
      v.currentTime = Math.max(start, end - 0.1);  // late joiner, gap after a skip, or drift: go live
    }
    if (this.queue.length === 0) this.atLive = true;
    if (v.paused) v.play().catch(() => {});
    const sb = this.sourceBuffer;
    if (sb && !sb.updating && v.currentTime - b.start(0) > KEEP_BEHIND_S * 2) {
      sb.remove(0, v.currentTime - KEEP_BEHIND_S);
    }
  }

  startStills() {
    this.still = true;
    this.el.classList.add("still");
    const refresh = () => {
      // background=1: the stills poll is the page's, not the user's use (it must not keep a session alive)
      this.img.src = `/api/cameras/${encodeURIComponent(this.camera.id)}/snapshot.jpg?background=1&ts=${Date.now()}`;
    };
    refresh();
    clearInterval(this.stillTimer);
    this.stillTimer = setInterval(refresh, STILL_PERIOD_MS);
  }

  stopStills() {
    this.still = false;
    this.el.classList.remove("still");
    clearInterval(this.stillTimer);
  }

  close() {
    this.closed = true;
    this.stopStills();
    if (this.ws) this.ws.close();
  }
}
