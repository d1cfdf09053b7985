// The statistics page (/stats, 综合评价): GET /api/stats for the filter, drawn as total cards, two plain SVG
// charts (cases per period, stacked by outcome; cases and AI precision per group) and two tables; the CSV link
// carries the same filter to /api/stats.csv. The server does every sum and median and applies the user's camera
// grants; this page only draws. Periods are cut in the hall's time zone when the site sets hall.time_zone (the
// page then sends its dates as the hall's dates, since_date/until_date, and its default range ends on the hall's
// today, from /api/stats/clock); without it, in the browser's own UTC offset (utc_offset), as before.
import { addWords, applyWords, currentLang, t } from "./i18n.js";
import { api, may, startPage } from "./nav.js";

addWords({
  "zh-CN": {
    statsTitle: "综合评价", statsPeriod: "周期", statsDay: "按日", statsWeek: "按周", statsMonth: "按月",
    statsBy: "分组", statsByNone: "不分组", statsByStreet: "街道", statsByCommunity: "社区", statsByCamera: "摄像机",
    statsByCode: "事件类型", statsBySource: "来源", statsSince: "起始日期", statsUntil: "截止日期",
    statsRefresh: "查询", statsCsv: "导出 CSV", statsRaised: "发现", statsConfirmed: "确认立案",
    statsRejected: "驳回", statsMerged: "合并", statsPending: "待审核", statsPrecision: "AI 准确率",
    statsMedianDecision: "审核用时（中位）", statsMedianClear: "派遣至核查消除（中位）", statsOverdue: "超期",
    statsPerPeriod: "各周期案件", statsPerGroup: "各分组案件与 AI 准确率", statsGroups: "分组汇总",
    statsRows: "各周期明细", statsReasons: "驳回原因", statsDispatched: "已派遣", statsCleared: "核查消除",
    statsGroup: "分组", statsPeriodCol: "周期", statsNone: "（未填）", statsNoAccess: "无权查看统计",
    statsFailed: "统计查询失败：", statsEmpty: "所选范围内没有案件", statsNoDeadlines: "—",
    statsSource_ai: "AI 发现", statsSource_patrol: "视频巡查", statsAll: "合计",
    statsSec: "秒", statsMin: "分", statsHour: "小时", statsZone: "时区：",
  },
  en: {
    statsTitle: "Statistics", statsPeriod: "Period", statsDay: "Daily", statsWeek: "Weekly", statsMonth: "Monthly",
    statsBy: "Group by", statsByNone: "No grouping", statsByStreet: "Street", statsByCommunity: "Community",
    statsByCamera: "Camera", statsByCode: "Event type", statsBySource: "Source", statsSince: "From",
    statsUntil: "To", statsRefresh: "Show", statsCsv: "Download CSV", statsRaised: "Raised",
    statsConfirmed: "Confirmed", statsRejected: "Rejected", statsMerged: "Merged", statsPending: "Pending",
    statsPrecision: "AI precision", statsMedianDecision: "Time to decision (median)",
    statsMedianClear: "Dispatch to cleared (median)", statsOverdue: "Overdue", statsPerPeriod: "Cases per period",
    statsPerGroup: "Cases and AI precision per group", statsGroups: "Per group", statsRows: "Per period",
    statsReasons: "Reject reasons", statsDispatched: "Dispatched", statsCleared: "Cleared on video",
    statsGroup: "Group", statsPeriodCol: "Period", statsNone: "(not set)", statsNoAccess: "No access to statistics",
    statsFailed: "Statistics failed: ", statsEmpty: "No cases in this range", statsNoDeadlines: "—",
    statsSource_ai: "AI", statsSource_patrol: "Video patrol", statsAll: "Total",
    statsSec: "s", statsMin: "min", statsHour: "h", statsZone: "Time zone: ",
  },
});

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const OUTCOMES = ["confirmed", "rejected", "merged", "pending"];
let report = null;
let reasonNames = {};
let hall = { time_zone: null, today: null }; // GET /api/stats/clock: the hall's zone and its today

// -- the filter -------------------------------------------------------------------------------------------------

const day = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

function defaultRange(period) {
  const [ty, tm, td] = (hall.today || "").split("-").map(Number);
  const until = hall.today ? new Date(ty, tm - 1, td) : new Date(); // a calendar day, whatever the browser's zone
  const since = new Date(until);
  if (period === "month") since.setMonth(since.getMonth() - 11, 1);
  else since.setDate(since.getDate() - (period === "week" ? 7 * 12 - 1 : 29));
  return [day(since), day(until)];
}

/** The query string of the filter: with a hall time zone, the hall's dates as they are (the server cuts them in
 * its zone); else local dates → UTC instants (the "to" date is included, so its next day). */
function params() {
  const [sy, sm, sd] = $("f-since").value.split("-").map(Number);
  const [uy, um, ud] = $("f-until").value.split("-").map(Number);
  const q = new URLSearchParams({ period: $("f-period").value });
  if (hall.time_zone) {
    q.set("since_date", $("f-since").value);
    q.set("until_date", $("f-until").value);
  } else {
    q.set("since", new Date(sy, sm - 1, sd).toISOString());
    q.set("until", new Date(uy, um - 1, ud + 1).toISOString());
  }
  q.set("utc_offset", String(-new Date().getTimezoneOffset()));
  if ($("f-by").value) q.set("by", $("f-by").value);
  return q;
}

async function load() {
  if (!$("f-since").value || !$("f-until").value) return;
  const q = params();
  $("csv").href = `/api/stats.csv?${q}`;
  const res = await api(`/api/stats?${q}`);
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    const detail = typeof body.detail === "string" ? body.detail : res.statusText;
    $("notice").textContent = res.status === 403 ? t("statsNoAccess") : t("statsFailed") + detail;
    return;
  }
  report = await res.json();
  draw();
}

// -- words and numbers ------------------------------------------------------------------------------------------

const fmtInt = (n) => (n === null || n === undefined ? t("statsNoDeadlines") : n.toLocaleString(currentLang()));
const fmtPct = (p) => (p === null || p === undefined ? "—" : `${(p * 100).toFixed(1)}%`);

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return `${Math.round(seconds)} ${t("statsSec")}`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} ${t("statsMin")}`;
  return `${(seconds / 3600).toFixed(1)} ${t("statsHour")}`;
}

function groupName(row) {
  if (row.key === null) return t("statsNone");
  if (report.by === "source") {
    const word = t(`statsSource_${row.key}`);
    return word === `statsSource_${row.key}` ? row.key : word;
  }
  if (report.by === "camera" || report.by === "code") return `${row.label} (${row.key})`;
  return row.label || row.key;
}

function reasons(row) {
  return Object.entries(row.rejected_by_reason)
    .map(([key, n]) => `${currentLang() === "en" ? key : reasonNames[key] || key} ${n}`).join("、");
}

// -- the tables -------------------------------------------------------------------------------------------------

const COLUMNS = [
  ["statsRaised", (r) => fmtInt(r.raised)], ["statsConfirmed", (r) => fmtInt(r.confirmed)],
  ["statsRejected", (r) => fmtInt(r.rejected)], ["statsReasons", reasons, "text"],
  ["statsMerged", (r) => fmtInt(r.merged)], ["statsPending", (r) => fmtInt(r.pending)],
  ["statsPrecision", (r) => fmtPct(r.ai_precision)], ["statsMedianDecision", (r) => fmtDuration(r.median_decision_seconds)],
  ["statsDispatched", (r) => fmtInt(r.dispatched)], ["statsCleared", (r) => fmtInt(r.cleared_on_video)],
  ["statsMedianClear", (r) => fmtDuration(r.median_clear_seconds)], ["statsOverdue", (r) => fmtInt(r.overdue)],
];

function fillTable(head, body, lead, rows) {
  head.replaceChildren();
  for (const [key, cls] of [...lead.map((l) => [l[0], "text"]), ...COLUMNS.map((c) => [c[0], c[2]])]) {
    const th = document.createElement("th");
    th.textContent = t(key);
    if (cls) th.className = cls;
    head.appendChild(th);
  }
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const [, cell] of lead) {
      const td = document.createElement("td");
      td.textContent = cell(row);
      tr.appendChild(td);
    }
    for (const [, cell, cls] of COLUMNS) {
      const td = document.createElement("td");
      td.textContent = cell(row);
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

// -- the charts (plain SVG) -------------------------------------------------------------------------------------

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

/** Cases per period, stacked by outcome; every period of the range, empty ones as gaps. */
function drawPeriods(svg) {
  const sums = new Map(report.periods.map((p) => [p, { confirmed: 0, rejected: 0, merged: 0, pending: 0 }]));
  for (const row of report.rows) {
    const sum = sums.get(row.period);
    if (sum) for (const k of OUTCOMES) sum[k] += row[k];
  }
  const W = 1000, H = 220, left = 36, bottom = 22, top = 8;
  const max = Math.max(1, ...[...sums.values()].map((s) => OUTCOMES.reduce((a, k) => a + s[k], 0)));
  const step = (W - left - 4) / Math.max(1, sums.size);
  const scale = (H - top - bottom) / max;
  svg.replaceChildren();
  svg.appendChild(el("line", { class: "axis", x1: left, y1: H - bottom, x2: W, y2: H - bottom }));
  for (const tick of [0, Math.ceil(max / 2), max]) {
    svg.appendChild(el("text", { x: left - 4, y: H - bottom - tick * scale + 4, "text-anchor": "end" }, tick));
  }
  const every = Math.ceil(sums.size / 12);
  [...sums.entries()].forEach(([period, sum], i) => {
    const x = left + i * step + step * 0.15;
    let y = H - bottom;
    for (const k of OUTCOMES) {
      if (!sum[k]) continue;
      const h = sum[k] * scale;
      y -= h;
      const bar = el("rect", { class: k, x: x.toFixed(1), y: y.toFixed(1), width: (step * 0.7).toFixed(1),
        height: h.toFixed(1), "data-period": period });
      bar.appendChild(el("title", {}, `${period} ${t(`stats${k[0].toUpperCase()}${k.slice(1)}`)} ${sum[k]}`));
      svg.appendChild(bar);
    }
    if (i % every === 0) {
      svg.appendChild(el("text", { x: (x + step * 0.35).toFixed(1), y: H - 6, "text-anchor": "middle" },
        report.period === "month" ? period.slice(0, 7) : period.slice(5)));
    }
  });
}

/** One row per group (the 20 largest): a bar of cases raised, and the AI precision beside it. */
function drawGroups(svg) {
  const groups = report.groups.slice(0, 20);
  const W = 1000, row = 22, labelW = 260, barW = 600;
  const H = Math.max(row, groups.length * row + 4);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const max = Math.max(1, ...groups.map((g) => g.raised));
  groups.forEach((g, i) => {
    const y = i * row + 2;
    svg.appendChild(el("text", { x: labelW - 6, y: y + 14, "text-anchor": "end" }, groupName(g).slice(0, 30)));
    const bar = el("rect", { class: "raised", x: labelW, y: y + 3, width: ((g.raised / max) * barW).toFixed(1),
      height: row - 8, "data-key": g.key ?? "" });
    bar.appendChild(el("title", {}, `${groupName(g)}: ${g.raised}`));
    svg.appendChild(bar);
    svg.appendChild(el("text", { class: "value", x: labelW + (g.raised / max) * barW + 6, y: y + 14 },
      `${g.raised} · ${fmtPct(g.ai_precision)}`));
  });
}

function draw() {
  if (!report) return;
  const total = report.total;
  $("t-raised").textContent = fmtInt(total.raised);
  $("t-confirmed").textContent = fmtInt(total.confirmed);
  $("t-rejected").textContent = fmtInt(total.rejected);
  $("t-precision").textContent = fmtPct(total.ai_precision);
  $("t-decision").textContent = fmtDuration(total.median_decision_seconds);
  $("t-clear").textContent = fmtDuration(total.median_clear_seconds);
  $("t-overdue").textContent = fmtInt(total.overdue);
  $("notice").textContent = total.raised ? "" : t("statsEmpty");
  drawPeriods($("chart-periods"));
  const grouped = report.by !== null;
  $("groups-box").hidden = !grouped;
  if (grouped) drawGroups($("chart-groups"));
  const groupRows = grouped ? report.groups : [{ ...total, key: "", label: t("statsAll") }];
  fillTable($("groups-head"), $("groups-body"), [["statsGroup", (r) => (grouped ? groupName(r) : r.label)]],
    groupRows);
  const lead = [["statsPeriodCol", (r) => r.period]];
  if (grouped) lead.push(["statsGroup", groupName]);
  fillTable($("rows-head"), $("rows-body"), lead, report.rows);
}

// -- start ------------------------------------------------------------------------------------------------------

function showZone() {
  $("zone").textContent = hall.time_zone ? t("statsZone") + hall.time_zone : "";
  $("zone").dataset.zone = hall.time_zone || "";
}

async function start() {
  const me = await startPage($("header"), { onLanguage: () => { showZone(); draw(); } });
  if (!me) return;
  if (!may(me, "read_statistics")) {
    $("notice").textContent = t("statsNoAccess");
    $("filters").hidden = true;
    return;
  }
  const clock = await api("/api/stats/clock");
  if (clock.ok) hall = await clock.json();
  showZone();
  const here = new URLSearchParams(location.search);
  if (["day", "week", "month"].includes(here.get("period"))) $("f-period").value = here.get("period");
  if (here.get("by")) $("f-by").value = here.get("by");
  [$("f-since").value, $("f-until").value] = defaultRange($("f-period").value);
  for (const [field, name] of [["f-since", "since"], ["f-until", "until"]]) {
    if (/^\d{4}-\d{2}-\d{2}$/.test(here.get(name) || "")) $(field).value = here.get(name);
  }
  $("f-period").addEventListener("change", () => {
    [$("f-since").value, $("f-until").value] = defaultRange($("f-period").value);
    load();
  });
  $("f-by").addEventListener("change", load);
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  const res = await api("/api/reject-reasons");
  if (res.ok) reasonNames = await res.json();
  applyWords();
  await load();
}

start();
