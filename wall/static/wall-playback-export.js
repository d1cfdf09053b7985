// Export (导出) from the playback panel (wall-playback.js): [in, out] of the recording as one MP4, downloaded. An
// H.265 recording in a browser that cannot play it is asked for as H.264 (codec=h264), which the server makes whole
// before it answers: that one is fetched, so that a busy server (503, recording.max_transcodes) is said in the panel
// rather than a failed download, and closing the panel meanwhile aborts it — the server then stops the re-encode
// and frees its transcode slot (panel.exporting is what the panel's close() aborts).
import { t } from "./i18n.js";
import { api } from "./nav.js";

/** Download [in, out] (default: a minute around what is on screen); H.264 when this browser cannot play it. */
export async function exportRange(panel) {
  const wall = panel.now();
  if (wall === null) return;
  let start = panel.markIn !== null ? panel.markIn : wall - 30;
  let end = panel.markOut !== null ? panel.markOut : wall + 30;
  if (end < start) [start, end] = [end, start];
  const params = new URLSearchParams({ start: String(start), end: String(end) });
  if (panel.h264) params.set("codec", "h264");  // what this browser plays (the recording stays H.265)
  const a = document.createElement("a");
  a.href = `/api/playback/${encodeURIComponent(panel.camera)}/export.mp4?${params}`;
  a.download = "";
  if (panel.h264) {  // made whole before the answer: fetched, so that a busy server is said, not a failed download
    panel.note(t("pbExporting"));
    panel.exporting = new AbortController();  // 返回实时 meanwhile stops it: the server frees its transcode slot
    const res = await api(a.href, { signal: panel.exporting.signal }).catch(() => null);
    if (!res) return;  // aborted (the panel closed) or the network failed: nothing to download
    if (!res.ok) {
      const wait = Number(res.headers.get("Retry-After")) || 5;
      panel.note(res.status === 503 ? t("pbBusyExport").replace("{n}", wait) : `${t("failed")} (${res.status})`);
      return;
    }
    const named = /filename="?([^";]+)"?/.exec(res.headers.get("Content-Disposition") || "");
    a.download = named ? named[1] : `${panel.camera}.mp4`;
    a.href = URL.createObjectURL(await res.blob());
    panel.note("");
  }
  document.body.appendChild(a);
  a.click();
  a.remove();
  if (a.href.startsWith("blob:")) setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}
