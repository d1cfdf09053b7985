// What every section of the admin page shares: API calls that turn a refusal into a readable message, the
// message bar, a DOM builder that only ever sets text (names, audit targets and platform errors come from
// users and from outside: never HTML), time formatting and one modal dialog for questions and passwords.
import { api } from "./nav.js";
import { addWords, t } from "./i18n.js";

addWords({
  "zh-CN": {
    admOk: "确定", admCancel: "取消", admErrNetwork: "无法连接服务器，请稍后再试", admErrServer: "服务器拒绝",
    admDone: "已完成", admYes: "是", admNo: "否", admNever: "从未",
  },
  en: {
    admOk: "OK", admCancel: "Cancel", admErrNetwork: "Cannot reach the server: try again later",
    admErrServer: "Refused by the server", admDone: "Done", admYes: "yes", admNo: "no", admNever: "never",
  },
});

/** A refusal of the API (4xx/5xx) with the server's own reason. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** FastAPI's `detail` is a string for our own refusals and a list of {loc, msg} for a body that fails validation. */
export function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => {
      const where = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
      return where ? `${where}: ${d.msg}` : String(d.msg);
    }).join("; ");
  }
  return "";
}

/** Call the API; the parsed JSON (null for 204), or an ApiError carrying the server's reason. */
export async function call(path, options = {}) {
  let res;
  try {
    res = await api(path, options);
  } catch (_) {
    throw new ApiError(0, t("admErrNetwork"));
  }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) throw new ApiError(res.status, (body && detailText(body.detail)) || res.statusText);
  return body;
}

/** The words shown for a failure: the status and the server's reason, or that the server is unreachable. */
export function describe(error) {
  if (error instanceof ApiError) {
    return error.status ? `${t("admErrServer")} (${error.status}): ${error.message}` : error.message;
  }
  return String(error && error.message ? error.message : error);
}

const bar = () => document.getElementById("admin-message");
let barTimer = null;

/** Show one line in the message bar; errors stay until the next action, confirmations fade after a while. */
export function showMessage(text, kind = "ok") {
  const el = bar();
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(barTimer);
  if (kind === "ok") barTimer = setTimeout(() => { el.hidden = true; }, 6000);
}

export function clearMessage() {
  clearTimeout(barTimer);
  bar().hidden = true;
  bar().textContent = "";
}

/** Run one change: the button is disabled meanwhile, a refusal lands in the message bar. True when it worked. */
export async function act(button, work, done = t("admDone")) {
  clearMessage();
  if (button) button.disabled = true;
  try {
    await work();
    if (done) showMessage(done, "ok");
    return true;
  } catch (error) {
    showMessage(describe(error), "error");
    return false;
  } finally {
    if (button) button.disabled = false;
  }
}

/**
 * Build an element. `props`: text, className, testid, title, dataset {…}, attrs {…}, on {event: fn}, i18n (a
 * word key). Text only goes in through textContent.
 */
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  const { text, className, testid, title, dataset, attrs, on, i18n } = props;
  if (className) node.className = className;
  if (testid) node.setAttribute("data-testid", testid);
  if (i18n) { node.dataset.i18n = i18n; node.textContent = t(i18n); }
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (title) node.title = title;
  for (const [k, v] of Object.entries(dataset || {})) node.dataset[k] = v;
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === true) node.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const [event, fn] of Object.entries(on || {})) node.addEventListener(event, fn);
  for (const child of children) if (child) node.append(child);
  return node;
}

const pad = (n) => String(n).padStart(2, "0");

/** An ISO time from the API as local "YYYY-MM-DD HH:MM:SS" (the hall reads local time), or "—". */
export function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Seconds as "3 h 05 min" / "4 min 10 s" / "12 s": how long a camera has been in its state. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${s} s`;
}

/** A number with `digits` decimals, or "—" when the server does not know it yet. */
export function formatNumber(value, digits = 1) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

/** Replace a tbody's rows, or show one row with `emptyKey`'s words when there are none. */
export function fillRows(tbody, rows, columns, emptyKey) {
  tbody.replaceChildren(...rows);
  if (rows.length === 0) {
    tbody.append(el("tr", { className: "empty" }, [el("td", { i18n: emptyKey, attrs: { colspan: columns } })]));
  }
}

/**
 * Ask in the page's modal dialog. With `input` ({type, label, autocomplete}) the answer is its value; `submit`
 * (async, optional) runs with it and the dialog stays open showing the server's refusal until it works or the
 * admin cancels. Resolves to the value (or true) when confirmed, null when cancelled.
 */
export function ask({ title, message = "", input = null, confirm = t("admOk"), danger = false, submit = null }) {
  const dialog = document.getElementById("admin-dialog");
  const form = dialog.querySelector("form");
  const field = dialog.querySelector("#admin-dialog-input");
  const label = dialog.querySelector("label");
  const error = dialog.querySelector(".dialog-error");
  const ok = dialog.querySelector('[data-testid="dialog-ok"]');
  dialog.querySelector("h2").textContent = title;
  dialog.querySelector(".dialog-message").textContent = message;
  label.hidden = field.hidden = !input;
  field.value = "";
  if (input) {
    label.textContent = input.label || "";
    field.type = input.type || "text";
    field.autocomplete = input.autocomplete || "off";
    field.required = true;
  } else {
    field.required = false;
  }
  error.textContent = "";
  ok.textContent = confirm;
  ok.classList.toggle("danger", danger);
  dialog.querySelector('[data-testid="dialog-cancel"]').textContent = t("admCancel");
  return new Promise((resolve) => {
    const finish = (value) => {
      form.removeEventListener("submit", onSubmit);
      dialog.removeEventListener("cancel", onCancel);
      cancelButton.removeEventListener("click", onCancel);
      field.value = "";
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = async (event) => {
      event.preventDefault();
      const value = input ? field.value : true;
      if (!submit) { finish(value); return; }
      ok.disabled = true;
      error.textContent = "";
      try {
        await submit(value);
        finish(value);
      } catch (err) {
        error.textContent = describe(err);
      } finally {
        ok.disabled = false;
      }
    };
    const onCancel = (event) => { event.preventDefault(); finish(null); };
    const cancelButton = dialog.querySelector('[data-testid="dialog-cancel"]');
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("cancel", onCancel);
    cancelButton.addEventListener("click", onCancel);
    dialog.showModal();
    (input ? field : ok).focus();
  });
}
