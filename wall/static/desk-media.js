// What the operator judges a case by: the snapshot with the event's boxes drawn over it, the evidence clip, and
// the camera live now (is the stall still there?). The live view is the wall's own LiveTile, kept across cases
// of the same camera so j/k through one street's cases does not restart the stream.
import { LiveTile } from "./tile.js";
import { t } from "./i18n.js";

// A browser without an H.265 decoder asks for the H.264 copy of a clip (the server sends an H.264 clip as it is).
const HEVC = 'video/mp4; codecs="hvc1.1.6.L93.B0"';
const playsHevc = Boolean(window.MediaSource?.isTypeSupported(HEVC))
  || document.createElement("video").canPlayType(HEVC) === "probably";
function clipUrl(url) {
  if (playsHevc) return url;
  return url + (url.includes("?") ? "&" : "?") + "codec=h264";
}

const SVG = "http://www.w3.org/2000/svg";

/** The newest evidence of a kind (updates add newer snapshots; the boxes on the case are the newest ones). */
export function newest(record, kind) {
  const found = (record.evidence || []).filter((e) => e.kind === kind);
  return found.length ? found[found.length - 1] : null;
}

export class CaseMedia {
  constructor(root, cameras) {
    this.img = root.querySelector("#d-snapshot");
    this.svg = root.querySelector("#d-boxes");
    this.noSnapshot = root.querySelector("#d-no-snapshot");
    this.clip = root.querySelector("#d-clip");
    this.noClip = root.querySelector("#d-no-clip");
    this.liveEl = root.querySelector("#d-live");
    this.showBoxes = root.querySelector("#d-show-boxes");
    this.cameras = cameras;  // Map id → camera from /api/cameras (only those this user may see)
    this.tile = null;
    this.record = null;
    this.clean = null;  // the clean frame's URL while labels are drawn on it (desk-labels.js)
    this.img.addEventListener("load", () => this.drawBoxes());
    this.showBoxes.addEventListener("change", () => this.drawBoxes());
  }

  show(record) {
    const sameCase = this.record && this.record.id === record.id;
    this.record = record;
    const shot = this.clean ? { url: this.clean } : newest(record, "snapshot") || newest(record, "after_snapshot");
    this.noSnapshot.hidden = Boolean(shot);
    this.img.hidden = !shot;
    if (!shot) {
      this.img.removeAttribute("src");
      this.svg.replaceChildren();
    } else if (this.img.getAttribute("src") !== shot.url) {
      this.svg.replaceChildren();  // drawn again once the new picture has its size
      this.img.src = shot.url;
    } else {
      this.drawBoxes();
    }
    const clip = newest(record, "clip");
    this.noClip.hidden = Boolean(clip);
    this.clip.hidden = !clip;
    if (!clip) {
      this.clip.removeAttribute("src");
      this.clip.load();
    } else if (this.clip.getAttribute("src") !== clipUrl(clip.url)) {
      this.clip.src = clipUrl(clip.url);  // a new clip (or case): the old one stops
    }
    if (!sameCase || !this.tile) this.showLive(record.camera, record.camera_name);
  }

  showLive(cameraId, name) {
    if (this.tile && this.tile.camera.id === cameraId && !this.tile.closed) return;
    if (this.tile) this.tile.close();
    const video = this.liveEl.querySelector("video");
    video.removeAttribute("src");
    video.load();
    const camera = this.cameras.get(cameraId) || { id: cameraId, name, state: "connecting" };
    this.liveEl.dataset.camera = cameraId;
    this.liveEl.querySelector(".name").textContent = camera.name || name || cameraId;
    this.tile = new LiveTile(this.liveEl, camera);
  }

  /** Boxes in the snapshot's own pixels: the SVG's viewBox is the picture's size and both are laid out the same
   *  way (object-fit: contain / xMidYMid meet), so a box lands where the analyzer saw it at any panel size. */
  drawBoxes() {
    const record = this.record;
    this.svg.replaceChildren();
    if (!record || !this.img.naturalWidth || !this.showBoxes.checked || this.clean) return;
    this.svg.setAttribute("viewBox", `0 0 ${this.img.naturalWidth} ${this.img.naturalHeight}`);
    const stroke = Math.max(2, Math.round(this.img.naturalWidth / 320));
    for (const box of record.boxes || []) {
      this.svg.append(rect(box.xyxy, "object", stroke));
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", String(box.xyxy[0]));
      label.setAttribute("y", String(Math.max(stroke * 6, box.xyxy[1] - stroke)));
      label.setAttribute("font-size", String(stroke * 6));
      label.setAttribute("class", "box-label");
      label.textContent = `${box.label} ${Math.round(box.score * 100)}%`;
      this.svg.append(label);
    }
    if (record.place_box && record.place_box.length === 4) {
      const place = rect(record.place_box, "place", stroke * 1.5);
      place.dataset.testid = "event-box";
      place.setAttribute("data-testid", "event-box");
      this.svg.append(place);
    }
  }

  /** Labelling: the clean frame instead of the annotated snapshot (its boxes are the editor's); null: back. */
  showClean(url) {
    if (this.clean === url) return;
    this.clean = url;
    if (this.record) this.show(this.record);
  }

  toggleBoxes() {
    this.showBoxes.checked = !this.showBoxes.checked;
    this.drawBoxes();
  }

  /** p: play or pause the evidence clip; false when there is none yet. */
  playPause() {
    if (this.clip.hidden || !this.clip.getAttribute("src")) return false;
    if (this.clip.paused || this.clip.ended) this.clip.play().catch(() => {});
    else this.clip.pause();
    return true;
  }

  clear() {
    this.record = null;
    this.clean = null;
    if (this.tile) { this.tile.close(); this.tile = null; }
    this.clip.removeAttribute("src");
    this.clip.load();
  }

  relabel() {
    if (this.tile) this.tile.setState(this.liveEl.dataset.state || "connecting");
    this.noClip.textContent = t("deskNoClip");
  }
}

function rect([x1, y1, x2, y2], cls, stroke) {
  const r = document.createElementNS(SVG, "rect");
  r.setAttribute("x", String(x1));
  r.setAttribute("y", String(y1));
  r.setAttribute("width", String(Math.max(1, x2 - x1)));
  r.setAttribute("height", String(Math.max(1, y2 - y1)));
  r.setAttribute("stroke-width", String(stroke));
  r.setAttribute("class", cls);
  return r;
}
