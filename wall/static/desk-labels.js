// Labels on the clean frame (issue 15 item 2): while a confirm form (or a rejection as "another class") is open,
// the snapshot gives way to the clean frame the detector saw, with the detector's box; the operator corrects it or
// draws the objects it missed, and gives each box a class. Boxes are kept in 0–1 of the frame, as the API takes
// them. Mouse: drag on the picture draws (the mode says whether the drag corrects the detector's box or adds
// one); click a box to select it. Keys on the picture (focus it with Tab): arrows move the selected box,
// Shift+arrows resize it, n adds a box in the middle, Space selects the next box, Delete removes it (the corrected
// box goes back to the detector's), 1…9 give it a class, e / a switch the mode. Enter and Esc act as anywhere.
import { t } from "./i18n.js";
import { className } from "./desk-words.js";

const SVG = "http://www.w3.org/2000/svg";
const MIN_BOX = 0.005;  // as the API: narrower is a click, not a box
const STEP = 0.01;

const clamp = (v) => Math.min(1, Math.max(0, v));
const round = (v) => Math.round(v * 10000) / 10000;
const ordered = ([ax, ay, bx, by]) => [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)];
const big = (b) => b && b[2] - b[0] >= MIN_BOX && b[3] - b[1] >= MIN_BOX;

/** The clean picture a case's labels are drawn on: the raising look's frame, a filed case's still. */
export function cleanFrame(record) {
  const kind = record.source === "patrol" ? "snapshot" : "frame";
  return (record.evidence || []).find((e) => e.kind === kind) || null;
}

export class LabelEditor {
  /**
   * @param {HTMLElement} root the detail section
   * @param {{ media: object, classes: object[], onSelect: (cls: string) => void }} options
   *        onSelect: the selected box's class changed (the form's class list follows)
   */
  constructor(root, { media, classes, onSelect }) {
    this.media = media;
    this.classes = classes;  // /api/label-options classes: {name, family, name_zh, name_en}
    this.onSelect = onSelect;
    this.svg = root.querySelector("#d-label");
    this.modeSelect = null;
    this.active = false;
    this.record = null;
    this.boxes = [];  // [{box: [x0,y0,x1,y1] | null (the detector's), cls: "" | name, origin}]
    this.selected = 0;
    this.wirePointer();
    this.svg.addEventListener("keydown", (event) => this.key(event));
    media.img.addEventListener("load", () => this.draw());
  }

  /** Editing starts on the case's clean frame; false when it has none (the class can still be given). */
  /** ``before``/``after``: the form's fields the picture sits between in the Tab order (the last label field,
   *  the submit button), so the keyboard reaches the picture from the form and back. */
  start(record, { mode = "correct", modeSelect = null, single = false, before = null, after = null } = {}) {
    const frame = cleanFrame(record);
    this.record = record;
    this.before = before;
    this.after = after;
    this.single = single;  // a rejection as another class: the one object, its box corrected at most
    this.boxes = [{ box: null, cls: "", origin: "detector" }];
    this.selected = 0;
    this.modeSelect = modeSelect;
    this.setMode(mode);
    this.active = Boolean(frame);
    this.svg.toggleAttribute("hidden", !this.active);  // an SVG element has no .hidden property
    this.media.showClean(frame ? frame.url : null);
    this.draw();
    return this.active;
  }

  stop() {
    if (!this.record) return;
    this.active = false;
    this.record = null;
    this.svg.setAttribute("hidden", "");
    this.svg.replaceChildren();
    this.media.showClean(null);
  }

  /** Tab from the form's last label field goes to the picture (it comes before the forms on the page). */
  tabInto(event) {
    if (event.key !== "Tab" || event.shiftKey || !this.active || event.target !== this.before) return;
    event.preventDefault();
    this.svg.focus();
  }

  setMode(mode) {
    this.mode = mode;
    if (this.modeSelect) this.modeSelect.value = mode;
  }

  /** The class of the selected box (from the form's list or a digit). */
  setClass(cls) {
    const item = this.boxes[this.selected];
    if (item) item.cls = cls;
    this.draw();
  }

  /** The label's fields of the request body. */
  body() {
    const [main, ...extra] = this.boxes;
    const body = {};
    if (main.cls) body.object_class = main.cls;
    if (main.box) body.box = main.box.map(round);
    const drawn = extra.filter((b) => big(b.box)).map((b) => ({
      box: b.box.map(round), ...(b.cls ? { object_class: b.cls } : {}) }));
    if (drawn.length) body.extra_boxes = drawn;
    return body;
  }

  size() {
    const img = this.media.img;
    return img.naturalWidth ? [img.naturalWidth, img.naturalHeight] : null;
  }

  /** The detector's place box in 0–1 of the clean frame (the frame is the picture the detector saw). */
  detectorBox() {
    const size = this.size();
    const p = this.record && this.record.place_box;
    if (!size || !p || p.length !== 4) return null;
    return [clamp(p[0] / size[0]), clamp(p[1] / size[1]), clamp(p[2] / size[0]), clamp(p[3] / size[1])];
  }

  boxOf(item) {
    return item.box || (item.origin === "detector" ? this.detectorBox() : null);
  }

  wirePointer() {
    let drag = null;  // {start, hit, drawing}
    const at = (event) => {
      const size = this.size();
      const m = this.svg.getScreenCTM();
      if (!size || !m) return null;
      const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(m.inverse());
      return [clamp(p.x / size[0]), clamp(p.y / size[1])];
    };
    this.svg.addEventListener("pointerdown", (event) => {
      const start = this.active && event.button === 0 ? at(event) : null;
      if (!start) return;
      event.preventDefault();
      this.svg.focus();
      this.svg.setPointerCapture(event.pointerId);
      const hit = event.target.closest && event.target.closest("[data-index]");
      drag = { start, hit: hit ? Number(hit.dataset.index) : null, drawing: false };
    });
    this.svg.addEventListener("pointermove", (event) => {
      const p = drag && at(event);
      if (!p) return;
      const box = ordered([...drag.start, ...p]);
      if (!drag.drawing) {
        if (!big(box)) return;
        drag.drawing = true;
        if (this.mode === "add") {
          this.boxes.push({ box, cls: this.boxes[0].cls, origin: "drawn" });
          this.selected = this.boxes.length - 1;
        } else {
          this.selected = 0;
        }
      }
      const item = this.boxes[this.selected];
      item.box = box;
      if (this.selected === 0) item.origin = "corrected";
      this.draw();
    });
    const end = (event) => {
      if (!drag) return;
      const { drawing, hit, start } = drag;
      drag = null;
      if (!drawing) {  // a click: select the box under it
        if (hit !== null) this.select(hit);
        return;
      }
      const p = at(event);
      const box = p && ordered([...start, ...p]);
      if (big(box)) this.boxes[this.selected].box = box;
      this.select(this.selected);
      if (this.selected === 0 && !this.single) this.setMode("add");  // corrected: the next drag adds one
    };
    this.svg.addEventListener("pointerup", end);
    this.svg.addEventListener("pointercancel", () => { drag = null; this.draw(); });
  }

  select(index) {
    this.selected = Math.max(0, Math.min(index, this.boxes.length - 1));
    this.onSelect(this.boxes[this.selected].cls);
    this.draw();
  }

  remove() {
    if (this.selected === 0) {
      this.boxes[0].box = null;
      this.boxes[0].origin = "detector";
    } else {
      this.boxes.splice(this.selected, 1);
      this.selected = Math.min(this.selected, this.boxes.length - 1);
    }
  }

  key(event) {
    if (!this.active || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Tab") {
      const to = event.shiftKey ? this.before : this.after;
      if (to) { event.preventDefault(); to.focus(); }
      return;
    }
    if (event.key === "Enter" || event.key === "Escape") return;  // the desk's own keys
    event.stopPropagation();
    const item = this.boxes[this.selected];
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (arrows[event.key]) {
      const box = this.boxOf(item);
      if (!box) return;
      const [dx, dy] = arrows[event.key].map((v) => v * STEP);
      const next = event.shiftKey ? [box[0], box[1], box[2] + dx, box[3] + dy]
        : [box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy];
      if (next.every((v) => v >= 0 && v <= 1) && big(next)) {
        item.box = next;
        if (this.selected === 0) item.origin = "corrected";
      }
    } else if (event.key === "n" && !this.single) {
      this.boxes.push({ box: [0.4, 0.4, 0.6, 0.6], cls: this.boxes[0].cls, origin: "drawn" });
      this.selected = this.boxes.length - 1;
      this.onSelect(this.boxes[this.selected].cls);
    } else if (event.key === " ") {
      this.select((this.selected + 1) % this.boxes.length);
    } else if (event.key === "Delete" || event.key === "Backspace") {
      this.remove();
      this.select(this.selected);
    } else if (/^[1-9]$/.test(event.key) && this.classes[Number(event.key) - 1]) {
      item.cls = this.classes[Number(event.key) - 1].name;
      this.onSelect(item.cls);
    } else if ((event.key === "e" || event.key === "a") && !this.single) {
      this.setMode(event.key === "e" ? "correct" : "add");
    } else {
      return;  // any other key: swallowed (no queue move while labelling), nothing to do
    }
    event.preventDefault();
    this.draw();
  }

  draw() {
    this.svg.replaceChildren();
    const size = this.size();
    if (!this.active || !size) return;
    this.svg.setAttribute("viewBox", `0 0 ${size[0]} ${size[1]}`);
    const stroke = Math.max(2, Math.round(size[0] / 320));
    this.boxes.forEach((item, index) => {
      const box = this.boxOf(item);
      if (!box) return;
      const [x0, y0, x1, y1] = [box[0] * size[0], box[1] * size[1], box[2] * size[0], box[3] * size[1]];
      const r = document.createElementNS(SVG, "rect");
      for (const [k, v] of Object.entries({ x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0),
        "stroke-width": stroke })) r.setAttribute(k, String(v));
      r.setAttribute("class", `label-box ${item.origin}${index === this.selected ? " selected" : ""}`);
      r.dataset.index = String(index);
      r.dataset.origin = item.origin;
      r.dataset.testid = "label-box";
      r.setAttribute("data-testid", "label-box");
      const text = document.createElementNS(SVG, "text");
      text.setAttribute("x", String(x0));
      text.setAttribute("y", String(Math.max(stroke * 6, y0 - stroke)));
      text.setAttribute("font-size", String(stroke * 6));
      text.setAttribute("class", "box-label");
      const cls = this.classes.find((c) => c.name === item.cls);
      text.textContent = `${index + 1} ${cls ? className(cls) : t("labelNoClass")}`;
      this.svg.append(r, text);
    });
  }
}
