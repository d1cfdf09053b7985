// The wall page. `/` is the user's own seat (@me); `/wall/NAME` shows and controls a shared wall; with
// `?kiosk=1` it is a hall display: full screen, no controls, following every change pushed over /ws/wall.
// The server owns the wall's state: this page sends changes and draws what the server pushes back.
import { applyWords, t } from "./i18n.js";
import { api, may, startPage, toLogin } from "./nav.js";
import "./wall-words.js";
import { AlarmView } from "./wall-alarm.js";
import { CameraPanel } from "./wall-cameras.js";
import { WallGrid } from "./wall-grid.js";
import { FilingDialog, filedMessage } from "./wall-filing.js";
import { refreshOverlays } from "./wall-overlay.js";
import { OverdueView } from "./wall-overdue.js";
import { ptzNotice } from "./ptz.js";  // PTZ (遥控): the pad of a maximised tile, who controls each camera

const params = new URLSearchParams(location.search);
const kiosk = params.get("kiosk") === "1";
const match = location.pathname.match(/^\/wall\/([a-z0-9][a-z0-9_-]{0,31})$/);
const wallName = match ? match[1] : "@me";
const PRECONNECT_S = 4;     // connect the next tour step's cameras this long before it
const STATE_POLL_MS = 2000;

const $ = (id) => document.getElementById(id);
const cameras = new Map();  // id → camera from /api/cameras
let wall = null;            // the server's rendered state of this wall
let clockOffset = 0;        // server clock − this clock, seconds
let walls = [];
let notifyTimer = null;

const grid = new WallGrid($("wall"), {
  onDrop: (index, camera) => setTile(index, { camera }),
  onSelect: () => {},
  onPin: (index, pinned) => setTile(index, { camera: wall.tiles[index].camera, pinned }),
  onClear: (index) => setTile(index, { camera: null }),
  onFile: (index) => fileFrom(index),
});
const filing = new FilingDialog({ onFiled: (summary) => notify(filedMessage(summary)) });

/** 视频立案 from tile `index` (the button, or "f" on the selected tile). */
function fileFrom(index) {
  const id = index === null ? null : grid.cameraAt(index);
  if (!id || !document.getElementById("wall").classList.contains("may-file")) return;
  filing.open(cameras.get(id) || { id, name: id });
}
const panel = new CameraPanel({
  list: $("camera-list"), search: $("camera-search"), group: $("camera-group"),
  onPick: (camera) => {
    const index = grid.selected !== null ? grid.selected : firstEmptyTile();
    if (index !== null) setTile(index, { camera });
  },
});
const alarmView = new AlarmView({ onAck: () => change("POST", "alarm/ack") });
const overdue = new OverdueView({ header: $("header"), root: $("wall") });  // 超期: a count and tile badges

function wallPath(suffix = "") {
  return `/api/walls/${encodeURIComponent(wallName)}${suffix ? `/${suffix}` : ""}`;
}

function notify(message, bad = false) {
  const el = $("notice");
  el.textContent = message;
  el.classList.toggle("bad", bad);
  clearTimeout(notifyTimer);
  notifyTimer = setTimeout(() => { el.textContent = ""; }, 6000);
}

async function change(method, suffix, json) {
  const res = await api(wallPath(suffix), { method, json });
  if (res.ok) {
    const body = await res.json();
    if (body && body.tiles) apply(body);
    return body;
  }
  let detail = res.statusText;
  try { detail = (await res.json()).detail || detail; } catch (_) { /* not JSON */ }
  notify(`${t("failed")}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`, true);
  return null;
}

function setTile(index, body) {
  return change("PUT", `tiles/${index}`, body);
}

function firstEmptyTile() {
  if (!wall) return null;
  const empty = wall.tiles.find((tile) => !tile.camera && !tile.alarm);
  return empty ? empty.index : null;
}

/** Draw a state from the server (an answer to our change or a push). Answers and pushes may cross: an older
 * version is stale, unless it is also later in time (the wall was deleted and made anew: versions restart). */
function apply(state) {
  if (wall && state.version < wall.version && state.updated_at <= wall.updated_at) return;
  wall = state;
  clockOffset = state.now - Date.now() / 1000;
  grid.render(state, cameras, !state.may_control || kiosk);
  overdue.draw();
  const alarmTile = state.tiles.find((tile) => tile.alarm);
  alarmView.render(alarmTile ? grid.tileElement(alarmTile.index) : null, state.alarm, state.queued,
    state.may_control && !kiosk, clockOffset);
  document.body.dataset.version = String(state.version);
  drawControls();
}

function drawControls() {
  if (!wall) return;
  $("layout-select").value = wall.layout.name;
  const readOnly = !wall.may_control;
  document.body.classList.toggle("read-only", readOnly);
  if (readOnly) $("notice").textContent = t("readOnly");
  const tour = wall.tour;
  $("tour-pause").textContent = tour && tour.paused ? t("tourResume") : t("tourPause");
  $("tour-pause").disabled = !tour;
  $("tour-stop").disabled = !tour;
  $("tour-status").dataset.state = tour ? (tour.paused ? "paused" : "running") : "off";
  tickTour();
}

function tickTour() {
  const tour = wall && wall.tour;
  const status = $("tour-status");
  if (!tour) {
    status.textContent = "";
    grid.dropPool();  // no step will come: close what was connected for it
    return;
  }
  const now = Date.now() / 1000 + clockOffset;
  if (tour.paused) {
    status.textContent = t("tourPaused");
    grid.preconnect([], cameras);  // closes pre-connected cameras left unused too long
    return;
  }
  const left = Math.max(0, Math.round(tour.next_at - now));
  status.textContent = `${t("tourRunning")} · ${tour.interval}s · ${t("tourNext")} ${left}s`;
  if (tour.next_at - now <= PRECONNECT_S) grid.preconnect(tour.next_cameras, cameras);
}

async function loadWall() {
  const res = await api(wallPath());
  if (res.status === 404) {
    $("wall").textContent = t("noWalls");
    return;
  }
  if (res.ok) apply(await res.json());
}

async function refreshCameras(background = false) {
  const res = await api("/api/cameras", { background });
  if (!res.ok) return;
  const list = await res.json();
  cameras.clear();
  list.forEach((cam) => cameras.set(cam.id, cam));
  panel.setCameras(list);
  grid.setStates(cameras);
  $("status").textContent = `${list.length} ${t("cameras")}`;
}

async function loadMenus() {
  const [layouts, groups, wallList] = await Promise.all(
    ["/api/layouts", "/api/camera-groups", "/api/walls"].map(async (path) => {
      const res = await api(path);
      return res.ok ? res.json() : [];
    }),
  );
  $("layout-select").replaceChildren(...layouts.map((l) => new Option(l.title, l.name)));
  panel.setGroups(groups);
  $("tour-source").replaceChildren(new Option(t("tourSelected"), ""),
    ...groups.map((g) => new Option(`${t("tourGroup")}: ${g.name}`, g.name)));
  walls = wallList;
  $("wall-select").replaceChildren(...walls.map((w) => new Option(w.seat ? t("mySeat") : w.title || w.name, w.name)));
  $("wall-select").value = wallName;
  const targets = walls.filter((w) => !w.seat && w.may_control);
  $("push-target").replaceChildren(...targets.map((w) => new Option(w.title || w.name, w.name)));
  $("push-controls").hidden = wallName !== "@me" || targets.length === 0;
  if (wall) drawControls();
}

/** The wall's presets: its controllers' alone (the server refuses anyone else), so only they ask. */
async function loadPresets() {
  if (!wall || !wall.may_control) return;
  const res = await api(wallPath("presets"));
  if (!res.ok) return;
  const presets = await res.json();
  const select = $("preset-select");
  const names = presets.map((p) => p.name);
  if (names.join("\n") === [...select.options].map((o) => o.value).join("\n")) return;  // unchanged: keep the pick
  const current = select.value;
  select.replaceChildren(...names.map((name) => new Option(name, name)));
  if (names.includes(current)) select.value = current;
}

function wireControls() {
  $("wall-select").addEventListener("change", (event) => {
    const name = event.target.value;
    location.assign(name === "@me" ? "/" : `/wall/${encodeURIComponent(name)}`);
  });
  $("layout-select").addEventListener("change", (event) => change("PUT", "layout", { layout: event.target.value }));
  $("tour-start").addEventListener("click", () => {
    const group = $("tour-source").value;
    const body = { interval: Number($("tour-interval").value) || 30, order: $("tour-order").value };
    if (group) body.group = group;
    else body.cameras = panel.shown().map((cam) => cam.id);
    change("POST", "tour", body);
  });
  $("tour-pause").addEventListener("click", () => {
    if (wall && wall.tour) change("POST", wall.tour.paused ? "tour/resume" : "tour/pause");
  });
  $("tour-stop").addEventListener("click", () => change("DELETE", "tour"));
  $("preset-save").addEventListener("click", async () => {
    const name = $("preset-name").value.trim();
    if (!name) { $("preset-name").focus(); return; }
    const res = await api(wallPath("presets"), { method: "POST", json: { name } });
    if (res.ok) {
      notify(t("presetSaved"));
      $("preset-name").value = "";
      await loadPresets();
      $("preset-select").value = name;
    } else {
      notify(`${t("failed")}: ${res.status}`, true);
    }
  });
  $("preset-select").addEventListener("focus", loadPresets);  // presets other operators saved meanwhile
  $("preset-recall").addEventListener("click", () => {
    const name = $("preset-select").value;
    if (name) change("POST", `presets/${encodeURIComponent(name)}/recall`);
  });
  $("push-to-wall").addEventListener("click", async () => {
    const target = $("push-target").value;
    if (!target) return;
    const res = await api(`/api/walls/${encodeURIComponent(target)}/push`, { method: "POST", json: { source: "@me" } });
    notify(res.ok ? t("pushed") : `${t("failed")}: ${res.status}`, !res.ok);
  });
}

/** /ws/wall: every change of this wall, pushed by the server; reconnects by itself and reloads the state. */
function listen(retryMs = 500) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/wall`);
  ws.onopen = () => {
    retryMs = 500;
    loadWall();
  };
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "wall" && message.wall && message.wall.name === wallName) apply(message.wall);
    if (message.case) overdue.soon();  // a case moved on: it may have stopped (or started) being overdue
    ptzNotice(message);
  };
  ws.onclose = (event) => {
    if (event.code === 4401) { toLogin(); return; }
    setTimeout(() => listen(Math.min(retryMs * 2, 10000)), retryMs);
  };
}

async function start() {
  if (kiosk) document.body.classList.add("kiosk");
  const me = await startPage($("header"), {
    kiosk,
    onLanguage: () => { grid.relabel(); panel.draw(); loadMenus(); if (wall) apply(wall); },
  });
  if (!me) return;
  document.body.dataset.wall = wallName;
  $("wall").classList.toggle("may-file", may(me, "review_cases") && !kiosk);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "f" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, select, textarea, dialog")) return;
    fileFrom(grid.selected);
  });
  await refreshCameras();
  await Promise.all([loadMenus(), loadWall()]);
  await loadPresets();
  wireControls();
  applyWords();
  listen();
  overdue.start();
  setInterval(() => refreshCameras(true), STATE_POLL_MS);  // the page's own poll: not the user's use
  const overlayToggle = $("overlay-toggle");
  overlayToggle.checked = localStorage.getItem("citywall.overlay") === "1" || params.get("overlay") === "1";
  const overlays = () => refreshOverlays([...document.querySelectorAll('#wall [data-testid="tile"]')],
    overlayToggle.checked);
  overlayToggle.addEventListener("change", () => {
    localStorage.setItem("citywall.overlay", overlayToggle.checked ? "1" : "0");
    overlays();
  });
  setInterval(overlays, STATE_POLL_MS);
  setInterval(() => {
    tickTour();
    if (wall && wall.alarm) {
      const alarmTile = wall.tiles.find((tile) => tile.alarm);
      alarmView.render(alarmTile ? grid.tileElement(alarmTile.index) : null, wall.alarm, wall.queued,
        wall.may_control && !kiosk, clockOffset);
    }
  }, 500);
  if (kiosk && document.documentElement.requestFullscreen) {
    document.addEventListener("click", () => document.documentElement.requestFullscreen().catch(() => {}),
      { once: true });
  }
}

start();
