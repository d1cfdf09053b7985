// The wall page: lays out tiles and keeps camera states fresh. Layouts, tours and alarms come later.
// Without a session (none yet, logged out, timed out) every API answers 401 and the page goes to /login.
import { LiveTile } from "./tile.js";
import { t, toggleLang } from "./i18n.js";

const TILE_COUNT = 4;  // 2×2
const wall = document.getElementById("wall");
const tiles = [];

function tileElement(camera) {
  const el = document.createElement("section");
  el.className = "tile";
  el.dataset.testid = "tile";
  el.setAttribute("data-testid", "tile");
  el.dataset.camera = camera ? camera.id : "";
  el.innerHTML = `<video muted playsinline autoplay></video><img alt="">
    <div class="caption"><span class="name"></span><span class="state"></span></div>`;
  el.querySelector(".name").textContent = camera ? camera.name : t("empty");
  return el;
}

function applyWords() {
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.getElementById("lang").textContent = t("switchLang");
  tiles.forEach((tile) => tile.setState(tile.el.dataset.state));
}

function toLogin() {
  location.replace("/login");
}

async function refreshStates() {
  const res = await fetch("/api/cameras");
  if (res.status === 401) { toLogin(); return; }
  if (!res.ok) return;
  const cameras = await res.json();
  const byId = new Map(cameras.map((c) => [c.id, c]));
  for (const tile of tiles) {
    const cam = byId.get(tile.camera.id);
    if (cam && tile.el.dataset.state !== cam.state) tile.setState(cam.state);
  }
  document.getElementById("status").textContent = `${cameras.length} ${t("cameras")}`;
}

async function logout() {
  try {
    await fetch("/api/session", { method: "DELETE" });
  } finally {
    tiles.forEach((tile) => tile.close());
    toLogin();
  }
}

async function start() {
  const me = await fetch("/api/me");
  if (me.status === 401) { toLogin(); return; }
  if (me.ok) document.getElementById("user").textContent = (await me.json()).name;
  document.getElementById("logout").addEventListener("click", logout);
  const res = await fetch("/api/cameras");
  if (res.status === 401) { toLogin(); return; }
  const cameras = res.ok ? await res.json() : [];
  if (cameras.length === 0) {
    wall.textContent = t("noCameras");
  }
  for (let i = 0; i < TILE_COUNT; i += 1) {
    const camera = cameras[i];
    const el = tileElement(camera);
    wall.appendChild(el);
    if (camera) tiles.push(new LiveTile(el, camera));
    else el.dataset.state = "empty";
  }
  document.getElementById("lang").addEventListener("click", () => { toggleLang(); applyWords(); });
  applyWords();
  setInterval(refreshStates, 2000);
  refreshStates();
}

start();
