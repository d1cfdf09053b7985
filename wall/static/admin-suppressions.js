// False-alarm memory (误报抑制): the places operators said not to raise again when they rejected a case. Each row
// says where (camera, zone, place), why, from which case, until when, and how many candidates it has kept back;
// an admin lifts one (the place raises again), expires it now, or gives it a new end in days from now.
import { applyWords, t } from "./i18n.js";
import { act, ask, call, describe, el, fillRows, formatTime, showMessage } from "./admin-common.js";
import "./suppression-words.js";

const DAY_MS = 86400000;
let root;
let items = [];
let reasons = {};  // the site's reject reasons, key → shown name (GET /api/reject-reasons)

function words(key, values) {
  return t(key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

async function load() {
  const state = root.querySelector("#suppressions-state").value;
  try {
    items = await call(`/api/suppressions?state=${encodeURIComponent(state)}`);
  } catch (error) {
    items = [];
    showMessage(describe(error), "error");
  }
  render();
}

async function lift(button, row) {
  const sure = await ask({ title: t("supLift"), message: words("supConfirmLift", { id: row.id }),
    confirm: t("supLift"), danger: true });
  if (!sure) return;
  const url = `/api/suppressions/${row.id}/lift`;
  if (await act(button, () => call(url, { method: "POST" }), words("supLifted", { id: row.id }))) await load();
}

function putExpiry(row, expiresAt) {
  return call(`/api/suppressions/${row.id}/expiry`, { method: "PUT", json: { expires_at: expiresAt } });
}

async function expireNow(button, row) {
  const done = words("supExpiryDone", { id: row.id });
  if (await act(button, () => putExpiry(row, new Date().toISOString()), done)) await load();
}

async function setEnd(row) {
  const days = await ask({ title: t("supSetExpiry"), input: { type: "number", label: t("supDaysFromNow") },
    submit: async (value) => {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new Error(t("supDaysFromNow"));
      await putExpiry(row, new Date(Date.now() + n * DAY_MS).toISOString());
    } });
  if (days !== null) {
    showMessage(words("supExpiryDone", { id: row.id }));
    await load();
  }
}

function render() {
  const rows = items.map((row) => el("tr", { testid: "suppression-row", className: row.state,
    dataset: { id: String(row.id), state: row.state, camera: row.camera, zone: row.zone, place: row.place } }, [
    el("td", { className: "num", text: String(row.id) }),
    el("td", { text: row.camera }),
    el("td", { text: row.zone }),
    el("td", { text: row.place }),
    el("td", { text: reasons[row.reason] || row.reason, title: row.reason }),
    el("td", { className: "num", text: `#${row.case_id}` }),
    el("td", { text: `${row.created_by} · ${formatTime(row.created_at)}` }),
    el("td", { testid: "suppression-expires", text: row.expires_at ? formatTime(row.expires_at) : t("supNoEnd") }),
    el("td", { className: "num", testid: "suppression-hits", text: String(row.hits) }),
    el("td", { text: formatTime(row.last_hit_at) }),
    el("td", {}, [el("span", { className: `badge ${row.state}`, testid: "suppression-state",
      text: t(`supState.${row.state}`) })]),
    el("td", { className: "actions" }, row.state === "lifted" ? [] : [
      el("button", { i18n: "supLift", testid: "suppression-lift", attrs: { type: "button" },
        on: { click: (e) => lift(e.target, row) } }),
      row.state === "active" ? el("button", { i18n: "supExpireNow", testid: "suppression-expire",
        attrs: { type: "button" }, on: { click: (e) => expireNow(e.target, row) } }) : null,
      el("button", { i18n: "supSetExpiry", testid: "suppression-set-end", attrs: { type: "button" },
        on: { click: () => setEnd(row) } }),
    ]),
  ]));
  fillRows(root.querySelector("#suppressions-rows"), rows, 12, "supNone");
  applyWords(root);
}

export default {
  mount(section) {
    root = section;
    root.querySelector("#suppressions-state").addEventListener("change", load);
  },
  async show() {
    reasons = await call("/api/reject-reasons").catch(() => reasons);
    load();
  },
  hide() {},
  render,
};
