// The playback panel's times (wall-playback.js): wall times as the operator reads and types them, in local time,
// to the millisecond (a paused frame is told apart from the next one 40 ms later).

/** Whether this browser's MediaSource plays `mime` (X-Mime: an H.265 chunk is not, on most desks). */
export function playable(mime) {
  return Boolean(window.MediaSource && mime && MediaSource.isTypeSupported(mime));
}

function pad(n, width = 2) { return String(n).padStart(width, "0"); }

/** "YYYY-MM-DD HH:MM:SS.mmm" of a wall time (Unix seconds), local. */
export function clock(wall) {
  const d = new Date(wall * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:`
    + `${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** "HH:MM[:SS[.mmm]]" as the latest such local time not in the future; null if it is not a time. */
export function parseTime(text) {
  const m = text.trim().match(/^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/);
  if (!m) return null;
  const d = new Date();
  d.setHours(Number(m[1]), Number(m[2]), Number(m[3] || 0), Number((m[4] || "0").padEnd(3, "0")));
  let wall = d.getTime() / 1000;
  if (wall > Date.now() / 1000 + 1) wall -= 86400;
  return wall;
}
