// Case delivery: the outbox of confirmed cases going to the city's case platform — pending (with the next
// attempt), sent, and dead letters with their last error and a retry button (attempts start again). Refreshed
// every few seconds while shown; a site without a platform says so instead of showing an error.
import { addWords, applyWords, t } from "./i18n.js";
import { ApiError, act, call, describe, el, fillRows, formatTime, showMessage } from "./admin-common.js";

addWords({
  "zh-CN": {
    admStatus: "状态", admOutboxPending: "待发送", admOutboxSent: "已送达", admOutboxDead: "发送失败",
    admOutboxNone: "本站未配置案件平台（server.yaml 的 platform:），确认的案件只保存在本地。", admCase: "案件",
    admAttempts: "尝试次数", admNextAttempt: "下次尝试", admSentAt: "送达时间", admRetry: "重试",
    admNoOutbox: "没有推送记录", admRetried: "已重新排队发送",
    admKindConfirmed: "确认立案", admKindCheck: "视频核查", admKindClosed: "结案", admCameraCheck: "点位核查",
  },
  en: {
    admStatus: "Status", admOutboxPending: "pending", admOutboxSent: "sent", admOutboxDead: "dead letter",
    admOutboxNone: "No case platform is configured (server.yaml platform:): confirmed cases stay local.",
    admCase: "Case", admAttempts: "Attempts", admNextAttempt: "Next attempt", admSentAt: "Sent",
    admRetry: "Retry", admNoOutbox: "No deliveries", admRetried: "Queued for delivery again",
    admKindConfirmed: "case confirmed", admKindCheck: "video check", admKindClosed: "case closed",
    admCameraCheck: "camera check",
  },
});

const REFRESH_MS = 4000;
const STATUS_WORD = { pending: "admOutboxPending", sent: "admOutboxSent", dead: "admOutboxDead" };
const KIND_WORD = { case_confirmed: "admKindConfirmed", video_check: "admKindCheck", case_closed: "admKindClosed" };
let root;
let items = [];
let configured = true;
let timer = null;

async function load() {
  const status = root.querySelector("#outbox-status").value;
  try {
    items = await call(`/api/outbox${status ? `?status=${status}` : ""}`);
    configured = true;
  } catch (error) {
    items = [];
    if (error instanceof ApiError && error.status === 404) configured = false;
    else showMessage(describe(error), "error");
  }
  render();
}

async function retry(button, message) {
  const url = `/api/outbox/${message.id}/retry`;
  if (await act(button, () => call(url, { method: "POST" }), `${t("admRetried")}: #${message.id}`)) await load();
}

function render() {
  root.querySelector("#outbox-none").hidden = configured;
  const counts = {};
  for (const m of items) counts[m.status] = (counts[m.status] || 0) + 1;
  root.querySelector("#outbox-counts").textContent = Object.keys(STATUS_WORD)
    .filter((s) => counts[s]).map((s) => `${t(STATUS_WORD[s])} ${counts[s]}`).join(" · ");
  const rows = items.map((m) => el("tr", { testid: "outbox-row", className: m.status,
    dataset: { id: String(m.id), case: m.case_id == null ? "" : String(m.case_id), kind: m.kind,
      status: m.status } }, [
    el("td", { className: "num", text: String(m.id) }),
    // the message's case and kind; a check the platform asked of a camera (no case) says so instead of "#null"
    el("td", { className: "num", testid: "outbox-case" }, [
      el("span", { text: m.case_id == null ? t("admCameraCheck") : `#${m.case_id}` }),
      el("small", { className: "kind", text: ` ${t(KIND_WORD[m.kind] || m.kind)}` })]),
    el("td", {}, [el("span", { className: `badge ${m.status}`, testid: "outbox-status-badge",
      text: t(STATUS_WORD[m.status] || m.status) })]),
    el("td", { className: "num", text: String(m.attempts) }),
    el("td", { className: m.last_error ? "error-text" : "", testid: "outbox-error", text: m.last_error || "—",
      title: m.last_error || "" }),
    el("td", { text: m.status === "pending" ? formatTime(m.next_attempt_at) : "—" }),
    el("td", { text: formatTime(m.sent_at) }),
    el("td", { className: "actions" }, [m.status === "dead"
      ? el("button", { i18n: "admRetry", testid: "outbox-retry", attrs: { type: "button" },
        on: { click: (e) => retry(e.target, m) } }) : null]),
  ]));
  fillRows(root.querySelector("#outbox-rows"), rows, 8, "admNoOutbox");
  applyWords(root);
}

export default {
  mount(section) {
    root = section;
    root.querySelector("#outbox-status").addEventListener("change", load);
  },
  show() {
    load();
    timer = setInterval(load, REFRESH_MS);
  },
  hide() {
    clearInterval(timer);
    timer = null;
  },
  render,
};
