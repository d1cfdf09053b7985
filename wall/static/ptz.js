// PTZ (遥控) on the wall: a pad on a maximised tile of a camera the user may steer — pointer and keyboard
// continuous pan/tilt/zoom (stop on release), presets, home — and, on every tile of a PTZ camera, who controls
// it and whether its rules are paused. The server decides everything (rights, the one-operator lease, audit);
// this module sends commands and draws /api/ptz and the "ptz" pushes of /ws/wall (wall.js hands them over).
// A held move is renewed every RENEW_MS; the camera stops by itself a few seconds after the last renewal, so a
// page that dies mid-drag leaves no camera turning.
// A refused command says why in the page's language (by its status: who holds the camera, an admin's action, a
// camera that did not do it); the server's own words stay in the message's tooltip for whoever debugs it.
import { addWords, t } from "./i18n.js";
import { api } from "./nav.js";

addWords({
  "zh-CN": {
    ptzFree: "云台空闲", ptzMine: "由您控制云台", ptzHeldBy: "正在控制云台", ptzTake: "接管", ptzRelease: "释放控制",
    ptzHome: "回到初始位置", ptzGoto: "转到", ptzPresets: "预置位", ptzPresetName: "新预置位名称",
    ptzSetPreset: "存为预置位", ptzAway: "已离开分析预置位：规则暂停", ptzZoomIn: "放大", ptzZoomOut: "缩小",
    ptzKeys: "方向键转动，+/− 变倍，Home 回初始位置",
    ptzErrHeld: "{holder} 正在控制云台，请稍后再试", ptzErrCamera: "摄像机未执行该命令（无响应或拒绝）",
    ptzErrTakeOver: "只有管理员可以接管他人控制的云台", ptzErrPreset: "只有管理员可以保存预置位",
    ptzErrGone: "该摄像机没有云台，或您没有云台控制权限", ptzErrInput: "命令无效", ptzErrFailed: "云台命令失败",
  },
  en: {
    ptzFree: "PTZ free", ptzMine: "You control the PTZ", ptzHeldBy: "controls the PTZ", ptzTake: "Take over",
    ptzRelease: "Release", ptzHome: "Home position", ptzGoto: "Go", ptzPresets: "Presets",
    ptzPresetName: "New preset name", ptzSetPreset: "Save preset", ptzAway: "Off its analysis preset: rules paused",
    ptzZoomIn: "Zoom in", ptzZoomOut: "Zoom out", ptzKeys: "Arrow keys turn, +/− zoom, Home returns",
    ptzErrHeld: "{holder} controls the PTZ: try again later",
    ptzErrCamera: "The camera did not do it (no answer, or it refused)",
    ptzErrTakeOver: "Only an admin may take over a camera someone else controls",
    ptzErrPreset: "Only an admin may store presets", ptzErrGone: "No PTZ on this camera, or no PTZ right",
    ptzErrInput: "Invalid command", ptzErrFailed: "PTZ command failed",
  },
});

const SPEED = 0.5;
const RENEW_MS = 2000;
const POLL_MS = 5000;
const DIRECTIONS = [
  ["up-left", "↖", -1, 1], ["up", "▲", 0, 1], ["up-right", "↗", 1, 1],
  ["left", "◀", -1, 0], null, ["right", "▶", 1, 0],
  ["down-left", "↙", -1, -1], ["down", "▼", 0, -1], ["down-right", "↘", 1, -1],
];
const KEYS = { ArrowLeft: [-1, 0, 0], ArrowRight: [1, 0, 0], ArrowUp: [0, 1, 0], ArrowDown: [0, -1, 0],
  "+": [0, 0, 1], "=": [0, 0, 1], PageUp: [0, 0, 1], "-": [0, 0, -1], PageDown: [0, 0, -1] };

const states = new Map();  // camera id → PtzState from /api/ptz
const root = document.getElementById("wall");
let pad = null;            // { el, camera, tile }
let moving = null;         // { pan, tilt, zoom, timer } of the move held now
const heldKeys = new Set();

function path(camera, suffix = "") {
  return `/api/ptz/${encodeURIComponent(camera)}${suffix ? `/${suffix}` : ""}`;
}

async function refresh(camera = null) {
  const res = await api(camera ? path(camera) : "/api/ptz", { background: true });
  if (!res.ok) return;
  const body = await res.json();
  if (!camera) states.clear();
  for (const state of camera ? [body] : body) states.set(state.camera_id, state);
  draw();
}

/** A "ptz" push of /ws/wall: someone took or let go of a camera, or its rules paused or resumed. */
export function ptzNotice(message) {
  if (message.type !== "ptz") return;
  const known = states.get(message.camera_id);
  if (known) Object.assign(known, { holder: message.holder, away: message.away, mine: false });
  draw();
  refresh(message.camera_id);  // this user's own view of it (mine, may take over, when it returns)
}

/** Text set only when it changes: draw() runs on every mutation of the wall, its own included. */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function holderText(state) {
  if (!state.holder) return t("ptzFree");
  return state.mine ? t("ptzMine") : `${state.holder} ${t("ptzHeldBy")}`;
}

/** Every tile of a PTZ camera says who controls it; a maximised tile of a steerable one gets the pad. */
function draw() {
  if (!root) return;
  for (const tile of root.querySelectorAll('[data-testid="tile"]')) {
    const state = states.get(tile.dataset.camera);
    let badge = tile.querySelector(".ptz-badge");
    if (!state || (!state.holder && !state.away)) {
      if (badge) badge.remove();
      continue;
    }
    if (!badge) {
      badge = document.createElement("div");
      badge.className = "ptz-badge";
      badge.setAttribute("data-testid", "ptz-badge");
      tile.appendChild(badge);
    }
    setText(badge, [state.holder ? holderText(state) : "", state.away ? t("ptzAway") : ""]
      .filter(Boolean).join(" · "));
    badge.classList.toggle("mine", Boolean(state.mine));
  }
  const tile = root.querySelector(".tile.maximised");
  const state = tile && states.get(tile.dataset.camera);
  const wanted = state && state.may_control && !document.body.classList.contains("kiosk") ? tile : null;
  if (pad && (pad.tile !== wanted || pad.camera !== (wanted && wanted.dataset.camera) || !pad.tile.isConnected)) {
    closePad();
  }
  if (wanted && !pad) openPad(wanted, state);
  if (pad) drawPad(states.get(pad.camera));
}

function button(cls, text, testid, title = "") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = text;
  if (testid) b.setAttribute("data-testid", testid);
  if (title) b.title = title;
  return b;
}

function openPad(tile, state) {
  const el = document.createElement("div");
  el.className = "ptz-pad";
  el.setAttribute("data-testid", "ptz-pad");
  el.title = t("ptzKeys");
  const dirs = document.createElement("div");
  dirs.className = "ptz-dirs";
  for (const dir of DIRECTIONS) {
    if (!dir) {
      const home = button("ptz-home", "⌂", "ptz-home", t("ptzHome"));
      home.addEventListener("click", () => command("home"));
      dirs.appendChild(home);
      continue;
    }
    const [name, arrow, pan, tilt] = dir;
    const b = button("ptz-dir", arrow, `ptz-${name}`);
    holdToMove(b, { pan: pan * SPEED, tilt: tilt * SPEED, zoom: 0 });
    dirs.appendChild(b);
  }
  const zoom = document.createElement("div");
  zoom.className = "ptz-zoom";
  const zoomIn = button("ptz-dir", "＋", "ptz-zoom-in", t("ptzZoomIn"));
  const zoomOut = button("ptz-dir", "－", "ptz-zoom-out", t("ptzZoomOut"));
  holdToMove(zoomIn, { pan: 0, tilt: 0, zoom: SPEED });
  holdToMove(zoomOut, { pan: 0, tilt: 0, zoom: -SPEED });
  zoom.append(zoomIn, zoomOut);
  const presets = document.createElement("div");
  presets.className = "ptz-presets";
  const select = document.createElement("select");
  select.setAttribute("data-testid", "ptz-preset-select");
  select.title = t("ptzPresets");
  const go = button("", t("ptzGoto"), "ptz-preset-go");
  go.addEventListener("click", () => { if (select.value) command(`presets/${encodeURIComponent(select.value)}/goto`); });
  const name = document.createElement("input");
  name.placeholder = t("ptzPresetName");
  name.maxLength = 64;
  name.setAttribute("data-testid", "ptz-preset-name");
  const save = button("ptz-admin", t("ptzSetPreset"), "ptz-preset-save");
  save.addEventListener("click", async () => {
    if (!name.value.trim()) { name.focus(); return; }
    if (await command("presets", { name: name.value.trim() })) { name.value = ""; loadPresets(); }
  });
  name.classList.add("ptz-admin");
  presets.append(select, go, name, save);
  const lease = document.createElement("div");
  lease.className = "ptz-lease";
  const holder = document.createElement("span");
  holder.setAttribute("data-testid", "ptz-holder");
  const take = button("", t("ptzTake"), "ptz-take");
  take.addEventListener("click", () => command("lease", { take_over: true }));
  const release = button("", t("ptzRelease"), "ptz-release");
  release.addEventListener("click", () => command("lease", undefined, "DELETE"));
  const message = document.createElement("div");
  message.className = "ptz-message";
  message.setAttribute("data-testid", "ptz-message");
  lease.append(holder, take, release);
  el.append(dirs, zoom, presets, lease, message);
  // the tile's own click (select) and double click (leave the enlargement) are not the pad's
  for (const type of ["click", "dblclick", "pointerdown"]) el.addEventListener(type, (e) => e.stopPropagation());
  tile.appendChild(el);
  pad = { el, tile, camera: tile.dataset.camera, select };
  drawPad(state);
  loadPresets();
}

function drawPad(state) {
  if (!pad || !state) return;
  const el = pad.el;
  setText(el.querySelector('[data-testid="ptz-holder"]'), holderText(state));
  el.querySelector('[data-testid="ptz-take"]').hidden = !(state.holder && !state.mine && state.may_take_over);
  el.querySelector('[data-testid="ptz-release"]').hidden = !state.mine;
  el.querySelectorAll(".ptz-admin").forEach((x) => { x.hidden = !state.may_set_presets; });
  el.classList.toggle("away", state.away);
}

function closePad() {
  if (!pad) return;
  if (moving) stopMove();
  heldKeys.clear();
  pad.el.remove();
  pad = null;
}

async function loadPresets() {
  if (!pad) return;
  const camera = pad.camera;
  const res = await api(path(camera, "presets"), { background: true });
  if (!res.ok || !pad || pad.camera !== camera) return;
  const list = await res.json();
  pad.select.replaceChildren(...list.map((p) => new Option(p.name, p.token)));
}

/** A command to the camera of the pad; shows a refusal (who controls it, a camera that did not answer). */
async function command(suffix, json, method = "POST") {
  if (!pad) return null;
  const camera = pad.camera;
  const res = await api(path(camera, suffix), { method, json: json === undefined && method === "POST" ? {} : json });
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (res.ok && body && body.camera_id) {
    states.set(body.camera_id, body);
    draw();
  } else if (!res.ok) {
    await refresh(camera);  // who holds it now: the refusal names them
  }
  const message = pad && pad.camera === camera && pad.el.querySelector('[data-testid="ptz-message"]');
  if (message) {
    setText(message, res.ok ? "" : refusal(res.status, suffix, states.get(camera)));
    message.title = !res.ok && body && typeof body.detail === "string" ? body.detail : "";
  }
  return res.ok ? body : null;
}

/** A refused command's words, by its status (the API's: 409 held or not done, 403 admins only, 404 no right). */
function refusal(status, suffix, state) {
  if (status === 409 && state && state.holder && !state.mine) return t("ptzErrHeld").replace("{holder}", state.holder);
  if (status === 409) return t("ptzErrCamera");
  if (status === 403) return t(suffix === "presets" ? "ptzErrPreset" : "ptzErrTakeOver");
  if (status === 404) return t("ptzErrGone");
  if (status === 422) return t("ptzErrInput");
  return `${t("ptzErrFailed")} (${status})`;
}

function startMove(velocity) {
  if (moving && moving.pan === velocity.pan && moving.tilt === velocity.tilt && moving.zoom === velocity.zoom) return;
  if (moving) clearInterval(moving.timer);
  const send = () => command("move", { pan: velocity.pan, tilt: velocity.tilt, zoom: velocity.zoom });
  moving = { ...velocity, timer: setInterval(send, RENEW_MS) };
  send();
}

function stopMove() {
  if (!moving) return;
  clearInterval(moving.timer);
  moving = null;
  command("stop");
}

function holdToMove(el, velocity) {
  el.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    el.setPointerCapture(event.pointerId);
    startMove(velocity);
  });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) el.addEventListener(type, () => stopMove());
}

function keyVelocity() {
  let [pan, tilt, zoom] = [0, 0, 0];
  for (const key of heldKeys) {
    const [p, ti, z] = KEYS[key];
    pan += p; tilt += ti; zoom += z;
  }
  const clamp = (v) => Math.max(-1, Math.min(1, v)) * SPEED;
  return { pan: clamp(pan), tilt: clamp(tilt), zoom: clamp(zoom) };
}

function typing(event) {
  return event.target.closest && event.target.closest("input, select, textarea, dialog");
}

document.addEventListener("keydown", (event) => {
  if (!pad || typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "Home") {
    event.preventDefault();
    if (!event.repeat) command("home");
    return;
  }
  if (!(event.key in KEYS)) return;
  event.preventDefault();
  if (heldKeys.has(event.key)) return;  // the key's auto-repeat: the move is on already
  heldKeys.add(event.key);
  const velocity = keyVelocity();
  if (velocity.pan || velocity.tilt || velocity.zoom) startMove(velocity);
  else stopMove();
});
document.addEventListener("keyup", (event) => {
  if (!heldKeys.delete(event.key)) return;
  const velocity = keyVelocity();
  if (velocity.pan || velocity.tilt || velocity.zoom) startMove(velocity);
  else stopMove();
});
window.addEventListener("blur", () => { heldKeys.clear(); stopMove(); });  // a key released elsewhere stops too

if (root) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/ptz.css";
  document.head.appendChild(link);
  new MutationObserver(() => draw()).observe(root, { subtree: true, childList: true, attributes: true,
    attributeFilter: ["class", "data-camera"] });
  refresh();
  setInterval(() => refresh(), POLL_MS);  // leases lapse without a push
}
