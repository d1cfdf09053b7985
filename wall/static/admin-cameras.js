// Camera health: every camera with its stream state, measured fps and bitrate, GOP, reconnects, viewers and the
// last error (the server has already replaced any camera URL in it). Refreshed every few seconds while shown.
import { addWords, applyWords, t } from "./i18n.js";
import { call, describe, el, fillRows, formatDuration, formatNumber, formatTime, showMessage } from "./admin-common.js";

addWords({
  "zh-CN": {
    admRefreshed: "更新于", admCameraId: "编号", admCameraName: "名称", admGroup: "分组", admSince: "持续",
    admBitrate: "码率 kbps", admReconnects: "重连", admStream: "码流", admViewers: "观看", admAnalysed: "智能分析",
    admLastError: "最近错误", admSceneMoved: "画面偏离预置位", admNoCamerasConfigured: "没有摄像机",
  },
  en: {
    admRefreshed: "Updated", admCameraId: "Id", admCameraName: "Name", admGroup: "Group", admSince: "For",
    admBitrate: "kbps", admReconnects: "Reconnects", admStream: "Stream", admViewers: "Viewers",
    admAnalysed: "Analytics", admLastError: "Last error", admSceneMoved: "view off its preset",
    admNoCamerasConfigured: "No cameras",
  },
});

const REFRESH_MS = 3000;
let root;
let cameras = [];
let timer = null;
let fetchedAt = null;

async function load() {
  try {
    cameras = await call("/api/cameras");
    fetchedAt = new Date();
  } catch (error) {
    showMessage(describe(error), "error");
  }
  render();
}

function stream(cam) {
  const parts = [cam.codec, cam.profile, cam.width && cam.height ? `${cam.width}×${cam.height}` : null];
  return parts.filter(Boolean).join(" ") || "—";
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
      el("td", { className: error ? "error-text" : "", testid: "camera-error", text: error || "—", title: error }),
    ]);
  });
  fillRows(root.querySelector("#camera-rows"), rows, 13, "admNoCamerasConfigured");
  root.querySelector("#camera-refreshed").textContent = fetchedAt ? formatTime(fetchedAt.toISOString()) : "—";
  applyWords(root);
}

export default {
  mount(section) {
    root = section;
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
