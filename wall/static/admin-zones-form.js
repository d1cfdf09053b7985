// The zone editor's side panel: the list of the camera's zones and the selected zone's rule — family, event code,
// dwell and the other timings, confirmation, classes, anchor and the weekly schedule. Edits go straight into the
// editor's copy of the rules; nothing is sent until Save.
import { applyWords, currentLang, t } from "./i18n.js";
import { el } from "./admin-common.js";
import { field } from "./admin-editor.js";
import { renderCanvas } from "./admin-zones-canvas.js";
import { editor, parts, redraw, zone } from "./admin-zones-state.js";

const FAMILIES = { street_stall: "famStreetStall", garbage: "famGarbage", road_occupation: "famRoadOccupation" };
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_WORDS = ["zonDayMon", "zonDayTue", "zonDayWed", "zonDayThu", "zonDayFri", "zonDaySat", "zonDaySun"];
const DEFAULT_CODES = { street_stall: "0501", road_occupation: "0507", garbage: "0102" };

/** After an edit that changes neither the picture nor the list: the buttons and the "unsaved" mark. */
function edited() {
  redraw.buttons();
  redraw.state();
  applyWords(parts.state.parentElement);
}

export function renderList() {
  const zones = editor.rules ? editor.rules.zones : [];
  const items = zones.map((z, i) => el("li", {}, [
    el("button", { className: `zone-item fam-${z.family}${i === editor.selected ? " selected" : ""}`,
      testid: "zone-item", dataset: { zone: z.id },
      attrs: { type: "button", "aria-pressed": String(i === editor.selected) },
      on: { click: () => { editor.selected = i; editor.draft = null; redraw.all(); } } }, [
      el("span", { className: "swatch" }), el("span", { className: "mono", text: z.id }),
      el("span", { text: z.name || "" }), el("span", { className: "sub", text: t(FAMILIES[z.family]) }),
    ]),
  ]));
  if (!items.length) items.push(el("li", { className: "sub", i18n: "zonNoZones" }));
  parts.list.replaceChildren(...items);
}

function codeOptions(family) {
  const lang = currentLang();
  return editor.codes.filter((c) => c.families.includes(family)).map((c) => el("option", {
    text: `${c.code} ${lang === "en" && c.name_en ? c.name_en : c.name}`, attrs: { value: c.code } }));
}

function numberInput(z, key, attrs = {}, target = null) {
  const holder = target || z;
  const node = el("input", { testid: `zone-field-${key}`, attrs: { type: "number", step: "any", min: "0", ...attrs,
    value: holder[key] === undefined || holder[key] === null ? "" : String(holder[key]) } });
  node.addEventListener("input", () => {
    if (node.value === "") delete holder[key];
    else holder[key] = Number(node.value);
    edited();
  });
  return node;
}

function textInput(z, key, attrs = {}, parse = (v) => v) {
  const node = el("input", { testid: `zone-field-${key}`, attrs: { ...attrs,
    value: z[key] === undefined || z[key] === null ? "" : String(z[key]) } });
  node.addEventListener("input", () => {
    z[key] = parse(node.value);
    renderCanvas(); // the zone's label
    renderList();
    redraw.buttons();
    redraw.state();
    applyWords(editor.root);
  });
  return node;
}

export function renderForm() {
  const z = zone();
  if (!z || editor.draft) {
    parts.form.replaceChildren(el("p", { className: "hint", i18n: editor.draft ? "zonDrawing" : "zonPick" }));
    return;
  }
  const { codes } = editor;
  const family = el("select", { testid: "zone-field-family" }, Object.entries(FAMILIES).map(([value, key]) =>
    el("option", { i18n: key, attrs: { value } })));
  family.value = z.family;
  const code = el("select", { testid: "zone-field-code" }, codeOptions(z.family));
  code.value = z.code || DEFAULT_CODES[z.family];
  family.addEventListener("change", () => {
    z.family = family.value;
    if (!codes.some((c) => c.code === z.code && c.families.includes(z.family))) z.code = DEFAULT_CODES[z.family];
    redraw.all();
  });
  code.addEventListener("change", () => { z.code = code.value; redraw.all(); });
  const trigger = el("select", { testid: "zone-field-trigger" }, [
    el("option", { i18n: "zonBottom", attrs: { value: "bottom_center" } }),
    el("option", { i18n: "zonCentre", attrs: { value: "center" } })]);
  trigger.value = z.trigger || "bottom_center";
  trigger.addEventListener("change", () => { z.trigger = trigger.value; redraw.all(); });
  z.confirm = z.confirm || { hits: 3, looks: 5 };
  const requireObject = el("input", { testid: "zone-field-require_object",
    attrs: { type: "checkbox", checked: z.require_object !== false } });
  requireObject.addEventListener("change", () => { z.require_object = requireObject.checked; redraw.all(); });
  const classes = textInput(z, "classes", { placeholder: "person, bicycle", spellcheck: "false" },
    (v) => { const list = v.split(/[,，]/).map((s) => s.trim()).filter(Boolean); return list.length ? list : null; });
  classes.value = (z.classes || []).join(", ");
  const remove = () => {
    editor.rules.zones.splice(editor.selected, 1);
    editor.selected = editor.rules.zones.length ? 0 : -1;
    redraw.all();
  };
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
      i18n: "zonDeleteZone", attrs: { type: "button" }, on: { click: remove } })]),
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
        edited();
      });
      return el("label", { className: "day" }, [box, el("span", { i18n: DAY_WORDS[d] })]);
    });
    const time = (key, fallback) => {
      const node = el("input", { testid: `zone-schedule-${key}`, attrs: { value: range[key] || fallback,
        maxlength: "5", pattern: "([01][0-9]|2[0-3]):[0-5][0-9]|24:00", placeholder: "HH:MM", size: "5" } });
      node.addEventListener("input", () => { range[key] = node.value.trim(); edited(); });
      return node;
    };
    return el("div", { className: "schedule-row", testid: "zone-schedule-row" }, [
      el("span", { className: "days" }, days),
      field("zonStart", time("start", "00:00")), field("zonEnd", time("end", "24:00")),
      el("button", { i18n: "zonRemove", attrs: { type: "button" },
        on: { click: () => { z.schedule.splice(i, 1); redraw.all(); } } }),
    ]);
  });
  return el("fieldset", { className: "schedule" }, [
    el("legend", { i18n: "zonSchedule" }), ...rows,
    el("button", { testid: "zone-schedule-add", i18n: "zonAddRange", attrs: { type: "button" },
      on: { click: () => { z.schedule.push({ days: [...DAYS], start: "07:00", end: "20:00" }); redraw.all(); } } }),
  ]);
}
