// The zone editor's try panel: run the rules being edited on what the camera saw in the last minutes (the
// server replays its ring buffer through them) and show what they would have raised, before anything is saved.
import { applyWords } from "./i18n.js";
import { el } from "./admin-common.js";
import { clock, send, showProblems } from "./admin-editor.js";
import { editor, parts, redraw } from "./admin-zones-state.js";

const KIND_WORDS = { opened: "zonKindOpened", updated: "zonKindUpdated", cleared: "zonKindCleared" };

export async function tryRules() {
  if (!editor.rules || editor.trying) return;
  editor.trying = true;
  const id = editor.cameraId;
  showProblems(parts.errors);
  parts.tryState.dataset.state = "running";
  parts.tryState.dataset.i18n = "zonTrying";
  parts.results.replaceChildren();
  editor.lastTry = null;
  redraw.buttons();
  applyWords(parts.tryState.parentElement);
  try {
    const minutes = Number(parts.minutes.value) || 2;
    const result = await send(`/api/cameras/${encodeURIComponent(id)}/rules/try`,
      { method: "POST", json: { rules: editor.rules, minutes } });
    if (id !== editor.cameraId) return;
    editor.lastTry = result;
    parts.tryState.dataset.state = "done";
    parts.tryState.dataset.i18n = "zonTried";
    renderTry(result);
  } catch (error) {
    parts.tryState.dataset.state = "error";
    parts.tryState.dataset.i18n = "zonTryFailed";
    showProblems(parts.errors, error);
  } finally {
    editor.trying = false;
    redraw.buttons();
    applyWords(editor.root);
  }
}

/** Forget the last try (another camera was chosen). */
export function clearTry() {
  editor.lastTry = null;
  parts.results.replaceChildren();
  parts.tryState.textContent = "";
  delete parts.tryState.dataset.state;
}

export function renderTry(result) {
  const summary = el("p", { className: "summary", testid: "zone-try-summary", dataset: {
    events: String(result.events.length) } }, [
    el("span", { i18n: "zonTryVideo" }), el("span", { text: ` ${Math.round(result.seconds)} s · ` }),
    el("span", { i18n: "zonTryLooks" }), el("span", { text: ` ${result.looks} · ` }),
    el("span", { i18n: "zonTryEvents" }), el("span", { text: ` ${result.events.length}` }),
  ]);
  const cards = result.events.filter((e) => e.kind !== "updated").map((e) => el("figure", {
    className: `zone-try-event kind-${e.kind}`, testid: "zone-try-event", dataset: { kind: e.kind, zone: e.zone } }, [
    e.snapshot ? el("img", { attrs: { src: e.snapshot, alt: "" } }) : null,
    el("figcaption", {}, [
      el("strong", { i18n: KIND_WORDS[e.kind] || "zonKindUpdated" }),
      el("span", { text: ` ${clock(e.t_wall)} · ${e.zone} · ${e.code} ${e.code_name} · ` }),
      el("span", { i18n: "zonDwellShort" }), el("span", { text: ` ${Math.round(e.dwell)} s` }),
    ]),
  ]));
  const none = result.events.length ? null : el("p", { className: "hint", testid: "zone-try-none", i18n: "zonTryNone" });
  parts.results.replaceChildren(summary, ...(none ? [none] : []), el("div", { className: "cards" }, cards));
  applyWords(parts.results);
}
