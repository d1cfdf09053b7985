// Cameras: every camera with its stream state, measured fps and bitrate, GOP, reconnects, viewers and the last
// error (the server has already replaced any camera URL in it), refreshed every few seconds while shown — and the
// camera editor: add a camera or edit one (cameras.yaml is written by the server, its comments kept). A stream
// URL carries the video network's credentials, so it is write-only: the page only learns whether one is set, an
// empty URL field keeps the saved one, and "Check stream" probes a typed URL (or the saved one) the way
// `citywall probe` does. Saving probes a new URL first and refuses a stream that does not open, unless the admin
// saves it anyway as offline.
import { addWords, applyWords, t } from "./i18n.js";
import { call, describe, el, fillRows, formatDuration, formatNumber, formatTime, showMessage } from "./admin-common.js";
import { EditorError, field, send, showProblems } from "./admin-editor.js";

addWords({
  "zh-CN": {
    admRefreshed: "更新于", admCameraId: "编号", admCameraName: "名称", admGroup: "分组", admSince: "持续",
    admBitrate: "码率 kbps", admReconnects: "重连", admStream: "码流", admViewers: "观看", admAnalysed: "智能分析",
    admLastError: "最近错误", admSceneMoved: "画面偏离预置位", admNoCamerasConfigured: "没有摄像机",
    admNode: "节点", admNodeWaiting: "等待分配",
    camAdd: "添加摄像机", camEdit: "编辑", camNew: "添加摄像机", camEditing: "编辑摄像机：", camUrl: "子码流地址",
    camMainUrl: "主码流地址（可选）", camUrlSet: "已设置（留空则保持不变）", camUrlNone: "rtsp://用户:${变量}@地址/…",
    camRemoveMain: "删除主码流", camNationalId: "国标编码（20 位）", camGridCode: "单元网格编码", camStreet: "街道",
    camCommunity: "社区", camAddress: "地址", camLon: "经度", camLat: "纬度", camInterval: "分析间隔（秒）",
    camEnabled: "启用", camProbe: "检测码流", camProbing: "检测中…", camSave: "保存", camSaveOffline: "仍然保存（离线）",
    camCancel: "取消", camSaved: "摄像机已保存", camRestarted: "，码流已重新连接", camDisabled: "已停用",
    camProbeFailed: "无法打开", camUrlHint: "地址只写不读：密码请用 ${变量} 引用环境变量。",
  },
  en: {
    admRefreshed: "Updated", admCameraId: "Id", admCameraName: "Name", admGroup: "Group", admSince: "For",
    admBitrate: "kbps", admReconnects: "Reconnects", admStream: "Stream", admViewers: "Viewers",
    admAnalysed: "Analytics", admLastError: "Last error", admSceneMoved: "view off its preset",
    admNoCamerasConfigured: "No cameras", admNode: "Node", admNodeWaiting: "waiting for a worker",
    camAdd: "Add camera", camEdit: "Edit", camNew: "New camera", camEditing: "Edit camera: ", camUrl: "Sub-stream URL",
    camMainUrl: "Main-stream URL (optional)", camUrlSet: "set (leave empty to keep it)",
    camUrlNone: "rtsp://user:${VAR}@host/…", camRemoveMain: "Remove the main stream",
    camNationalId: "National id (20 digits)", camGridCode: "Unit-grid code", camStreet: "Street",
    camCommunity: "Community", camAddress: "Address", camLon: "Longitude", camLat: "Latitude",
    camInterval: "Analysis interval (s)", camEnabled: "Enabled", camProbe: "Check stream", camProbing: "Checking…",
    camSave: "Save", camSaveOffline: "Save anyway (offline)", camCancel: "Cancel", camSaved: "Camera saved",
    camRestarted: "; its stream reconnected", camDisabled: "disabled", camProbeFailed: "cannot open",
    camUrlHint: "URLs are write-only: put passwords in the environment as ${VAR} references.",
  },
});

const REFRESH_MS = 3000;
const TEXT_FIELDS = [
  ["name", "admCameraName"], ["group", "admGroup"], ["national_id", "camNationalId"], ["grid_code", "camGridCode"],
  ["street", "camStreet"], ["community", "camCommunity"], ["address", "camAddress"],
];
const NUMBER_FIELDS = [["lon", "camLon"], ["lat", "camLat"], ["analysis_interval", "camInterval"]];
let root;
let cameras = [];
let configs = [];
let timer = null;
let fetchedAt = null;
let form;
let editing = null; // the config of the camera in the form, or null when it adds one

async function load() {
  try {
    cameras = await call("/api/cameras");
    fetchedAt = new Date();
  } catch (error) {
    showMessage(describe(error), "error");
  }
  render();
}

async function loadConfigs() {
  try {
    configs = await call("/api/config/cameras");
  } catch (error) {
    showMessage(describe(error), "error");
  }
  render();
}

function stream(cam) {
  const parts = [cam.codec, cam.profile, cam.width && cam.height ? `${cam.width}×${cam.height}` : null];
  return parts.filter(Boolean).join(" ") || "—";
}

// Cluster mode: where the camera runs — the node's address and short id, the worker in the tooltip. A camera
// without a worker (just configured, or its worker gone) waits for one.
function nodeCell(cam) {
  const text = cam.node ? [cam.node_ip, cam.node].filter(Boolean).join(" · ") : t("admNodeWaiting");
  return el("td", { className: "node mono", testid: "camera-node", dataset: { worker: cam.worker || "" }, text,
    title: cam.worker ? `worker ${cam.worker}` : "" });
}

function editButton(id) {
  return el("td", { className: "actions" }, [el("button", { testid: "camera-edit", dataset: { camera: id },
    i18n: "camEdit", attrs: { type: "button" }, on: { click: () => openForm(configs.find((c) => c.id === id)) } })]);
}

function render() {
  const now = Date.now() / 1000;
  const rows = cameras.map((cam) => {
    const analysed = cam.analysed ? t("admYes") + (cam.scene_moved ? ` · ${t("admSceneMoved")}` : "") : t("admNo");
    const error = cam.last_error ? `${cam.last_error_kind ? `[${cam.last_error_kind}] ` : ""}${cam.last_error}` : "";
    return el("tr", { testid: "camera-row", dataset: { camera: cam.id, state: cam.state } }, [
      el("td", { className: "mono", text: cam.id }), el("td", { text: cam.name }), el("td", { text: cam.group || "—" }),
      el("td", {}, [el("span", { className: `state ${cam.state}`, testid: "camera-state", text: t(cam.state) })]),
      el("td", { text: formatDuration(now - cam.since) }),
      el("td", { className: "num", testid: "camera-fps", text: formatNumber(cam.fps) }),
      el("td", { className: "num", testid: "camera-bitrate", text: formatNumber(cam.bitrate_kbps, 0) }),
      el("td", { className: "num", text: formatNumber(cam.gop_seconds) }),
      el("td", { className: "num", testid: "camera-reconnects", text: String(cam.reconnects) }),
      el("td", { text: stream(cam) }),
      el("td", { className: "num", testid: "camera-viewers", text: String(cam.viewers) }),
      el("td", { text: analysed }),
      nodeCell(cam),
      el("td", { className: error ? "error-text" : "", testid: "camera-error", text: error || "—", title: error }),
      editButton(cam.id),
    ]);
  });
  const running = new Set(cameras.map((c) => c.id));
  for (const cfg of configs.filter((c) => !running.has(c.id) && !c.enabled)) {
    rows.push(el("tr", { testid: "camera-row", className: "disabled", dataset: { camera: cfg.id, state: "disabled" } }, [
      el("td", { className: "mono", text: cfg.id }), el("td", { text: cfg.name || "" }),
      el("td", { text: cfg.group || "—" }),
      el("td", {}, [el("span", { className: "state", testid: "camera-state", i18n: "camDisabled" })]),
      ...Array.from({ length: 9 }, () => el("td", { text: "—" })), el("td", { className: "node", text: "—" }),
      editButton(cfg.id),
    ]));
  }
  // On one box no camera has a worker: the node column stays hidden (admin.css).
  root.querySelector("table.cameras").classList.toggle("clustered", cameras.some((c) => c.worker));
  fillRows(root.querySelector("#camera-rows"), rows, 15, "admNoCamerasConfigured");
  root.querySelector("#camera-refreshed").textContent = fetchedAt ? formatTime(fetchedAt.toISOString()) : "—";
  applyWords(root);
}

// -- the editor ----------------------------------------------------------------------------------------------------

function input(name, attrs = {}) {
  return el("input", { testid: `camera-field-${name}`, attrs: { name, autocomplete: "off", spellcheck: "false",
    ...attrs } });
}

function buildForm() {
  form = el("form", { className: "camera-form", testid: "camera-form", attrs: { autocomplete: "off", hidden: true } }, [
    el("h3", { testid: "camera-form-title" }),
    el("div", { className: "grid" }, [
      field("admCameraId", input("id", { required: true, maxlength: "64", pattern: "[a-z0-9][a-z0-9_\\-]{0,63}" })),
      ...TEXT_FIELDS.map(([name, key]) => field(key, input(name, { maxlength: "120" }))),
      field("camUrl", input("url", { maxlength: "2048" }), { className: "wide" }),
      field("camMainUrl", input("main_url", { maxlength: "2048" }), { className: "wide" }),
      ...NUMBER_FIELDS.map(([name, key]) => field(key, input(name, { type: "number", step: "any" }))),
    ]),
    el("label", { className: "check", dataset: { for: "remove-main" } }, [
      input("remove_main", { type: "checkbox" }), el("span", { i18n: "camRemoveMain" })]),
    el("label", { className: "check" }, [input("enabled", { type: "checkbox" }), el("span", { i18n: "camEnabled" })]),
    el("p", { className: "hint", i18n: "camUrlHint" }),
    el("p", { className: "probe-result", testid: "camera-probe-result", attrs: { hidden: true } }),
    el("div", { className: "buttons" }, [
      el("button", { testid: "camera-probe", i18n: "camProbe", attrs: { type: "button" }, on: { click: probe } }),
      el("button", { className: "primary", testid: "camera-save", i18n: "camSave", attrs: { type: "submit" } }),
      el("button", { testid: "camera-save-offline", i18n: "camSaveOffline", attrs: { type: "button", hidden: true },
        on: { click: () => save(true) } }),
      el("button", { testid: "camera-cancel", i18n: "camCancel", attrs: { type: "button" }, on: { click: closeForm } }),
    ]),
    el("ul", { className: "form-error", testid: "camera-form-error", attrs: { role: "alert" } }),
  ]);
  form.addEventListener("submit", (event) => { event.preventDefault(); save(false); });
  const toolbar = el("div", { className: "toolbar" }, [
    el("button", { className: "primary", testid: "camera-add", i18n: "camAdd", attrs: { type: "button" },
      on: { click: () => openForm(null) } })]);
  root.querySelector("h2").after(toolbar, form);
}

function openForm(config) {
  editing = config || null;
  const f = form.elements;
  form.reset();
  f.id.value = config ? config.id : "";
  f.id.readOnly = Boolean(config);
  for (const [name] of [...TEXT_FIELDS, ...NUMBER_FIELDS]) {
    const value = config ? config[name] : null;
    f[name].value = value === null || value === undefined ? "" : String(value);
  }
  if (!config) f.analysis_interval.value = "2";
  f.enabled.checked = config ? config.enabled : true;
  f.url.required = !config;
  f.url.placeholder = config && config.url_set ? t("camUrlSet") : t("camUrlNone");
  f.main_url.placeholder = config && config.main_url_set ? t("camUrlSet") : "";
  form.querySelector('[data-for="remove-main"]').hidden = !(config && config.main_url_set);
  const title = form.querySelector("h3");
  title.textContent = config ? `${t("camEditing")}${config.id}` : t("camNew");
  form.querySelector('[data-testid="camera-save-offline"]').hidden = true;
  form.querySelector('[data-testid="camera-probe-result"]').hidden = true;
  showProblems(form.querySelector('[data-testid="camera-form-error"]'));
  form.hidden = false;
  applyWords(form);
  (config ? f.name : f.id).focus();
}

function closeForm() {
  form.hidden = true;
  editing = null;
}

/** What to send: a new camera's filled fields, or only what an edit changed (an empty URL keeps the saved one). */
function body() {
  const f = form.elements;
  const out = {};
  for (const [name] of TEXT_FIELDS) {
    const value = f[name].value.trim();
    const before = editing ? editing[name] ?? null : null;
    if (!editing && value) out[name] = value;
    if (editing && value !== (before === null ? "" : String(before))) out[name] = value || null;
  }
  for (const [name] of NUMBER_FIELDS) {
    const raw = f[name].value.trim();
    const value = raw === "" ? null : Number(raw);
    const before = editing ? editing[name] ?? null : null;
    if (!editing && value !== null) out[name] = value;
    if (editing && value !== before) out[name] = value;
  }
  if (f.url.value.trim()) out.url = f.url.value.trim();
  if (f.main_url.value.trim()) out.main_url = f.main_url.value.trim();
  else if (editing && f.remove_main.checked) out.main_url = null;
  if (!editing || f.enabled.checked !== editing.enabled) out.enabled = f.enabled.checked;
  if (!editing) out.id = f.id.value.trim();
  return out;
}

function showProbe(result) {
  const line = form.querySelector('[data-testid="camera-probe-result"]');
  line.hidden = false;
  line.dataset.ok = result.ok ? "1" : "0";
  line.textContent = result.ok
    ? [result.codec, result.profile, result.width && `${result.width}×${result.height}`,
      result.fps && `${Number(result.fps).toFixed(1)} fps`,
      result.gop_seconds && `GOP ${Number(result.gop_seconds).toFixed(1)} s`,
      result.bitrate_kbps && `${Math.round(result.bitrate_kbps)} kbps`].filter(Boolean).join(" · ")
    : `${t("camProbeFailed")}: [${result.error_kind}] ${result.error || ""}`;
}

async function probe(event) {
  const button = event.currentTarget;
  const url = form.elements.url.value.trim();
  const errors = form.querySelector('[data-testid="camera-form-error"]');
  showProblems(errors);
  if (!url && !editing) { form.elements.url.reportValidity(); return; }
  button.disabled = true;
  const line = form.querySelector('[data-testid="camera-probe-result"]');
  line.hidden = false;
  line.dataset.ok = "";
  line.textContent = t("camProbing");
  try {
    showProbe(await send("/api/config/cameras/probe", { method: "POST",
      json: url ? { url } : { camera: editing.id } }));
  } catch (error) {
    line.hidden = true;
    showProblems(errors, error);
  } finally {
    button.disabled = false;
  }
}

async function save(offline) {
  const errors = form.querySelector('[data-testid="camera-form-error"]');
  const offlineButton = form.querySelector('[data-testid="camera-save-offline"]');
  showProblems(errors);
  const saveButton = form.querySelector('[data-testid="camera-save"]');
  saveButton.disabled = true;
  try {
    const path = editing ? `/api/config/cameras/${encodeURIComponent(editing.id)}` : "/api/config/cameras";
    const saved = await send(path, { method: editing ? "PUT" : "POST", json: body(),
      query: offline ? { offline: "true" } : undefined });
    if (saved.probe) showProbe(saved.probe);
    showMessage(t("camSaved") + (editing && saved.restarted ? t("camRestarted") : ""), "ok");
    closeForm();
    await Promise.all([load(), loadConfigs()]);
  } catch (error) {
    showProblems(errors, error);
    const probeFailed = error instanceof EditorError && error.problems.some((p) => p.startsWith("url: the stream"));
    offlineButton.hidden = !probeFailed;
  } finally {
    saveButton.disabled = false;
  }
}

export default {
  mount(section) {
    root = section;
    buildForm();
  },
  show() {
    load();
    loadConfigs();
    timer = setInterval(load, REFRESH_MS);
  },
  hide() {
    clearInterval(timer);
    timer = null;
  },
  render,
};
