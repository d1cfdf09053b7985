// The audit log: filters (user, action or action prefix, target, time range, success), newest first, paged; the
// CSV link always carries the same filters, so what is exported is what is shown (every page of it).
import { addWords, applyWords, t } from "./i18n.js";
import { call, describe, el, fillRows, formatTime, showMessage } from "./admin-common.js";

addWords({
  "zh-CN": {
    admUser: "用户", admAction: "操作", admActionRule: "完整操作名，或以 . 或 * 结尾的前缀（如 user.）",
    admTarget: "对象", admFrom: "开始时间", admUntil: "结束时间", admResult: "结果", admAny: "全部",
    admSucceeded: "成功", admFailed: "失败", admSearch: "查询", admReset: "重置", admExportCsv: "导出 CSV",
    admTime: "时间", admDetail: "详情", admPrev: "上一页", admNext: "下一页", admNoAudit: "没有匹配的记录",
    admAuditRange: "第 {from}–{to} 条，共 {total} 条",
  },
  en: {
    admUser: "User", admAction: "Action", admActionRule: "an action, or a prefix ending in . or * (e.g. user.)",
    admTarget: "Target", admFrom: "From", admUntil: "Until", admResult: "Result", admAny: "any",
    admSucceeded: "succeeded", admFailed: "failed", admSearch: "Search", admReset: "Reset",
    admExportCsv: "Export CSV", admTime: "Time", admDetail: "Detail", admPrev: "Previous", admNext: "Next",
    admNoAudit: "No matching entries", admAuditRange: "{from}–{to} of {total}",
  },
});

// Actions the service writes (datalist suggestions; the filter takes any text).
const ACTIONS = ["login", "logout", "lockout", "session.end", "session.expire", "user.", "user.create", "user.lock",
  "user.unlock", "user.password", "user.role", "user.disable", "user.enable", "group.", "group.create",
  "group.update", "group.rename", "group.delete", "grant.", "grant.create", "grant.delete", "live.", "wall.",
  "case_*", "outbox_retry", "audit.export", "audit.purge"];
const PAGE_SIZE = 50;

let root;
let form;
let page = { total: 0, items: [] };
let offset = 0;

/** The filters as query parameters: empty fields left out, local datetime-local values sent as UTC. */
function filters() {
  const params = new URLSearchParams();
  for (const name of ["user", "action", "target"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  for (const name of ["since", "until"]) {
    const value = form.elements[name].value;
    const time = value ? new Date(value) : null;
    if (time && !Number.isNaN(time.getTime())) params.set(name, time.toISOString());
  }
  if (form.elements.success.value) params.set("success", form.elements.success.value);
  return params;
}

async function load() {
  const params = filters();
  root.querySelector("#audit-csv").href = `/api/audit.csv${params.size ? `?${params}` : ""}`;
  params.set("limit", String(PAGE_SIZE));
  params.set("offset", String(offset));
  try {
    page = await call(`/api/audit?${params}`);
  } catch (error) {
    page = { total: 0, items: [] };
    showMessage(describe(error), "error");
  }
  render();
}

function detail(value) {
  if (!value) return "";
  return Object.entries(value).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
}

function render() {
  const rows = page.items.map((entry) => el("tr", { testid: "audit-row", className: entry.success ? "" : "failed",
    dataset: { action: entry.action, user: entry.user || "", target: entry.target || "",
      success: String(entry.success) } }, [
    el("td", { className: "time", text: formatTime(entry.time) }), el("td", { text: entry.user || "—" }),
    el("td", { className: "mono", text: entry.action }), el("td", { text: entry.target || "—" }),
    el("td", {}, [el("span", { className: `badge ${entry.success ? "ok" : "bad"}`,
      text: t(entry.success ? "admSucceeded" : "admFailed") })]),
    el("td", { className: "mono", text: entry.address || "—" }),
    el("td", { className: "detail-text", text: detail(entry.detail), title: detail(entry.detail) }),
  ]));
  fillRows(root.querySelector("#audit-rows"), rows, 7, "admNoAudit");
  const from = page.items.length ? offset + 1 : 0;
  root.querySelector("#audit-total").textContent = t("admAuditRange").replace("{from}", from)
    .replace("{to}", offset + page.items.length).replace("{total}", page.total);
  root.querySelector("#audit-prev").disabled = offset === 0;
  root.querySelector("#audit-next").disabled = offset + page.items.length >= page.total;
  applyWords(root);
}

export default {
  mount(section) {
    root = section;
    form = root.querySelector("#audit-filter");
    root.querySelector("#audit-actions").replaceChildren(...ACTIONS.map((a) => el("option", { attrs: { value: a } })));
    form.addEventListener("submit", (event) => { event.preventDefault(); offset = 0; load(); });
    form.addEventListener("reset", () => setTimeout(() => { offset = 0; load(); }));
    root.querySelector("#audit-prev").addEventListener("click", () => {
      offset = Math.max(0, offset - PAGE_SIZE);
      load();
    });
    root.querySelector("#audit-next").addEventListener("click", () => { offset += PAGE_SIZE; load(); });
  },
  show: load,
  hide() {},
  render,
};
