// The review desk (/desk): operators go through the cases the analytics raised, judge each by its snapshot,
// clip and the live camera, and confirm (→ the city's case platform) or reject (→ a training label).
// Every datum comes from the API, which shows only the cameras this user is granted; /ws/wall keeps the queue
// true while other operators decide. This module wires the parts: queue, media, forms, history, channel, keys.
import { applyWords, t } from "./i18n.js";
import { api, may, startPage } from "./nav.js";
import { codeName, isOverdue, tf, when, word } from "./desk-words.js";
import { CaseQueue } from "./desk-queue.js";
import { CaseMedia } from "./desk-media.js";
import { DecisionForms, serverError } from "./desk-forms.js";
import { LabelEditor } from "./desk-labels.js";
import { renderHistory } from "./desk-history.js";
import { openChannel } from "./desk-channel.js";
import { bindKeys } from "./desk-keys.js";
import { FilingDialog, filedMessage } from "./wall-filing.js";
import "./suppression-words.js";

const $ = (id) => document.getElementById(id);
const NOTICE_MS = 12000;
const OVERDUE_TICK_MS = 30000;  // how often passing deadlines are looked for

const state = {
  me: null, catalogue: new Map(), reasons: new Map(), cameras: new Map(), record: null, detailSeq: 0,
  historyOpen: false, ownDecisions: new Set(), online: false, noticeTimer: 0,
  queue: null, media: null, forms: null, filing: null,
};

async function getJson(path, fallback) {
  try {
    const res = await api(path);
    return res.ok ? await res.json() : fallback;
  } catch (_) {
    return fallback;
  }
}

function option(value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  return o;
}

function showError(text) {
  $("d-error").textContent = text;
}

function notify(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = !text;
  clearTimeout(state.noticeTimer);
  if (text) state.noticeTimer = setTimeout(() => { notice.textContent = ""; notice.hidden = true; }, NOTICE_MS);
}

function fillFilters() {
  const camera = $("f-camera");
  const code = $("f-code");
  const keep = [camera.value, code.value];
  camera.replaceChildren(option("", t("deskAllCameras")),
    ...[...state.cameras.values()].map((c) => option(c.id, c.name || c.id)));
  code.replaceChildren(option("", t("deskAllCodes")),
    ...[...state.catalogue.values()].map((c) => option(c.code, `${c.code} ${codeName(c.code, c.name, state.catalogue)}`)));
  [camera.value, code.value] = keep;
}

function fact(dl, key, value) {
  if (value === null || value === undefined || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = t(key);
  const dd = document.createElement("dd");
  dd.textContent = value;
  dl.append(dt, dd);
}

/** Title, state and the facts an operator checks before deciding (where, when, what the platform will get). */
function renderHead(c) {
  $("d-title").textContent = `#${c.id} · ${c.code} ${codeName(c.code, c.code_name, state.catalogue)}`;
  const status = $("d-status");
  status.textContent = word("deskSt", c.status);
  status.className = `case-status st-${c.status}`;
  status.dataset.status = c.status;
  const overdue = $("d-overdue");
  overdue.hidden = !isOverdue(c);
  overdue.textContent = t("deskOverdue");
  overdue.title = c.deadline_at ? tf("deskOverdueTitle", { when: when(c.deadline_at) }) : "";
  const dl = $("d-facts");
  dl.replaceChildren();
  fact(dl, "deskCamera", c.camera_name || c.camera);
  fact(dl, "deskSource", word("deskSource", c.source));
  fact(dl, "deskRaisedAt", when(c.raised_at));
  fact(dl, "deskLastSeen", when(c.last_seen));
  fact(dl, "deskPlace", [c.street, c.community, c.address].filter(Boolean).join(" · "));
  fact(dl, "deskGrid", c.grid_code);
  fact(dl, "deskDescription", c.description);
  fact(dl, "deskDecidedBy", c.decided_by ? `${c.decided_by} · ${when(c.decided_at)}` : "");
  fact(dl, "deskDepartment", c.department);
  fact(dl, "deskDeadline", when(c.deadline_at));
  for (const sup of c.suppressions || []) {  // 误报抑制 made from this case or covering its place
    fact(dl, "supFact", tf("supOnCase", { id: sup.id, state: word("supState", sup.state), hits: sup.hits,
      until: sup.expires_at ? tf("supUntil", { when: when(sup.expires_at) }) : "" }));
  }
}

function renderOpenHistory() {
  const section = $("history");
  section.hidden = !state.historyOpen || !state.record;
  $("b-history").setAttribute("aria-expanded", String(state.historyOpen));
  if (!section.hidden) renderHistory(section, state.record, state.reasons);
}

/** The queue's selection changed (or the selected case changed): show it, then its full record. */
async function showCase(summary, same, byUser) {
  if (byUser) showError("");
  if (!summary) {
    state.record = null;
    state.detailSeq += 1;
    $("detail").hidden = true;
    $("nothing").hidden = false;
    state.media.clear();
    return;
  }
  $("detail").hidden = false;
  $("nothing").hidden = true;
  if (!same) {
    renderHead(summary);
    state.forms.show(summary);
  }
  const seq = ++state.detailSeq;
  const res = await api(`/api/cases/${summary.id}`).catch(() => null);
  if (seq !== state.detailSeq) return;  // the operator has moved on
  if (!res || !res.ok) {
    showError(res ? await serverError(res) : t("deskNetwork"));
    return;
  }
  const record = await res.json();
  if (seq !== state.detailSeq) return;
  state.record = record;
  renderHead(record);
  state.forms.show(record);
  state.media.show(record);
  renderOpenHistory();
}

/** A case left the queue (decided, closed, filtered out): say so when it was the one on screen. */
function caseLeft(c, wasSelected) {
  if (!wasSelected || state.ownDecisions.has(c.id)) return;
  notify(c.decided_by && c.status !== "pending_review" ? DecisionForms.decidedElsewhere(c)
    : tf("deskGone", { id: c.id }));
}

function decided(kind, summary) {
  const key = { confirm: "deskConfirmed", reject: "deskRejected", close: "deskClosedDone" }[kind];
  notify(tf(key, { id: summary.id }));
  // the push may come later (or came already: then this is a no-op); a case the filters still show (e.g. "all
  // states") is shown again with its new state, one that left the queue gives way to the next
  state.queue.apply(summary);
}

/** 视频立案 from the live view: the camera on screen now (a user who may decide cases; the server checks). */
function fileFromLive() {
  const tile = state.media && state.media.tile;
  if (!state.filing || !tile || tile.closed) return;
  state.filing.open({ id: tile.camera.id, name: tile.camera.name || tile.camera.id });
}

function filed(summary) {
  notify(filedMessage(summary));
  state.queue.apply(summary);  // confirmed at once: shown where the filters show confirmed cases
}

function channelState(online) {
  state.online = online;
  const el = $("channel");
  el.dataset.state = online ? "online" : "offline";
  el.textContent = t(online ? "deskChannelOnline" : "deskChannelOffline");
}

function relabel() {
  if (!state.queue) return;
  document.title = `citywall ${t("deskTitle")}`;
  fillFilters();
  state.forms.fillOptions();
  state.queue.render();
  state.media.relabel();
  if (state.record) renderHead(state.record);
  renderOpenHistory();
  channelState(state.online);
}

function toggleHistory() {
  if (!state.record) return;
  state.historyOpen = !state.historyOpen;
  renderOpenHistory();
  if (state.historyOpen) $("history").scrollIntoView({ block: "nearest" });
}

async function reload() {
  try {
    await state.queue.load();
  } catch (_) {
    notify(t("deskNetwork"));
  }
}

async function start() {
  const me = await startPage($("header"), { onLanguage: relabel });
  if (!me) return;
  state.me = me;
  const [catalogue, reasons, cameras, suppress, labelling] = await Promise.all([
    getJson("/api/event-codes", { codes: [] }), getJson("/api/reject-reasons", {}), getJson("/api/cameras", []),
    getJson("/api/suppressions/options", { reasons: [], days: null }),
    getJson("/api/label-options", { classes: [], reasons: [] }),
  ]);
  state.catalogue = new Map(catalogue.codes.map((c) => [c.code, c]));
  state.reasons = new Map(Object.entries(reasons));
  state.cameras = new Map(cameras.map((c) => [c.id, c]));
  const detail = $("detail");
  state.media = new CaseMedia(detail, state.cameras);
  const labels = new LabelEditor(detail, { media: state.media, classes: labelling.classes,
    onSelect: (cls) => { $("c-class").value = cls; } });
  state.forms = new DecisionForms(detail, {
    catalogue: state.catalogue, reasons: state.reasons, canDecide: may(me, "review_cases"),
    suppressible: new Set(suppress.reasons), suppressDays: suppress.days, labels, classes: labelling.classes,
    reasonKinds: new Map(labelling.reasons.map((r) => [r.key, r.kind])),
    showError, onDone: decided,
    onSubmit: (id) => state.ownDecisions.add(id), onFailed: (id) => state.ownDecisions.delete(id),
  });
  state.queue = new CaseQueue({
    list: $("queue"), count: $("queue-count"), empty: $("queue-empty"), form: $("filters"),
    catalogue: state.catalogue, onSelect: showCase, onLeave: caseLeft,
  });
  if (may(me, "review_cases")) {
    state.filing = new FilingDialog({ onFiled: filed });
    $("b-file").hidden = false;
    $("b-file").addEventListener("click", fileFromLive);
  }
  $("b-history").addEventListener("click", toggleHistory);
  $("filters").addEventListener("change", () => { showError(""); reload(); });
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  bindKeys({
    next: () => state.queue.move(1),
    prev: () => state.queue.move(-1),
    confirm: () => state.forms.open("confirm"),
    reject: () => state.forms.open("reject"),
    play: () => { if (!state.media.playPause()) notify(t("deskNoClipYet")); },
    history: toggleHistory,
    boxes: () => state.media.toggleBoxes(),
    file: fileFromLive,
    submit: () => { if (!state.forms.openKind) return false; state.forms.submit(); return true; },
    cancel: () => {
      if (state.forms.cancel()) return true;
      if (state.historyOpen) { toggleHistory(); return true; }
      const field = document.activeElement;  // e.g. a filter just changed: Esc gives the keys back to the queue
      if (field && field !== document.body) { field.blur(); return true; }
      return false;
    },
  });
  relabel();
  applyWords();
  channelState(false);
  await reload();
  // every (re)connection re-reads the queue: what was pushed while the socket was down is gone
  openChannel({
    onOnline: () => { channelState(true); reload(); },
    onOffline: () => channelState(false),
    onMessage: (msg) => { if (msg.case) state.queue.apply(msg.case); },
  });
  setInterval(() => { if (state.queue.tick() && state.record) renderHead(state.record); }, OVERDUE_TICK_MS);
  document.body.dataset.ready = "true";
}

start();
