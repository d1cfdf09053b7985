// What the camera editor (admin-cameras.js) and the zone editor (admin-zones.js) share: calls to the editor API
// that keep the server's list of problems ("key.path: reason", one per line) so a form can show each of them,
// and that list rendered as text only (a reason may quote what the admin typed: never HTML).
import { api } from "./nav.js";
import { addWords, t } from "./i18n.js";
import { ApiError, describe, detailText, el } from "./admin-common.js";

addWords({
  "zh-CN": { edProblems: "无法保存：", edWorking: "处理中…" },
  en: { edProblems: "Not saved: ", edWorking: "Working…" },
});

/** A refusal of the editor API with its `problems` (empty when the server gave only a reason). */
export class EditorError extends ApiError {
  constructor(status, message, problems) {
    super(status, message);
    this.problems = problems;
  }
}

/** Call the API: the parsed JSON, or an EditorError carrying the server's problems. */
export async function send(path, { method = "GET", json, query } = {}) {
  const url = query ? `${path}?${new URLSearchParams(query)}` : path;
  let res;
  try {
    res = await api(url, json === undefined ? { method } : { method, json });
  } catch (_) {
    throw new EditorError(0, t("admErrNetwork"), []);
  }
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const problems = body && Array.isArray(body.problems) ? body.problems : [];
    throw new EditorError(res.status, (body && detailText(body.detail)) || res.statusText, problems);
  }
  return body;
}

/** Show a refusal in a form's problem list: one item per problem, or the one reason. Empty list: clear it. */
export function showProblems(list, error = null) {
  list.replaceChildren();
  if (!error) return;
  const lines = error instanceof EditorError && error.problems.length ? error.problems : [describe(error)];
  list.append(el("li", { className: "lead", text: t("edProblems") }));
  for (const line of lines) list.append(el("li", { testid: "problem", text: line }));
}

/** A labelled form field: `<label><span>words</span>control</label>`. */
export function field(key, control, extra = {}) {
  return el("label", { className: extra.className || "", dataset: extra.dataset || {} },
    [el("span", { i18n: key }), control]);
}

/** Local time of a Unix timestamp as HH:MM:SS (the hall reads local time). */
export function clock(seconds) {
  const d = new Date(seconds * 1000);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}
