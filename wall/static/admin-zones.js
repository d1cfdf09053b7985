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
import { addWords, applyWords, currentLang, t } from "./i18n.js";
import { ask, call, describe, el, showMessage } from "./admin-common.js";
import { clock, field, send, showProblems } from "./admin-editor.js";

addWords({
  "zh-CN": {
    admTabZones: "区域规则", zonCamera: "摄像机", zonRefresh: "刷新画面", zonZones: "区域", zonNew: "新建区域",
    zonClose: "闭合多边形", zonCancelDraw: "放弃绘制", zonSave: "保存", zonRevert: "撤销修改", zonTry: "试运行",
    zonMinutes: "最近（分钟）", zonTrying: "试运行中…", zonTried: "试运行完成", zonTryFailed: "试运行失败",
    zonHowTo: "新建区域后在画面上单击添加顶点，单击第一个顶点（或按 Enter）闭合；拖动顶点移动，拖动边中点添加顶点，双击顶点删除。",
    zonDrawing: "绘制中：单击画面添加顶点，单击第一个顶点闭合", zonNoPicture: "暂无画面（摄像机尚未连接）",
    zonPick: "选择一个区域，或新建区域。", zonNoZones: "尚无区域", zonDirty: "有未保存的修改", zonSavedState: "已保存",
    zonSaved: "区域规则已保存", zonApplied: "，已立即生效", zonNoAnalytics:
      "本站点启动时没有 analytics.yaml，未运行检测：规则已保存到 analytics.yaml，重启 citywall serve 后生效。",
    zonDisabledCam: "该摄像机已停用：规则将在启用后运行。",
    zonId: "编号", zonName: "名称", zonFamily: "规则类型", zonCode: "事件编码", zonDwell: "持续时间（秒）",
    zonGrace: "容忍离开（秒）", zonClearAfter: "消失多久结束（秒）", zonAlarmInterval: "同一位置再次告警间隔（秒）",
    zonHits: "确认：命中次数", zonLooks: "确认：最近帧数", zonMinScore: "最低置信度", zonRequireObject: "需要摊位物体（不只是人）",
    zonClasses: "检测类别（逗号分隔，留空用模型默认）", zonTrigger: "触发点", zonBottom: "底边中点", zonCentre: "中心",
    zonSchedule: "生效时段（为空则全天）", zonAddRange: "添加时段", zonRemove: "删除", zonDeleteZone: "删除区域",
    zonPtzGuard: "画面偏离预置位时暂停规则", zonStart: "开始", zonEnd: "结束",
    famStreetStall: "流动摊贩·占道经营", famGarbage: "暴露垃圾", famRoadOccupation: "占道堆物·乱停放",
    zonTryVideo: "视频", zonTryLooks: "分析", zonTryEvents: "事件", zonTryNone: "这段视频中，这些规则不会产生事件。",
    zonKindOpened: "告警", zonKindUpdated: "更新", zonKindCleared: "结束", zonDwellShort: "持续",
    zonLeave: "当前摄像机有未保存的修改，放弃这些修改？", zonLeaveTitle: "放弃修改", zonNoCameras: "没有摄像机",
    zonDayMon: "一", zonDayTue: "二", zonDayWed: "三", zonDayThu: "四", zonDayFri: "五", zonDaySat: "六", zonDaySun: "日",
  },
  en: {
    admTabZones: "Zones", zonCamera: "Camera", zonRefresh: "Refresh picture", zonZones: "Zones", zonNew: "New zone",
    zonClose: "Close polygon", zonCancelDraw: "Stop drawing", zonSave: "Save", zonRevert: "Revert", zonTry: "Try",
    zonMinutes: "Last (minutes)", zonTrying: "Trying…", zonTried: "Try finished", zonTryFailed: "Try failed",
    zonHowTo: "After New zone, click the picture to add points and click the first one (or press Enter) to close. "
      + "Drag a point to move it, drag a mid-edge dot to add one, double-click a point to remove it.",
    zonDrawing: "Drawing: click the picture to add points, click the first point to close",
    zonNoPicture: "No picture yet (the camera is not connected)", zonPick: "Pick a zone, or draw a new one.",
    zonNoZones: "No zones yet", zonDirty: "Unsaved changes", zonSavedState: "Saved", zonSaved: "Zones saved",
    zonApplied: " and running", zonNoAnalytics: "This site started without analytics.yaml, so no detector runs: "
      + "the rules are saved in analytics.yaml and take effect when citywall serve is restarted.",
    zonDisabledCam: "This camera is disabled: its rules run once it is enabled.",
    zonId: "Id", zonName: "Name", zonFamily: "Rule", zonCode: "Event code", zonDwell: "Dwell (s)",
    zonGrace: "Grace (s)", zonClearAfter: "Clear after (s)", zonAlarmInterval: "Alarm interval at a place (s)",
    zonHits: "Confirm: hits", zonLooks: "Confirm: of looks", zonMinScore: "Min score",
    zonRequireObject: "Needs a stall object (not a person only)",
    zonClasses: "Detector classes (comma-separated; empty: the model's)", zonTrigger: "Anchor",
    zonBottom: "bottom centre", zonCentre: "centre", zonSchedule: "Active (empty: always)",
    zonAddRange: "Add a time window", zonRemove: "Remove", zonDeleteZone: "Delete zone",
    zonPtzGuard: "Pause rules when the view leaves its preset", zonStart: "From", zonEnd: "To",
    famStreetStall: "Street stall", famGarbage: "Exposed garbage", famRoadOccupation: "Road occupation",
    zonTryVideo: "video", zonTryLooks: "looks", zonTryEvents: "events",
    zonTryNone: "These rules would have raised nothing in this video.", zonKindOpened: "alarm",
    zonKindUpdated: "update", zonKindCleared: "cleared", zonDwellShort: "dwell",
    zonLeave: "This camera has unsaved changes. Discard them?", zonLeaveTitle: "Discard changes",
    zonNoCameras: "No cameras",
    zonDayMon: "Mo", zonDayTue: "Tu", zonDayWed: "We", zonDayThu: "Th", zonDayFri: "Fr", zonDaySat: "Sa", zonDaySun: "Su",
  },
});

const SVG = "http://www.w3.org/2000/svg";
const FAMILIES = { street_stall: "famStreetStall", garbage: "famGarbage", road_occupation: "famRoadOccupation" };
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_WORDS = ["zonDayMon", "zonDayTue", "zonDayWed", "zonDayThu", "zonDayFri", "zonDaySat", "zonDaySun"];
const DEFAULT_CODES = { street_stall: "0501", road_occupation: "0507", garbage: "0102" };
// A new zone starts from the defaults of vision/rules_config.py's ZoneConfig (the server fills in any left out).
const NEW_ZONE = {
  name: "", family: "street_stall", code: "0501", classes: null, dwell_seconds: 180, grace_seconds: 10,
  clear_after_seconds: 30, alarm_interval_seconds: 600, schedule: [], confirm: { hits: 3, looks: 5 },
  min_score: 0.3, trigger: "bottom_center", require_object: true,
};
const FALLBACK_SIZE = [1280, 720];
const STORE = "citywall.zones.camera";
const HANDLE_PX = 7;

let root;
const parts = {};
let cameras = [];
let codes = [];
let cameraId = null;
let rules = null; // the camera's rules being edited (a copy of what the server sent)
let savedJson = ""; // the rules as last loaded or saved, to tell unsaved changes
let info = { analytics: true, analysed: false };
let selected = -1;
let draft = null; // points of a zone being drawn
let size = FALLBACK_SIZE;
let drag = null; // { index, pointerId } of a point being moved
let lastTry = null;
let trying = false;

const clone = (value) => JSON.parse(JSON.stringify(value));
const dirty = () => rules !== null && JSON.stringify(rules) !== savedJson;
const zone = () => (rules && selected >= 0 ? rules.zones[selected] : null);

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

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
    size = [parts.img.naturalWidth, parts.img.naturalHeight];
    parts.stage.dataset.snapshot = "1";
    parts.noPicture.hidden = true;
    renderCanvas();
  });
  parts.img.addEventListener("error", () => {
    size = FALLBACK_SIZE;
    parts.stage.dataset.snapshot = "0";
    parts.noPicture.hidden = false;
    renderCanvas();
  });
  parts.svg = svgEl("svg", { "data-testid": "zone-svg", preserveAspectRatio: "none" });
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
    on: { change: () => { rules.ptz_guard = parts.ptz.checked; changed(); } } });
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
  parts.svg.addEventListener("pointerdown", onPointerDown);
  parts.svg.addEventListener("pointermove", onPointerMove);
  parts.svg.addEventListener("pointerup", onPointerUp);
  parts.svg.addEventListener("pointercancel", onPointerUp);
  parts.svg.addEventListener("dblclick", onDoubleClick);
  document.addEventListener("keydown", (event) => {
    if (root.hidden || !draft) return;
    if (event.key === "Enter") { event.preventDefault(); closeDraft(); }
    if (event.key === "Escape") { event.preventDefault(); cancelDraft(); }
  });
  window.addEventListener("resize", () => { if (!root.hidden) renderCanvas(); });
}

// -- loading -----------------------------------------------------------------------------------------------------

async function open() {
  try {
    const [list, catalogue] = await Promise.all([call("/api/cameras"), call("/api/event-codes")]);
    cameras = list;
    codes = catalogue.codes;
  } catch (error) {
    showMessage(describe(error), "error");
    return;
  }
  const stored = sessionStorage.getItem(STORE);
  const wanted = cameras.some((c) => c.id === cameraId) ? cameraId
    : cameras.some((c) => c.id === stored) ? stored : (cameras[0] && cameras[0].id);
  renderCameras();
  if (wanted && wanted !== cameraId) await choose(wanted, true);
  else render();
}

async function choose(id, force = false) {
  if (!force && id === cameraId) return;
  if (!force && dirty()) {
    const ok = await ask({ title: t("zonLeaveTitle"), message: t("zonLeave"), danger: true });
    if (!ok) { parts.camera.value = cameraId; return; }
  }
  cameraId = id;
  sessionStorage.setItem(STORE, id);
  parts.camera.value = id;
  draft = null;
  lastTry = null;
  parts.results.replaceChildren();
  parts.tryState.textContent = "";
  delete parts.tryState.dataset.state;
  loadSnapshot();
  await loadRules();
}

function loadSnapshot() {
  if (!cameraId) return;
  parts.stage.dataset.snapshot = "";
  parts.img.src = `/api/cameras/${encodeURIComponent(cameraId)}/snapshot.jpg?width=1280&t=${Date.now()}`;
}

async function loadRules() {
  const id = cameraId;
  root.dataset.loaded = "";
  showProblems(parts.errors);
  try {
    const got = await send(`/api/cameras/${encodeURIComponent(id)}/rules`);
    if (id !== cameraId) return;
    rules = got.rules;
    savedJson = JSON.stringify(rules);
    info = { analytics: got.analytics, analysed: got.analysed };
    selected = rules.zones.length ? 0 : -1;
    draft = null;
  } catch (error) {
    rules = null;
    showProblems(parts.errors, error);
  }
  root.dataset.camera = id;
  root.dataset.loaded = "1";
  render();
}

// -- drawing -----------------------------------------------------------------------------------------------------

function point(event) {
  const box = parts.svg.getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  const y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
  return [Math.round(x * 10000) / 10000, Math.round(y * 10000) / 10000];
}

function pxPerUnit() {
  const box = parts.svg.getBoundingClientRect();
  return box.width ? size[0] / box.width : 1;
}

function nearFirst(p) {
  if (!draft || draft.length < 3) return false;
  const [x, y] = draft[0];
  const box = parts.svg.getBoundingClientRect();
  return Math.hypot((p[0] - x) * box.width, (p[1] - y) * box.height) <= HANDLE_PX * 2;
}

function startDrawing() {
  if (!rules) return;
  draft = [];
  selected = -1;
  render();
}

function cancelDraft() {
  draft = null;
  render();
}

function uniqueId() {
  const taken = new Set(rules.zones.map((z) => z.id));
  let n = rules.zones.length + 1;
  while (taken.has(`zone-${n}`)) n += 1;
  return `zone-${n}`;
}

function closeDraft() {
  if (!draft || draft.length < 3) return;
  rules.zones.push({ ...clone(NEW_ZONE), id: uniqueId(), polygon: draft });
  selected = rules.zones.length - 1;
  draft = null;
  changed();
}

function onPointerDown(event) {
  if (!rules || event.button !== 0) return;
  const p = point(event);
  if (draft) {
    event.preventDefault();
    if (nearFirst(p)) closeDraft();
    else { draft.push(p); renderCanvas(); renderButtons(); }
    return;
  }
  const target = event.target;
  const z = zone();
  if (target.dataset.handle !== undefined && z) {
    drag = { index: Number(target.dataset.handle), pointerId: event.pointerId, moved: false };
  } else if (target.dataset.mid !== undefined && z) {
    const index = Number(target.dataset.mid) + 1;
    z.polygon.splice(index, 0, p);
    drag = { index, pointerId: event.pointerId, moved: true };
    changed();
  } else if (target.dataset.zone !== undefined) {
    selected = Number(target.dataset.zone);
    render();
    return;
  } else {
    return;
  }
  event.preventDefault();
  parts.svg.setPointerCapture(event.pointerId);
}

function onPointerMove(event) {
  if (!drag || event.pointerId !== drag.pointerId || !zone()) return;
  zone().polygon[drag.index] = point(event);
  drag.moved = true;
  renderCanvas();
}

function onPointerUp(event) {
  if (!drag || event.pointerId !== drag.pointerId) return;
  const moved = drag.moved;
  drag = null;
  if (moved) changed(); // a click without a move leaves the handles in place (a double-click needs them)
}

function onDoubleClick(event) {
  // By position, not event.target: the pointer capture of a press makes the svg the target of clicks.
  const z = zone();
  if (!z || draft || z.polygon.length <= 3) return;
  const box = parts.svg.getBoundingClientRect();
  const [x, y] = point(event);
  const index = z.polygon.findIndex(([px, py]) => Math.hypot((px - x) * box.width, (py - y) * box.height)
    <= HANDLE_PX * 1.5);
  if (index < 0) return;
  z.polygon.splice(index, 1);
  changed();
}

// -- rendering ---------------------------------------------------------------------------------------------------

function changed() {
  render();
}

function render() {
  renderCameras();
  renderCanvas();
  renderList();
  renderForm();
  renderButtons();
  renderState();
  if (lastTry) renderTry(lastTry);
  applyWords(root);
}

function renderCameras() {
  const options = cameras.map((c) => el("option", { text: `${c.name} (${c.id})`, attrs: { value: c.id } }));
  if (!options.length) options.push(el("option", { i18n: "zonNoCameras", attrs: { value: "" } }));
  parts.camera.replaceChildren(...options);
  if (cameraId) parts.camera.value = cameraId;
}

function renderCanvas() {
  const [w, h] = size;
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

function renderList() {
  const zones = rules ? rules.zones : [];
  const items = zones.map((z, i) => el("li", {}, [
    el("button", { className: `zone-item fam-${z.family}${i === selected ? " selected" : ""}`, testid: "zone-item",
      dataset: { zone: z.id }, attrs: { type: "button", "aria-pressed": String(i === selected) },
      on: { click: () => { selected = i; draft = null; render(); } } }, [
      el("span", { className: "swatch" }), el("span", { className: "mono", text: z.id }),
      el("span", { text: z.name || "" }), el("span", { className: "sub", text: t(FAMILIES[z.family]) }),
    ]),
  ]));
  if (!items.length) items.push(el("li", { className: "sub", i18n: "zonNoZones" }));
  parts.list.replaceChildren(...items);
}

function renderButtons() {
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
  const isDirty = dirty();
  parts.state.dataset.dirty = isDirty ? "1" : "0";
  parts.state.dataset.i18n = isDirty ? "zonDirty" : "zonSavedState";
  parts.state.hidden = !rules;
  const camera = cameras.find((c) => c.id === cameraId);
  let notice = "";
  if (!info.analytics) notice = "zonNoAnalytics";
  else if (camera === undefined && rules && rules.zones.length) notice = "zonDisabledCam";
  parts.notice.hidden = !notice;
  if (notice) parts.notice.dataset.i18n = notice;
}

function codeOptions(family) {
  const lang = currentLang();
  return codes.filter((c) => c.families.includes(family)).map((c) => el("option", {
    text: `${c.code} ${lang === "en" && c.name_en ? c.name_en : c.name}`, attrs: { value: c.code } }));
}

function numberInput(z, key, attrs = {}, target = null) {
  const holder = target || z;
  const node = el("input", { testid: `zone-field-${key}`, attrs: { type: "number", step: "any", min: "0", ...attrs,
    value: holder[key] === undefined || holder[key] === null ? "" : String(holder[key]) } });
  node.addEventListener("input", () => {
    if (node.value === "") delete holder[key];
    else holder[key] = Number(node.value);
    renderButtons();
    renderState();
    applyWords(parts.state.parentElement);
  });
  return node;
}

function textInput(z, key, attrs = {}, parse = (v) => v) {
  const node = el("input", { testid: `zone-field-${key}`, attrs: { ...attrs,
    value: z[key] === undefined || z[key] === null ? "" : String(z[key]) } });
  node.addEventListener("input", () => {
    z[key] = parse(node.value);
    renderCanvas();
    renderList();
    renderButtons();
    renderState();
    applyWords(root);
  });
  return node;
}

function renderForm() {
  const z = zone();
  if (!z || draft) {
    parts.form.replaceChildren(el("p", { className: "hint", i18n: draft ? "zonDrawing" : "zonPick" }));
    return;
  }
  const family = el("select", { testid: "zone-field-family" }, Object.entries(FAMILIES).map(([value, key]) =>
    el("option", { i18n: key, attrs: { value } })));
  family.value = z.family;
  const code = el("select", { testid: "zone-field-code" }, codeOptions(z.family));
  code.value = z.code || DEFAULT_CODES[z.family];
  family.addEventListener("change", () => {
    z.family = family.value;
    if (!codes.some((c) => c.code === z.code && c.families.includes(z.family))) z.code = DEFAULT_CODES[z.family];
    changed();
  });
  code.addEventListener("change", () => { z.code = code.value; changed(); });
  const trigger = el("select", { testid: "zone-field-trigger" }, [
    el("option", { i18n: "zonBottom", attrs: { value: "bottom_center" } }),
    el("option", { i18n: "zonCentre", attrs: { value: "center" } })]);
  trigger.value = z.trigger || "bottom_center";
  trigger.addEventListener("change", () => { z.trigger = trigger.value; changed(); });
  z.confirm = z.confirm || { hits: 3, looks: 5 };
  const requireObject = el("input", { testid: "zone-field-require_object",
    attrs: { type: "checkbox", checked: z.require_object !== false } });
  requireObject.addEventListener("change", () => { z.require_object = requireObject.checked; changed(); });
  const classes = textInput(z, "classes", { placeholder: "person, bicycle", spellcheck: "false" },
    (v) => { const list = v.split(/[,，]/).map((s) => s.trim()).filter(Boolean); return list.length ? list : null; });
  classes.value = (z.classes || []).join(", ");
  parts.form.replaceChildren(
    el("div", { className: "grid" }, [
      field("zonId", textInput(z, "id", { maxlength: "64", spellcheck: "false", autocapitalize: "none" })),
      field("zonName", textInput(z, "name", { maxlength: "120" })),
      field("zonFamily", family), field("zonCode", code),
      field("zonDwell", numberInput(z, "dwell_seconds")), field("zonAlarmInterval", numberInput(z, "alarm_interval_seconds")),
      field("zonGrace", numberInput(z, "grace_seconds")), field("zonClearAfter", numberInput(z, "clear_after_seconds")),
      field("zonHits", numberInput(z, "hits", { min: "1", step: "1" }, z.confirm)),
      field("zonLooks", numberInput(z, "looks", { min: "1", step: "1" }, z.confirm)),
      field("zonMinScore", numberInput(z, "min_score", { max: "1", step: "0.05" })), field("zonTrigger", trigger),
    ]),
    z.family === "street_stall"
      ? el("label", { className: "check" }, [requireObject, el("span", { i18n: "zonRequireObject" })]) : null,
    field("zonClasses", classes, { className: "wide" }),
    scheduleEditor(z),
    el("div", { className: "buttons" }, [el("button", { className: "danger", testid: "zone-delete",
      i18n: "zonDeleteZone", attrs: { type: "button" },
      on: { click: () => { rules.zones.splice(selected, 1); selected = rules.zones.length ? 0 : -1; changed(); } } })]),
  );
}

function scheduleEditor(z) {
  z.schedule = z.schedule || [];
  const rows = z.schedule.map((range, i) => {
    const days = DAYS.map((day, d) => {
      const box = el("input", { attrs: { type: "checkbox", checked: (range.days || DAYS).includes(day) },
        dataset: { day } });
      box.addEventListener("change", () => {
        const set = new Set(range.days || DAYS);
        if (box.checked) set.add(day); else set.delete(day);
        range.days = DAYS.filter((x) => set.has(x));
        renderButtons(); renderState(); applyWords(parts.state.parentElement);
      });
      return el("label", { className: "day" }, [box, el("span", { i18n: DAY_WORDS[d] })]);
    });
    const time = (key, fallback) => {
      const node = el("input", { testid: `zone-schedule-${key}`, attrs: { value: range[key] || fallback,
        maxlength: "5", pattern: "([01][0-9]|2[0-3]):[0-5][0-9]|24:00", placeholder: "HH:MM", size: "5" } });
      node.addEventListener("input", () => { range[key] = node.value.trim(); renderButtons(); renderState();
        applyWords(parts.state.parentElement); });
      return node;
    };
    return el("div", { className: "schedule-row", testid: "zone-schedule-row" }, [
      el("span", { className: "days" }, days),
      field("zonStart", time("start", "00:00")), field("zonEnd", time("end", "24:00")),
      el("button", { i18n: "zonRemove", attrs: { type: "button" },
        on: { click: () => { z.schedule.splice(i, 1); changed(); } } }),
    ]);
  });
  return el("fieldset", { className: "schedule" }, [
    el("legend", { i18n: "zonSchedule" }), ...rows,
    el("button", { testid: "zone-schedule-add", i18n: "zonAddRange", attrs: { type: "button" },
      on: { click: () => { z.schedule.push({ days: [...DAYS], start: "07:00", end: "20:00" }); changed(); } } }),
  ]);
}

// -- try and save ------------------------------------------------------------------------------------------------

async function tryRules() {
  if (!rules || trying) return;
  trying = true;
  const id = cameraId;
  showProblems(parts.errors);
  parts.tryState.dataset.state = "running";
  parts.tryState.dataset.i18n = "zonTrying";
  parts.results.replaceChildren();
  lastTry = null;
  renderButtons();
  applyWords(parts.tryState.parentElement);
  try {
    const minutes = Number(parts.minutes.value) || 2;
    const result = await send(`/api/cameras/${encodeURIComponent(id)}/rules/try`,
      { method: "POST", json: { rules, minutes } });
    if (id !== cameraId) return;
    lastTry = result;
    parts.tryState.dataset.state = "done";
    parts.tryState.dataset.i18n = "zonTried";
    renderTry(result);
  } catch (error) {
    parts.tryState.dataset.state = "error";
    parts.tryState.dataset.i18n = "zonTryFailed";
    showProblems(parts.errors, error);
  } finally {
    trying = false;
    renderButtons();
    applyWords(root);
  }
}

const KIND_WORDS = { opened: "zonKindOpened", updated: "zonKindUpdated", cleared: "zonKindCleared" };

function renderTry(result) {
  const summary = el("p", { className: "summary", testid: "zone-try-summary", dataset: {
    events: String(result.events.length) } }, [
    el("span", { i18n: "zonTryVideo" }), el("span", { text: ` ${Math.round(result.seconds)} s · ` }),
    el("span", { i18n: "zonTryLooks" }), el("span", { text: ` ${result.looks} · ` }),
    el("span", { i18n: "zonTryEvents" }), el("span", { text: ` ${result.events.length}` }),
  ]);
  const cards = result.events.filter((e) => e.kind !== "updated").map((e) => el("figure", {
    className: `zone-try-event kind-${e.kind}`, testid: "zone-try-event", dataset: { kind: e.kind, zone: e.zone } }, [
    e.snapshot ? el("img", { attrs: { src: e.snapshot, alt: "" } }) : null,
    el("figcaption", {}, [
      el("strong", { i18n: KIND_WORDS[e.kind] || "zonKindUpdated" }),
      el("span", { text: ` ${clock(e.t_wall)} · ${e.zone} · ${e.code} ${e.code_name} · ` }),
      el("span", { i18n: "zonDwellShort" }), el("span", { text: ` ${Math.round(e.dwell)} s` }),
    ]),
  ]));
  const none = result.events.length ? null : el("p", { className: "hint", testid: "zone-try-none", i18n: "zonTryNone" });
  parts.results.replaceChildren(summary, ...(none ? [none] : []), el("div", { className: "cards" }, cards));
  applyWords(parts.results);
}

async function save() {
  if (!rules || draft) return;
  const id = cameraId;
  showProblems(parts.errors);
  parts.save.disabled = true;
  try {
    const got = await send(`/api/cameras/${encodeURIComponent(id)}/rules`, { method: "PUT", json: rules });
    if (id !== cameraId) return;
    const keep = zone() ? zone().id : null;
    rules = got.rules;
    savedJson = JSON.stringify(rules);
    info = { analytics: got.analytics, analysed: got.analysed };
    selected = Math.max(rules.zones.findIndex((z) => z.id === keep), rules.zones.length ? 0 : -1);
    showMessage(t("zonSaved") + (got.analysed ? t("zonApplied") : ""), "ok");
    root.dataset.saved = String(Number(root.dataset.saved || 0) + 1);
  } catch (error) {
    showProblems(parts.errors, error);
  } finally {
    render();
  }
}

export default {
  mount(section) {
    root = section;
    build(section);
  },
  show() {
    open();
  },
  hide() {
    drag = null;
  },
  render,
};
