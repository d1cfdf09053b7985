// The zone editor's picture: the zones as svg polygons over the camera's latest frame, drawing a new one point by
// point, and moving, adding and removing the points of the selected one. Points are fractions (0–1) of the
// picture, rounded to 1/10000; the svg's viewBox is the picture's pixels so the shapes line up at any size.
import { clone, editor, parts, redraw, zone } from "./admin-zones-state.js";

const SVG = "http://www.w3.org/2000/svg";
const HANDLE_PX = 7;
// A new zone starts from the defaults of vision/rules_config.py's ZoneConfig (the server fills in any left out).
const NEW_ZONE = {
  name: "", family: "street_stall", code: "0501", classes: null, dwell_seconds: 180, grace_seconds: 10,
  clear_after_seconds: 30, alarm_interval_seconds: 600, schedule: [], confirm: { hits: 3, looks: 5 },
  min_score: 0.3, trigger: "bottom_center", require_object: true,
};

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** The drawing surface, listening to the pointer (and to Enter / Escape while a zone is drawn). */
export function makeCanvas() {
  const svg = svgEl("svg", { "data-testid": "zone-svg", preserveAspectRatio: "none" });
  svg.addEventListener("pointerdown", onPointerDown);
  svg.addEventListener("pointermove", onPointerMove);
  svg.addEventListener("pointerup", onPointerUp);
  svg.addEventListener("pointercancel", onPointerUp);
  svg.addEventListener("dblclick", onDoubleClick);
  document.addEventListener("keydown", (event) => {
    if (editor.root.hidden || !editor.draft) return;
    if (event.key === "Enter") { event.preventDefault(); closeDraft(); }
    if (event.key === "Escape") { event.preventDefault(); cancelDraft(); }
  });
  return svg;
}

// -- geometry ----------------------------------------------------------------------------------------------------

function point(event) {
  const box = parts.svg.getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  const y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
  return [Math.round(x * 10000) / 10000, Math.round(y * 10000) / 10000];
}

function pxPerUnit() {
  const box = parts.svg.getBoundingClientRect();
  return box.width ? editor.size[0] / box.width : 1;
}

function nearFirst(p) {
  const { draft } = editor;
  if (!draft || draft.length < 3) return false;
  const [x, y] = draft[0];
  const box = parts.svg.getBoundingClientRect();
  return Math.hypot((p[0] - x) * box.width, (p[1] - y) * box.height) <= HANDLE_PX * 2;
}

// -- drawing -----------------------------------------------------------------------------------------------------

export function startDrawing() {
  if (!editor.rules) return;
  editor.draft = [];
  editor.selected = -1;
  redraw.all();
}

export function cancelDraft() {
  editor.draft = null;
  redraw.all();
}

function uniqueId() {
  const { zones } = editor.rules;
  const taken = new Set(zones.map((z) => z.id));
  let n = zones.length + 1;
  while (taken.has(`zone-${n}`)) n += 1;
  return `zone-${n}`;
}

export function closeDraft() {
  const { draft, rules } = editor;
  if (!draft || draft.length < 3) return;
  rules.zones.push({ ...clone(NEW_ZONE), id: uniqueId(), polygon: draft });
  editor.selected = rules.zones.length - 1;
  editor.draft = null;
  redraw.all();
}

function onPointerDown(event) {
  if (!editor.rules || event.button !== 0) return;
  const p = point(event);
  if (editor.draft) {
    event.preventDefault();
    if (nearFirst(p)) closeDraft();
    else { editor.draft.push(p); renderCanvas(); redraw.buttons(); }
    return;
  }
  const target = event.target;
  const z = zone();
  if (target.dataset.handle !== undefined && z) {
    editor.drag = { index: Number(target.dataset.handle), pointerId: event.pointerId, moved: false };
  } else if (target.dataset.mid !== undefined && z) {
    const index = Number(target.dataset.mid) + 1;
    z.polygon.splice(index, 0, p);
    editor.drag = { index, pointerId: event.pointerId, moved: true };
    redraw.all();
  } else if (target.dataset.zone !== undefined) {
    editor.selected = Number(target.dataset.zone);
    redraw.all();
    return;
  } else {
    return;
  }
  event.preventDefault();
  parts.svg.setPointerCapture(event.pointerId);
}

function onPointerMove(event) {
  const { drag } = editor;
  if (!drag || event.pointerId !== drag.pointerId || !zone()) return;
  zone().polygon[drag.index] = point(event);
  drag.moved = true;
  renderCanvas();
}

function onPointerUp(event) {
  const { drag } = editor;
  if (!drag || event.pointerId !== drag.pointerId) return;
  editor.drag = null;
  if (drag.moved) redraw.all(); // a click without a move leaves the handles in place (a double-click needs them)
}

function onDoubleClick(event) {
  // By position, not event.target: the pointer capture of a press makes the svg the target of clicks.
  const z = zone();
  if (!z || editor.draft || z.polygon.length <= 3) return;
  const box = parts.svg.getBoundingClientRect();
  const [x, y] = point(event);
  const index = z.polygon.findIndex(([px, py]) => Math.hypot((px - x) * box.width, (py - y) * box.height)
    <= HANDLE_PX * 1.5);
  if (index < 0) return;
  z.polygon.splice(index, 1);
  redraw.all();
}

// -- rendering ---------------------------------------------------------------------------------------------------

export function renderCanvas() {
  const { draft, rules, selected } = editor;
  const [w, h] = editor.size;
  parts.stage.style.aspectRatio = `${w} / ${h}`;
  parts.svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const unit = pxPerUnit();
  const r = HANDLE_PX * unit;
  const scaled = (pts) => pts.map(([x, y]) => `${x * w},${y * h}`).join(" ");
  const nodes = [];
  (rules ? rules.zones : []).forEach((z, i) => {
    const cls = `zone fam-${z.family}${i === selected ? " selected" : ""}`;
    nodes.push(svgEl("polygon", { points: scaled(z.polygon), class: cls, "data-zone": String(i),
      "data-testid": "zone-polygon", "data-id": z.id }));
    const [x, y] = z.polygon[0];
    const label = svgEl("text", { x: String(x * w + r), y: String(y * h - r), class: "zone-label",
      "font-size": String(14 * unit) });
    label.textContent = z.name ? `${z.id} · ${z.name}` : z.id;
    nodes.push(label);
  });
  const z = zone();
  if (z && !draft) {
    z.polygon.forEach((p, i) => {
      const q = z.polygon[(i + 1) % z.polygon.length];
      nodes.push(svgEl("circle", { cx: String(((p[0] + q[0]) / 2) * w), cy: String(((p[1] + q[1]) / 2) * h),
        r: String(r * 0.6), class: "mid", "data-mid": String(i), "data-testid": "zone-mid" }));
    });
    z.polygon.forEach(([x, y], i) => {
      nodes.push(svgEl("circle", { cx: String(x * w), cy: String(y * h), r: String(r), class: "handle",
        "data-handle": String(i), "data-testid": "zone-handle" }));
    });
  }
  if (draft) {
    if (draft.length) nodes.push(svgEl("polyline", { points: scaled(draft), class: "draft" }));
    draft.forEach(([x, y], i) => nodes.push(svgEl("circle", { cx: String(x * w), cy: String(y * h),
      r: String(i === 0 ? r * 1.4 : r), class: i === 0 ? "handle first" : "handle", "data-testid": "draft-point" })));
  }
  parts.svg.replaceChildren(...nodes);
  parts.svg.classList.toggle("drawing", Boolean(draft));
  parts.drawing.hidden = !draft;
}
