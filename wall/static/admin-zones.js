// Zones and rules (区域规则): draw a camera's zones as polygons on its latest frame, set each zone's rule family,
// event code, dwell, schedule and alarm interval, TRY the rules on what the camera saw in the last minutes, and
// save them. The server owns everything: it reads the rules from analytics.yaml, checks a proposal with the same
// models as `citywall serve` (each problem as key.path: reason), writes the file with its comments and runs the
// new rules at once. This page only edits a copy of the camera's rules — fields it shows no control for
// (class_map, detector_gate, min_box…) travel along untouched.
//
// Drawing: "New zone", then click the picture to add points; click the first point (or "Close polygon", or
// Enter) to close it, Escape to give up. A selected zone shows its points: drag one to move it, drag a small
// mid-edge dot to add one, double-click a point to remove it. Coordinates are fractions (0–1) of the picture.
//
// The parts: admin-zones-canvas.js (the picture and drawing), admin-zones-form.js (the zone list and rule form),
// admin-zones-try.js (the try panel), admin-zones-state.js (what they share), admin-zones-words.js (the words).
// This module lays the tab out, loads and saves a camera's rules, and redraws.
import "./admin-zones-words.js";
import { applyWords, t } from "./i18n.js";
import { ask, call, describe, el, showMessage } from "./admin-common.js";
import { field, send, showProblems } from "./admin-editor.js";
import { cancelDraft, closeDraft, makeCanvas, renderCanvas, startDrawing } from "./admin-zones-canvas.js";
import { renderForm, renderList } from "./admin-zones-form.js";
import { FALLBACK_SIZE, dirty, editor, parts, redraw, zone } from "./admin-zones-state.js";
import { clearTry, renderTry, tryRules } from "./admin-zones-try.js";

const STORE = "citywall.zones.camera";

// -- layout ------------------------------------------------------------------------------------------------------

function build(section) {
  parts.camera = el("select", { testid: "zone-camera", on: { change: () => choose(parts.camera.value) } });
  parts.minutes = el("input", { testid: "zone-try-minutes", attrs: { type: "number", min: "0.5", max: "10",
    step: "0.5", value: "2" } });
  parts.tryButton = el("button", { testid: "zone-try", className: "primary", i18n: "zonTry",
    attrs: { type: "button" }, on: { click: tryRules } });
  parts.tryState = el("span", { className: "zone-try-state", testid: "zone-try-state" });
  parts.img = el("img", { testid: "zone-snapshot", attrs: { alt: "" } });
  parts.img.addEventListener("load", () => {
    editor.size = [parts.img.naturalWidth, parts.img.naturalHeight];
    parts.stage.dataset.snapshot = "1";
    parts.noPicture.hidden = true;
    renderCanvas();
  });
  parts.img.addEventListener("error", () => {
    editor.size = FALLBACK_SIZE;
    parts.stage.dataset.snapshot = "0";
    parts.noPicture.hidden = false;
    renderCanvas();
  });
  parts.svg = makeCanvas();
  parts.noPicture = el("p", { className: "zone-no-picture", i18n: "zonNoPicture", attrs: { hidden: true } });
  parts.stage = el("div", { className: "zone-stage", testid: "zone-stage" }, [parts.img, parts.noPicture]);
  parts.stage.append(parts.svg);
  parts.drawing = el("p", { className: "zone-drawing", testid: "zone-drawing", i18n: "zonDrawing",
    attrs: { hidden: true } });
  parts.results = el("div", { className: "zone-try-results", testid: "zone-try-results" });
  parts.list = el("ul", { className: "zone-list", testid: "zone-list" });
  parts.newButton = el("button", { testid: "zone-new", i18n: "zonNew", attrs: { type: "button" },
    on: { click: startDrawing } });
  parts.closeButton = el("button", { testid: "zone-close", i18n: "zonClose", attrs: { type: "button", hidden: true },
    on: { click: closeDraft } });
  parts.cancelButton = el("button", { testid: "zone-cancel-draw", i18n: "zonCancelDraw",
    attrs: { type: "button", hidden: true }, on: { click: cancelDraft } });
  parts.form = el("div", { className: "zone-form", testid: "zone-form" });
  parts.ptz = el("input", { testid: "zone-ptz-guard", attrs: { type: "checkbox" },
    on: { change: () => { editor.rules.ptz_guard = parts.ptz.checked; render(); } } });
  parts.save = el("button", { testid: "zone-save", className: "primary", i18n: "zonSave", attrs: { type: "button" },
    on: { click: save } });
  parts.revert = el("button", { testid: "zone-revert", i18n: "zonRevert", attrs: { type: "button" },
    on: { click: () => loadRules() } });
  parts.state = el("span", { className: "zone-state", testid: "zone-state" });
  parts.notice = el("p", { className: "zone-notice", testid: "zone-notice", attrs: { hidden: true } });
  parts.errors = el("ul", { className: "form-error", testid: "zone-errors", attrs: { role: "alert" } });

  section.append(
    el("h2", { i18n: "admTabZones" }),
    el("div", { className: "toolbar" }, [
      field("zonCamera", parts.camera),
      el("button", { testid: "zone-refresh", i18n: "zonRefresh", attrs: { type: "button" },
        on: { click: loadSnapshot } }),
      parts.state,
    ]),
    parts.notice,
    el("div", { className: "zones-layout" }, [
      el("div", { className: "zones-picture" }, [
        parts.stage, parts.drawing, el("p", { className: "hint", i18n: "zonHowTo" }),
        el("div", { className: "zone-try" }, [field("zonMinutes", parts.minutes), parts.tryButton, parts.tryState]),
        parts.results,
      ]),
      el("aside", { className: "zones-side" }, [
        el("h3", { i18n: "zonZones" }), parts.list,
        el("div", { className: "buttons" }, [parts.newButton, parts.closeButton, parts.cancelButton]),
        parts.form,
        el("label", { className: "check" }, [parts.ptz, el("span", { i18n: "zonPtzGuard" })]),
        el("div", { className: "buttons" }, [parts.save, parts.revert]),
        parts.errors,
      ]),
    ]),
  );
  window.addEventListener("resize", () => { if (!editor.root.hidden) renderCanvas(); });
  Object.assign(redraw, { all: render, buttons: renderButtons, state: renderState });
}

// -- loading -----------------------------------------------------------------------------------------------------

async function open() {
  try {
    const [list, catalogue] = await Promise.all([call("/api/cameras"), call("/api/event-codes")]);
    editor.cameras = list;
    editor.codes = catalogue.codes;
  } catch (error) {
    showMessage(describe(error), "error");
    return;
  }
  const { cameras, cameraId } = editor;
  const stored = sessionStorage.getItem(STORE);
  const wanted = cameras.some((c) => c.id === cameraId) ? cameraId
    : cameras.some((c) => c.id === stored) ? stored : (cameras[0] && cameras[0].id);
  renderCameras();
  if (wanted && wanted !== cameraId) await choose(wanted, true);
  else render();
}

async function choose(id, force = false) {
  if (!force && id === editor.cameraId) return;
  if (!force && dirty()) {
    const ok = await ask({ title: t("zonLeaveTitle"), message: t("zonLeave"), danger: true });
    if (!ok) { parts.camera.value = editor.cameraId; return; }
  }
  editor.cameraId = id;
  sessionStorage.setItem(STORE, id);
  parts.camera.value = id;
  editor.draft = null;
  clearTry();
  loadSnapshot();
  await loadRules();
}

function loadSnapshot() {
  if (!editor.cameraId) return;
  parts.stage.dataset.snapshot = "";
  parts.img.src = `/api/cameras/${encodeURIComponent(editor.cameraId)}/snapshot.jpg?width=1280&t=${Date.now()}`;
}

async function loadRules() {
  const id = editor.cameraId;
  const { root } = editor;
  root.dataset.loaded = "";
  showProblems(parts.errors);
  try {
    const got = await send(`/api/cameras/${encodeURIComponent(id)}/rules`);
    if (id !== editor.cameraId) return;
    editor.rules = got.rules;
    editor.savedJson = JSON.stringify(got.rules);
    editor.info = { analytics: got.analytics, analysed: got.analysed };
    editor.selected = got.rules.zones.length ? 0 : -1;
    editor.draft = null;
  } catch (error) {
    editor.rules = null;
    showProblems(parts.errors, error);
  }
  root.dataset.camera = id;
  root.dataset.loaded = "1";
  render();
}

// -- rendering ---------------------------------------------------------------------------------------------------

function render() {
  renderCameras();
  renderCanvas();
  renderList();
  renderForm();
  renderButtons();
  renderState();
  if (editor.lastTry) renderTry(editor.lastTry);
  applyWords(editor.root);
}

function renderCameras() {
  const options = editor.cameras.map((c) => el("option", { text: `${c.name} (${c.id})`, attrs: { value: c.id } }));
  if (!options.length) options.push(el("option", { i18n: "zonNoCameras", attrs: { value: "" } }));
  parts.camera.replaceChildren(...options);
  if (editor.cameraId) parts.camera.value = editor.cameraId;
}

function renderButtons() {
  const { draft, rules, trying } = editor;
  const drawing = Boolean(draft);
  parts.newButton.hidden = drawing;
  parts.closeButton.hidden = !drawing;
  parts.closeButton.disabled = !draft || draft.length < 3;
  parts.cancelButton.hidden = !drawing;
  parts.newButton.disabled = !rules;
  parts.save.disabled = !rules || drawing || !dirty();
  parts.revert.disabled = !dirty();
  parts.tryButton.disabled = !rules || drawing || trying || !rules.zones.length;
  parts.ptz.checked = Boolean(rules && rules.ptz_guard);
  parts.ptz.disabled = !rules;
}

function renderState() {
  const { rules } = editor;
  const isDirty = dirty();
  parts.state.dataset.dirty = isDirty ? "1" : "0";
  parts.state.dataset.i18n = isDirty ? "zonDirty" : "zonSavedState";
  parts.state.hidden = !rules;
  const camera = editor.cameras.find((c) => c.id === editor.cameraId);
  let notice = "";
  if (!editor.info.analytics) notice = "zonNoAnalytics";
  else if (camera === undefined && rules && rules.zones.length) notice = "zonDisabledCam";
  parts.notice.hidden = !notice;
  if (notice) parts.notice.dataset.i18n = notice;
}

// -- save --------------------------------------------------------------------------------------------------------

async function save() {
  if (!editor.rules || editor.draft) return;
  const id = editor.cameraId;
  showProblems(parts.errors);
  parts.save.disabled = true;
  try {
    const got = await send(`/api/cameras/${encodeURIComponent(id)}/rules`, { method: "PUT", json: editor.rules });
    if (id !== editor.cameraId) return;
    const keep = zone() ? zone().id : null;
    const { rules } = got;
    editor.rules = rules;
    editor.savedJson = JSON.stringify(rules);
    editor.info = { analytics: got.analytics, analysed: got.analysed };
    editor.selected = Math.max(rules.zones.findIndex((z) => z.id === keep), rules.zones.length ? 0 : -1);
    showMessage(t("zonSaved") + (got.analysed ? t("zonApplied") : ""), "ok");
    editor.root.dataset.saved = String(Number(editor.root.dataset.saved || 0) + 1);
  } catch (error) {
    showProblems(parts.errors, error);
  } finally {
    render();
  }
}

export default {
  mount(section) {
    editor.root = section;
    build(section);
  },
  show() {
    open();
  },
  hide() {
    editor.drag = null;
  },
  render,
};
