// Optional overlay on live tiles: the camera's analysis zones and its latest detection boxes, from
// /api/cameras/{id}/overlay (0–1 of the picture), drawn in an SVG laid exactly over the letterboxed video.
import { BACKGROUND } from "./nav.js";

const NS = "http://www.w3.org/2000/svg";
const FAMILY_COLOURS = { street_stall: "#f0883e", garbage: "#a371f7", road_occupation: "#58a6ff" };

function svgEl(name, attrs) {
  const el = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Where the picture sits inside its tile (object-fit: contain), in pixels of the tile. */
function pictureRect(tile, video) {
  const w = tile.clientWidth;
  const h = tile.clientHeight;
  const vw = video.videoWidth || 16;
  const vh = video.videoHeight || 9;
  const scale = Math.min(w / vw, h / vh);
  return { left: (w - vw * scale) / 2, top: (h - vh * scale) / 2, width: vw * scale, height: vh * scale };
}

export function drawOverlay(tile, data) {
  let svg = tile.querySelector("svg.overlay");
  if (!data) {
    if (svg) svg.remove();
    return;
  }
  if (!svg) {
    svg = svgEl("svg", { class: "overlay", viewBox: "0 0 1 1", preserveAspectRatio: "none" });
    svg.setAttribute("data-testid", "tile-overlay");
    tile.appendChild(svg);
  }
  const rect = pictureRect(tile, tile.querySelector("video"));
  Object.assign(svg.style, { left: `${rect.left}px`, top: `${rect.top}px`, width: `${rect.width}px`,
    height: `${rect.height}px` });
  const parts = [];
  for (const zone of data.zones) {
    const colour = FAMILY_COLOURS[zone.family] || "#e6edf3";
    const poly = svgEl("polygon", { points: zone.polygon.map(([x, y]) => `${x},${y}`).join(" "), fill: colour,
      "fill-opacity": 0.12, stroke: colour, "stroke-width": 0.004, class: "zone" });
    poly.dataset.zone = zone.id;
    parts.push(poly);
  }
  for (const box of data.boxes) {
    const [x1, y1, x2, y2] = box.box;
    const r = svgEl("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, fill: "none", stroke: "#2ea043",
      "stroke-width": 0.004, class: "box" });
    r.dataset.label = box.label;
    const title = svgEl("title", {});
    title.textContent = `${box.label} ${box.confidence ?? ""}`;
    r.appendChild(title);
    parts.push(r);
  }
  svg.replaceChildren(...parts);
}

/** Fetch and draw the overlay of every tile that shows a camera (or remove them all when `on` is false). */
export async function refreshOverlays(tiles, on) {
  await Promise.all(tiles.map(async (tile) => {
    const camera = tile.dataset.camera;
    if (!on || !camera) { drawOverlay(tile, null); return; }
    const res = await fetch(`/api/cameras/${encodeURIComponent(camera)}/overlay`, { headers: BACKGROUND });
    drawOverlay(tile, res.ok ? await res.json() : null);
  }));
}
