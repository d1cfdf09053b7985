// A case's history: its append-only events (raised, seen again, confirmed, dispatched, cleared on video / still
// present, closed…) in order, each with the evidence written with it — the snapshot of the raise, the clip,
// the after-snapshot of the video check. Evidence that came on its own (a clip written after the post-roll,
// a newer snapshot of an update) is a line of its own at its time.
import { t } from "./i18n.js";
import { reasonName, tf, when, word } from "./desk-words.js";

const SAME_MOMENT_MS = 1500;  // evidence committed in the same unit of work as an event (same transaction)
const SHOWN_DETAIL = ["code", "grid_code", "address", "note", "reason", "text", "department", "ref", "into", "case",
  "dwell", "zone", "deadline_at", "suppression", "kind", "classes"];
const TIMES = ["deadline_at"];  // shown in the seat's clock, like the event's own time

function at(item) {
  const v = Date.parse(item.at || "");
  return Number.isNaN(v) ? 0 : v;
}

/** Evidence next to the event it was written with (the closest one within the same moment), else alone. */
export function timeline(record) {
  const events = (record.events || []).map((e) => ({ ...e, evidence: [] }));
  const lines = [...events];
  for (const item of record.evidence || []) {
    let best = null;
    for (const e of events) {
      const gap = Math.abs(at(e) - at(item));
      if (gap <= SAME_MOMENT_MS && (best === null || gap < best.gap)) best = { e, gap };
    }
    if (best) best.e.evidence.push(item);
    else lines.push({ at: item.at, actor: null, action: "evidence", detail: {}, evidence: [item] });
  }
  return lines.sort((a, b) => at(a) - at(b));
}

export function renderHistory(section, record, reasons) {
  section.querySelector("#h-title").textContent = tf("deskHistoryTitle", { id: record.id });
  const list = section.querySelector("#h-list");
  list.replaceChildren(...timeline(record).map((line) => historyLine(line, reasons)));
}

function historyLine(line, reasons) {
  const li = document.createElement("li");
  li.dataset.testid = "history-event";
  li.setAttribute("data-testid", "history-event");
  li.dataset.action = line.action;
  const head = document.createElement("div");
  head.className = "h-head";
  const time = document.createElement("time");
  time.dateTime = line.at || "";
  time.textContent = when(line.at);
  const action = document.createElement("strong");
  action.textContent = word("deskAct", line.action);
  head.append(time, action);
  if (line.actor) {
    const actor = document.createElement("span");
    actor.className = "h-actor";
    actor.textContent = line.actor === "vision" ? t("deskSystem") : line.actor;
    head.append(actor);
  }
  if (line.before || line.after) {
    const states = document.createElement("span");
    states.className = "h-states";
    states.textContent = `${line.before ? word("deskSt", line.before) : "—"} → ${word("deskSt", line.after || "")}`;
    head.append(states);
  }
  li.append(head);
  const facts = Object.entries(line.detail || {})
    .filter(([key, value]) => SHOWN_DETAIL.includes(key) && value !== null && value !== "");
  if (facts.length) {
    const dl = document.createElement("dl");
    dl.className = "h-detail";
    for (const [key, value] of facts) {
      const dt = document.createElement("dt");
      dt.textContent = word("deskKey", key);
      const dd = document.createElement("dd");
      dd.textContent = key === "reason" ? reasonName(value, reasons.get(value))
        : key === "kind" ? word("rejectKind", value)  // the label's: not there, allowed, another class
        : TIMES.includes(key) ? when(value) : Array.isArray(value) ? value.join(", ") : String(value);
      dl.append(dt, dd);
    }
    li.append(dl);
  }
  if (line.evidence.length) li.append(evidenceStrip(line.evidence));
  return li;
}

function evidenceStrip(items) {
  const strip = document.createElement("div");
  strip.className = "h-evidence";
  for (const item of items) {
    const figure = document.createElement("figure");
    figure.dataset.kind = item.kind;
    figure.dataset.testid = "history-evidence";
    figure.setAttribute("data-testid", "history-evidence");
    let media;
    if (item.kind === "clip" || item.kind === "arrival_clip") {
      media = document.createElement("video");
      media.controls = true;
      media.muted = true;
      media.preload = "metadata";
    } else {
      media = document.createElement("img");
      media.alt = word("deskEv", item.kind);
      media.loading = "lazy";
    }
    media.src = item.url;
    const caption = document.createElement("figcaption");
    caption.textContent = word("deskEv", item.kind);
    figure.append(media, caption);
    strip.append(figure);
  }
  return strip;
}
