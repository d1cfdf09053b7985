// The tiles of a wall: lays them out from the layout's cells, keeps one LiveTile per tile, and swaps cameras
// without tearing down what did not change. Tour steps take tiles from a pool of cameras connected a few
// seconds earlier (pre-connect), so a step shows video at once from the server's GOP cache.
import { LiveTile } from "./tile.js";
import { t } from "./i18n.js";
import { attachPlayback } from "./wall-playback.js";  // 录像回放: the tile's playback button and panel

const POOL_TTL_MS = 20000;  // a pre-connected camera not used by then is closed

function tileShell() {
  const el = document.createElement("section");
  el.className = "tile";
  el.innerHTML = `<video muted playsinline autoplay></video><img alt="">
    <div class="caption"><span class="name"></span><span class="state"></span></div>
    <div class="tile-tools">
      <button type="button" class="pin" data-testid="tile-pin"></button>
      <button type="button" class="clear" data-testid="tile-clear">×</button>
    </div>
    <button type="button" class="file-case" data-testid="tile-file"></button>`;
  return el;
}

export class WallGrid {
  constructor(root, { onDrop, onSelect, onPin, onClear, onFile }) {
    this.root = root;
    this.handlers = { onDrop, onSelect, onPin, onClear, onFile };
    this.slots = [];      // index → { el, live, camera }
    this.pool = new Map();  // camera id → { el, live, at }
    this.layoutName = null;
    this.selected = null;   // the tile a click on a camera goes to
    this.maximised = null;  // the tile enlarged by a double click
    this.pooler = document.getElementById("preconnect");
  }

  /** Lay out `wall` (the server's rendered state); `cameras` maps id → camera (name, state, …). */
  render(wall, cameras, readOnly) {
    const layout = wall.layout;
    if (this.layoutName !== layout.name) {
      this.root.style.gridTemplateColumns = `repeat(${layout.columns}, minmax(0, 1fr))`;
      this.root.style.gridTemplateRows = `repeat(${layout.rows}, minmax(0, 1fr))`;
      this.root.dataset.layout = layout.name;
      this.layoutName = layout.name;
      this.maximise(null);  // another layout: its tiles are other places
    }
    // Selection and enlargement belong to the tile's index, not its element: a new camera on the tile (a pick,
    // a tour step, an alarm) makes a new element, and a smaller layout drops the index altogether.
    if (this.selected !== null && this.selected >= wall.tiles.length) this.selected = null;
    this.root.classList.toggle("read-only", readOnly);
    wall.tiles.forEach((tile, i) => {
      const wanted = tile.camera;
      let slot = this.slots[i];
      const cell = layout.cells[i];
      if (!slot || slot.camera !== wanted || (slot.forbidden !== tile.forbidden)) {
        const fresh = this.makeSlot(wanted, tile.forbidden, cameras);
        if (slot) {
          this.retire(slot);
          slot.el.replaceWith(fresh.el);
        } else {
          this.root.appendChild(fresh.el);
        }
        slot = fresh;
        this.slots[i] = slot;
      }
      const el = slot.el;
      el.dataset.index = String(i);
      el.style.gridArea = `${cell.row + 1} / ${cell.col + 1} / span ${cell.height} / span ${cell.width}`;
      el.classList.toggle("pinned", tile.pinned);
      el.classList.toggle("alarm", tile.alarm);
      el.classList.toggle("selected", this.selected === i);
      el.classList.toggle("maximised", this.maximised === i);
      el.classList.toggle("big", cell.width * cell.height > 1);
      const pin = el.querySelector(".pin");
      pin.textContent = tile.pinned ? t("unpin") : t("pin");
      pin.title = pin.textContent;
      el.querySelector(".clear").title = t("clear");
      el.querySelector(".file-case").textContent = t("fileCase");
    });
    for (const slot of this.slots.splice(wall.tiles.length)) {
      this.retire(slot);
      slot.el.remove();
    }
    if (this.maximised !== null) this.toStream(this.slots[this.maximised], "main");  // a new camera on it too
  }

  /** Enlarge tile `index` over the wall, or none (null). */
  maximise(index) {
    this.maximised = index;
    this.slots.forEach((slot, i) => {
      const on = i === index;
      if (slot.el.classList.contains("maximised") !== on) this.toStream(slot, on ? "main" : "sub");
      slot.el.classList.toggle("maximised", on);
    });
    this.root.classList.toggle("has-max", index !== null);
  }

  makeSlot(cameraId, forbidden, cameras) {
    const pooled = cameraId ? this.pool.get(cameraId) : null;
    let el;
    let live = null;
    if (pooled) {
      this.pool.delete(cameraId);
      ({ el, live } = pooled);
    } else {
      el = tileShell();
    }
    el.setAttribute("data-testid", "tile");
    el.dataset.camera = cameraId || "";
    this.wire(el);
    const camera = cameraId ? cameras.get(cameraId) : null;
    el.querySelector(".name").textContent = camera ? camera.name : (forbidden ? t("forbidden") : t("empty"));
    if (cameraId && !live) live = new LiveTile(el, camera || { id: cameraId, state: "connecting" });
    if (!cameraId) {
      el.dataset.state = forbidden ? "forbidden" : "empty";
      const badge = el.querySelector(".state");
      badge.textContent = t(el.dataset.state);
      badge.className = `state ${el.dataset.state}`;
    }
    if (live) live.video.play().catch(() => {});
    return { el, live, camera: cameraId, forbidden };
  }

  wire(el) {
    if (el.dataset.wired) return;
    el.dataset.wired = "1";
    const index = () => Number(el.dataset.index);
    el.addEventListener("click", (event) => {
      if (event.target.closest(".tile-tools, .alarm-banner, .file-case")) return;
      this.select(this.selected === index() ? null : index());
    });
    el.addEventListener("dblclick", () => this.maximise(this.maximised === index() ? null : index()));
    el.addEventListener("dragover", (event) => { event.preventDefault(); el.classList.add("drop"); });
    el.addEventListener("dragleave", () => el.classList.remove("drop"));
    el.addEventListener("drop", (event) => {
      event.preventDefault();
      el.classList.remove("drop");
      const camera = event.dataTransfer.getData("text/x-camera");
      if (camera) this.handlers.onDrop(index(), camera);
    });
    el.querySelector(".pin").addEventListener("click", () => this.handlers.onPin(index(), !el.classList.contains("pinned")));
    el.querySelector(".clear").addEventListener("click", () => this.handlers.onClear(index()));
    // 视频立案 (shown by the wall's .may-file: users who may decide cases, also on a wall they may not change)
    el.querySelector(".file-case").addEventListener("click", () => this.handlers.onFile(index()));
    attachPlayback(el);
  }

  /** A maximised tile plays the camera's main stream when it has one; back on the grid, the sub stream. */
  toStream(slot, stream) {
    const camera = slot.live && slot.live.camera;
    if (!camera || !camera.has_main_stream || slot.live.stream === stream) return;
    slot.live.close();
    slot.live = new LiveTile(slot.el, camera, { stream });
    slot.el.dataset.stream = stream;
  }

  select(index) {
    this.selected = index;
    this.slots.forEach((slot, i) => slot.el.classList.toggle("selected", i === index));
    this.handlers.onSelect(index);
  }

  retire(slot) {
    if (slot.live) slot.live.close();
  }

  /** Connect the cameras the next tour step will show, off screen, so the step shows video at once. */
  preconnect(cameraIds, cameras) {
    const now = Date.now();
    const showing = new Set(this.slots.map((s) => s.camera));
    for (const id of cameraIds) {
      if (showing.has(id) || this.pool.has(id)) continue;
      const el = tileShell();
      el.dataset.camera = id;
      this.pooler.appendChild(el);
      const camera = cameras.get(id) || { id, state: "connecting" };
      el.querySelector(".name").textContent = camera.name || id;
      this.pool.set(id, { el, live: new LiveTile(el, camera), at: now });
    }
    for (const [id, entry] of this.pool) {
      if (now - entry.at > POOL_TTL_MS) {
        entry.live.close();
        entry.el.remove();
        this.pool.delete(id);
      }
    }
  }

  /** Close every pre-connected camera (the tour stopped). */
  dropPool() {
    this.pool.forEach((entry) => { entry.live.close(); entry.el.remove(); });
    this.pool.clear();
  }

  /** Camera states from /api/cameras, for tiles whose own socket has not said otherwise yet. */
  setStates(cameras) {
    for (const slot of this.slots) {
      const cam = slot.camera && cameras.get(slot.camera);
      if (!cam || !slot.live) continue;
      slot.el.querySelector(".name").textContent = cam.name;
      if (slot.el.dataset.state !== cam.state && slot.el.dataset.state !== "forbidden") slot.live.setState(cam.state);
    }
  }

  relabel() {
    for (const slot of this.slots) {
      const badge = slot.el.querySelector(".state");
      badge.textContent = t(slot.el.dataset.state);
      if (!slot.camera) slot.el.querySelector(".name").textContent = t(slot.forbidden ? "forbidden" : "empty");
    }
  }

  /** The camera on tile `index` (its id), or null. */
  cameraAt(index) {
    return this.slots[index] ? this.slots[index].camera : null;
  }

  tileElement(index) {
    return this.slots[index] ? this.slots[index].el : null;
  }

  close() {
    this.slots.forEach((slot) => this.retire(slot));
    this.pool.forEach((entry) => entry.live.close());
  }
}
