// 录像回放: a tile's playback mode. The tile's "回放" button opens a panel over the live picture (which keeps
// running underneath): a timeline of the last 10 min to 24 h with the recorded ranges and the camera's cases, a time
// field (HH:MM:SS[.mmm], Enter seeks), play/pause, 1/2/4/8×, a frame step either way while paused, in/out marks
// and export of that range as MP4.
// The server sends fragmented MP4 chunks (/api/playback/{camera}/video): X-Start is the wall time of a chunk's
// first frame and X-Mime its MediaSource type. One SourceBuffer holds every chunk on one timeline, placed by
// timestampOffset = X-Start − origin, so currentTime + origin is always the wall time on screen. The next chunk
// is fetched from the buffered end (align=after: from the keyframe where the last one stopped) while less than
// AHEAD_S is buffered ahead; at a gap the player jumps to the next recorded range.
// A seek asks for FIRST_CHUNK_S first (its picture is up at once) and aborts the chunk requests still coming for
// the old stretch, so that they give their transcode slots back to it.
// An H.265 recording that this browser cannot decode is asked for again with codec=h264 (re-encoded on the
// server while it plays; an export the same way, fetched since the server makes it whole first:
// wall-playback-export.js). The box
// re-encodes at most recording.max_transcodes at once: past it the server answers 503 with Retry-After, and the
// panel says so and asks again after that long (an export: the operator exports again).
// Playback is a right of its own: without it every request answers 404 and the panel says so.
// 视频立案 from playback: "立案" (or F, the live tile's key, on the playback last used) pauses the player and files
// a case from the frame on screen (wall-playback-filing.js); the new case shows on the timeline as a mark.
import { addWords, t } from "./i18n.js";
import { api } from "./nav.js";
import { filedMessage } from "./wall-filing.js";
import { exportRange } from "./wall-playback-export.js";
import { PlaybackFilingDialog, mayFile } from "./wall-playback-filing.js";
import { clock, parseTime, playable } from "./wall-playback-time.js";

addWords({
  "zh-CN": {
    playback: "回放", pbPlay: "播放", pbPause: "暂停", pbStepBack: "上一帧", pbStep: "下一帧", pbIn: "入点",
    pbOut: "出点", pbExport: "导出", pbClose: "返回实时", pbNone: "该时间没有录像", pbNoRight: "无回放权限或没有录像",
    pbCodec: "浏览器不能播放该录像的编码，可导出为 H.264", pbTime: "时间 HH:MM:SS", pbSpan: "范围",
    pbCase: "案件", pbGap: "录像中断，跳到下一段", pbFile: "立案", pbFileTitle: "暂停并从当前画面立案（F）",
    pbBusy: "服务器同时转码的录像已达上限（recording.max_transcodes），{n} 秒后重试",
    pbBusyExport: "服务器同时转码的录像已达上限（recording.max_transcodes），请 {n} 秒后再导出",
    pbExporting: "正在生成 H.264 导出文件…",
  },
  en: {
    playback: "Playback", pbPlay: "Play", pbPause: "Pause", pbStepBack: "Previous frame", pbStep: "Next frame",
    pbIn: "In", pbOut: "Out", pbExport: "Export", pbClose: "Back to live", pbNone: "Nothing recorded at that time",
    pbNoRight: "No playback right, or nothing recorded", pbCodec: "This browser cannot play the recording's codec: "
      + "export it as H.264", pbTime: "Time HH:MM:SS", pbSpan: "Span", pbCase: "Case",
    pbGap: "Recording gap: on to the next range", pbFile: "File a case",
    pbFileTitle: "Pause and file a case from this frame (F)",
    pbBusy: "The server re-encodes as many recordings as it may (recording.max_transcodes): trying again in {n} s",
    pbBusyExport: "The server re-encodes as many recordings as it may (recording.max_transcodes): export again "
      + "in {n} s", pbExporting: "Making the H.264 export…",
  },
});

const SPEEDS = [1, 2, 4, 8];
const SPANS_MIN = [10, 60, 360, 1440];  // what the timeline may show: 10 min, 1 h, 6 h, 24 h
const CHUNK_S = 30;
const FIRST_CHUNK_S = 4;  // a seek's first chunk: short, so its picture is up at once; tick() fetches the rest
const AHEAD_S = 12;
const KEEP_BEHIND_S = 60;

let active = null;  // the panel last opened or used: F files from it instead of the live tile
let filing = null;  // one dialog for every panel (one is open at a time), made on first use

const link = document.createElement("link");
link.rel = "stylesheet";
link.href = "/static/playback.css";
document.head.appendChild(link);

/** The tile's playback button (the one hook in wall-grid.js); the panel opens for the tile's camera. */
export function attachPlayback(tile) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "play-back";
  button.setAttribute("data-testid", "tile-playback");
  button.textContent = t("playback");
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    const camera = tile.dataset.camera;
    if (camera && !tile.querySelector(".playback")) new PlaybackPanel(tile, camera);
  });
  tile.appendChild(button);
}

class PlaybackPanel {
  constructor(tile, camera) {
    this.tile = tile;
    this.camera = camera;
    this.origin = null;  // wall time of currentTime 0
    this.fps = 25;
    this.mime = null;
    this.generation = 0;  // a seek starts a new one: answers for an older one are dropped
    this.spanMin = 60;  // minutes the timeline shows
    this.ranges = [];
    this.markIn = null;
    this.markOut = null;
    this.h264 = false;  // this browser cannot decode the recording: ask for H.264 (playback and export)
    this.busyUntil = 0;  // the server had no transcode for the next chunk: not before then
    this.requests = new AbortController();  // the chunk requests of the current seek; a new seek aborts them
    this.el = document.createElement("div");
    this.el.className = "playback";
    this.el.setAttribute("data-testid", "playback");
    this.el.innerHTML = `<video muted playsinline></video>
      <div class="pb-bar">
        <div class="pb-timeline" data-testid="pb-timeline"><div class="pb-head"></div></div>
        <div class="pb-controls">
          <button type="button" class="pb-play" data-testid="pb-play"></button>
          <button type="button" class="pb-back" data-testid="pb-step-back">◀|</button>
          <button type="button" class="pb-step" data-testid="pb-step">|▶</button>
          <select class="pb-speed" data-testid="pb-speed">${SPEEDS.map((s) => `<option value="${s}">${s}×</option>`)
            .join("")}</select>
          <input class="pb-time" data-testid="pb-time" size="12">
          <span class="pb-clock" data-testid="pb-clock"></span>
          <select class="pb-span" data-testid="pb-span">${SPANS_MIN.map((m) =>
            `<option value="${m}">${m < 60 ? `${m} min` : `${m / 60} h`}</option>`).join("")}</select>
          <button type="button" class="pb-in"></button><button type="button" class="pb-out"></button>
          <button type="button" class="pb-export" data-testid="pb-export"></button>
          <button type="button" class="pb-file" data-testid="pb-file"></button>
          <button type="button" class="pb-close" data-testid="pb-close"></button>
        </div>
        <div class="pb-note" data-testid="pb-note"></div>
      </div>`;
    for (const type of ["click", "dblclick"]) this.el.addEventListener(type, (event) => event.stopPropagation());
    this.el.addEventListener("pointerdown", () => { active = this; });
    active = this;
    tile.appendChild(this.el);
    this.video = this.el.querySelector("video");
    this.q = (name) => this.el.querySelector(name);
    this.words();
    this.q(".pb-span").value = String(this.spanMin);
    this.wire();
    this.timer = setInterval(() => this.tick(), 250);
    this.loadTimeline().then(() => {
      const last = this.ranges[this.ranges.length - 1];
      if (last) this.seek(Math.max(last.start, last.end - 60));  // the last minute recorded, paused
    });
  }

  words() {
    this.q(".pb-play").textContent = this.video.paused ? t("pbPlay") : t("pbPause");
    this.q(".pb-back").title = t("pbStepBack");
    this.q(".pb-step").title = t("pbStep");
    this.q(".pb-time").placeholder = t("pbTime");
    this.q(".pb-in").textContent = t("pbIn");
    this.q(".pb-out").textContent = t("pbOut");
    this.q(".pb-export").textContent = t("pbExport");
    this.q(".pb-close").textContent = t("pbClose");
    const file = this.q(".pb-file");
    file.textContent = t("pbFile");
    file.title = t("pbFileTitle");
    file.hidden = !mayFile();
  }

  wire() {
    this.q(".pb-play").addEventListener("click", () => {
      if (this.video.paused) this.video.play().catch(() => {}); else this.video.pause();
    });
    this.video.addEventListener("play", () => this.words());
    this.video.addEventListener("pause", () => this.words());
    this.q(".pb-back").addEventListener("click", () => this.step(-1));
    this.q(".pb-step").addEventListener("click", () => this.step(1));
    this.q(".pb-speed").addEventListener("change", (event) => { this.video.playbackRate = Number(event.target.value); });
    this.q(".pb-span").addEventListener("change", (event) => { this.spanMin = Number(event.target.value); this.loadTimeline(); });
    this.q(".pb-time").addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      const wall = parseTime(event.target.value);
      if (wall !== null) this.seek(wall);
    });
    this.q(".pb-timeline").addEventListener("click", (event) => {
      const box = event.currentTarget.getBoundingClientRect();
      this.seek(this.spanStart + ((event.clientX - box.left) / box.width) * (this.spanEnd - this.spanStart));
    });
    this.q(".pb-in").addEventListener("click", () => { this.markIn = this.now(); this.drawMarks(); });
    this.q(".pb-out").addEventListener("click", () => { this.markOut = this.now(); this.drawMarks(); });
    this.q(".pb-export").addEventListener("click", () => exportRange(this));
    this.q(".pb-close").addEventListener("click", () => this.close());
    this.q(".pb-file").addEventListener("click", () => this.fileCase());
  }

  /** The wall time on screen (null before the first chunk). */
  now() {
    return this.origin === null ? null : this.origin + this.video.currentTime;
  }

  note(text) { this.q(".pb-note").textContent = text || ""; }

  async loadTimeline() {
    this.spanEnd = Date.now() / 1000;
    this.spanStart = this.spanEnd - this.spanMin * 60;
    const params = new URLSearchParams({ start: String(this.spanStart), end: String(this.spanEnd + 60) });
    const res = await api(`/api/playback/${encodeURIComponent(this.camera)}/timeline?${params}`);
    if (!res.ok) { this.note(t("pbNoRight")); return; }
    const timeline = await res.json();
    this.ranges = timeline.ranges;
    const bar = this.q(".pb-timeline");
    bar.querySelectorAll(".pb-range, .pb-mark").forEach((el) => el.remove());
    const span = this.spanEnd - this.spanStart;
    const place = (el, start, end) => {
      el.style.left = `${Math.max(0, ((start - this.spanStart) / span) * 100)}%`;
      el.style.width = `${Math.max(0, ((Math.min(end, this.spanEnd) - Math.max(start, this.spanStart)) / span) * 100)}%`;
      bar.appendChild(el);
    };
    for (const range of timeline.ranges) {
      const el = document.createElement("div");
      el.className = "pb-range";
      el.title = `${clock(range.start)} – ${clock(range.end)}`;
      place(el, range.start, range.end);
    }
    for (const mark of timeline.marks) {
      const el = document.createElement("div");
      el.className = "pb-mark";
      el.title = `${t("pbCase")} ${mark.case_id} ${mark.code_name} ${clock(mark.start)}`;
      el.addEventListener("click", (event) => { event.stopPropagation(); this.seek(mark.start); });
      place(el, mark.start, mark.end);
    }
    if (!timeline.ranges.length) this.note(t("pbNone"));
  }

  /** Show the recording at wall time `wall`: a new MediaSource, the chunk from the keyframe before it. */
  async seek(wall) {
    const generation = ++this.generation;
    this.requests.abort();  // chunks still coming for the old stretch: their transcode slots go to this seek
    this.requests = new AbortController();
    this.buffer = null;  // and tick() asks for no more of it (the old buffer goes with its MediaSource)
    const wasPlaying = !this.video.paused;
    let res = await this.chunk(wall, "before", FIRST_CHUNK_S);
    if (res && !res.busy && !this.h264 && !playable(res.mime)) {  // H.265 here: the server re-encodes it
      this.h264 = true;
      res = await this.chunk(wall, "before", FIRST_CHUNK_S);
    }
    if (generation !== this.generation) return;
    if (!res) { this.note(t("pbNone")); return; }
    if (res.busy) {  // no transcode to be had now: ask again once the server says one may be
      this.note(t("pbBusy").replace("{n}", res.busy));
      setTimeout(() => { if (generation === this.generation) this.seek(wall); }, res.busy * 1000);
      return;
    }
    if (!playable(res.mime)) { this.mime = res.mime; this.note(t("pbCodec")); return; }
    this.note("");
    this.mime = res.mime;
    this.fps = res.fps;
    this.origin = res.start;
    this.exhausted = false;
    const source = new MediaSource();
    if (this.video.src) URL.revokeObjectURL(this.video.src);
    this.video.src = URL.createObjectURL(source);
    await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
    if (generation !== this.generation) return;
    this.buffer = source.addSourceBuffer(res.mime);
    await this.append(res.data, 0);
    this.video.playbackRate = Number(this.q(".pb-speed").value);
    this.video.currentTime = Math.max(0, wall - res.start);
    if (wasPlaying) this.video.play().catch(() => {});
  }

  async chunk(start, align, seconds = CHUNK_S) {
    const params = new URLSearchParams({ start: String(start), seconds: String(seconds), align });
    if (this.h264) params.set("codec", "h264");
    const res = await api(`/api/playback/${encodeURIComponent(this.camera)}/video?${params}`,
      { signal: this.requests.signal }).catch(() => null);  // aborted by a seek (or close): the caller drops it
    if (!res) return null;
    if (res.status === 503) return { busy: Number(res.headers.get("Retry-After")) || 5 };
    const data = res.ok ? await res.arrayBuffer().catch(() => null) : null;  // null too when aborted mid-body
    if (!data) return null;
    return { start: Number(res.headers.get("X-Start")), mime: res.headers.get("X-Mime"),
             fps: Number(res.headers.get("X-Fps")) || 25, data };
  }

  append(data, offset) {
    return new Promise((resolve) => {
      const buffer = this.buffer;
      buffer.addEventListener("updateend", resolve, { once: true });
      buffer.timestampOffset = offset;
      buffer.appendBuffer(data);
    });
  }

  bufferedEnd() {
    const ranges = this.buffer ? this.buffer.buffered : null;
    return ranges && ranges.length ? ranges.end(ranges.length - 1) : 0;
  }

  /** Keep AHEAD_S buffered ahead; at the end of a stretch, jump to the next recorded range. */
  async tick() {
    const wall = this.now();
    const shown = this.q(".pb-clock");
    shown.textContent = wall === null ? "" : clock(wall);
    shown.dataset.wall = wall === null ? "" : String(wall);
    this.q(".pb-head").style.left = wall === null ? "0" : `${((wall - this.spanStart) / (this.spanEnd - this.spanStart)) * 100}%`;
    if (!this.buffer || this.fetching || this.buffer.updating || Date.now() < this.busyUntil) return;
    const ahead = this.bufferedEnd() - this.video.currentTime;
    if (this.exhausted) {
      if (ahead < 0.2 && !this.video.paused && Date.now() - (this.lastNext || 0) > 2000) {
        this.lastNext = Date.now();  // at the newest recording: look again every 2 s, not every tick
        this.nextRange();
      }
      return;
    }
    if (ahead >= AHEAD_S) {
      if (this.video.currentTime > KEEP_BEHIND_S + 10) this.buffer.remove(0, this.video.currentTime - KEEP_BEHIND_S);
      return;
    }
    this.fetching = true;
    const [generation, buffer] = [this.generation, this.buffer];
    try {
      const res = await this.chunk(this.origin + this.bufferedEnd(), "after");
      // a seek begun meanwhile (or one under way when this began: same generation) replaced the buffer: drop it
      if (generation !== this.generation || buffer !== this.buffer) return;
      if (res && res.busy) {  // no transcode for it now: not before the server's Retry-After
        this.busyUntil = Date.now() + res.busy * 1000;
        return this.note(t("pbBusy").replace("{n}", res.busy));
      }
      if (!res || res.mime !== this.mime) { this.exhausted = true; return; }
      if (this.busyUntil) { this.busyUntil = 0; this.note(""); }
      await this.append(res.data, res.start - this.origin);
    } finally {
      this.fetching = false;
    }
  }

  nextRange() {
    const wall = this.now();
    const next = this.ranges.find((r) => r.start > wall + 0.5);
    this.exhausted = false;
    if (next) { this.note(t("pbGap")); this.seek(next.start); }
    else this.loadTimeline().then(() => { this.exhausted = true; });
  }

  step(frames) {
    if (this.origin === null) return;
    this.video.pause();
    this.video.currentTime = Math.max(0, this.video.currentTime + frames / this.fps);
  }

  drawMarks() {
    const bar = this.q(".pb-timeline");
    bar.querySelectorAll(".pb-cut").forEach((el) => el.remove());
    for (const at of [this.markIn, this.markOut]) {
      if (at === null) continue;
      const el = document.createElement("div");
      el.className = "pb-cut";
      el.style.left = `${((at - this.spanStart) / (this.spanEnd - this.spanStart)) * 100}%`;
      bar.appendChild(el);
    }
  }

  /** 视频立案 from the frame on screen: pause there and open the filing dialog at that moment. */
  fileCase() {
    if (!mayFile() || this.origin === null) return;
    this.video.pause();
    const at = Math.round(this.now() * 1000) / 1000;
    if (!filing) filing = new PlaybackFilingDialog({ onFiled: () => {} });
    filing.onFiled = (summary) => this.filed(summary);
    const name = this.tile.querySelector(".name");
    filing.open({ id: this.camera, name: (name && name.textContent) || this.camera }, at, clock(at));
  }

  filed(summary) {
    this.note(filedMessage(summary));
    this.loadTimeline();  // its mark on the timeline
  }

  close() {
    if (active === this) active = null;
    clearInterval(this.timer);
    this.requests.abort();
    if (this.exporting) this.exporting.abort();
    this.generation++;
    if (this.video.src) URL.revokeObjectURL(this.video.src);
    this.el.remove();
  }
}

// F on the playback last used files from its frame; the capture phase runs before the wall's own F (a live filing)
window.addEventListener("keydown", (event) => {
  if (event.key !== "f" || event.ctrlKey || event.metaKey || event.altKey || !active || !active.el.isConnected) return;
  if (event.target.closest && event.target.closest("input, select, textarea, dialog")) return;
  if (!mayFile()) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  active.fileCase();
}, true);
