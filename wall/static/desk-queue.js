// The queue of cases (pending review by default), newest first, and which one the operator has selected.
// It is kept true by two sources: GET /api/cases (at start, on a filter change, after every reconnect of the
// push channel) and /ws/wall pushes in between. Each case's updated_at orders the two, so an old push replayed
// over a newer list (or the other way round) never brings a decided case back.
import { api } from "./nav.js";
import { t } from "./i18n.js";
import { codeName, isOverdue, shortWhen, tf, word } from "./desk-words.js";

const PAGE_SIZE = 200;
const FRESH_MS = 4000;  // how long a pushed-in row is highlighted
const HOUR_MS = 3600 * 1000;

function version(summary) {
  const v = Date.parse(summary.updated_at || summary.raised_at || "");
  return Number.isNaN(v) ? 0 : v;
}

function newestFirst(a, b) {
  return (Date.parse(b.raised_at) - Date.parse(a.raised_at)) || (b.id - a.id);
}

export class CaseQueue {
  /**
   * @param {{ list: HTMLElement, count: HTMLElement, empty: HTMLElement, form: HTMLFormElement,
   *           catalogue: Map<string, object>,
   *           onSelect: (c: object|null, same: boolean, byUser: boolean) => void,
   *           onLeave: (c: object, wasSelected: boolean) => void }} parts
   */
  constructor({ list, count, empty, form, catalogue, onSelect, onLeave }) {
    Object.assign(this, { list, count, empty, form, catalogue, onSelect, onLeave });
    this.items = [];
    this.total = 0;
    this.selectedId = null;
    this.seen = new Map();      // case id → newest updated_at (ms) this page has applied
    this.fresh = new Map();     // case id → until when its row is highlighted
    this.loadSeq = 0;
    this.pushedDuringLoad = null;
    list.addEventListener("click", (event) => {
      const row = event.target.closest('[data-testid="case-row"]');
      if (row) this.select(Number(row.dataset.case));
    });
  }

  /** The filter form as API parameters; "time" presets become a UTC ``since`` computed now; the status
   *  "overdue" is the API's ``overdue=true`` (past the deadline, any state still with the department). */
  filters() {
    const f = this.form;
    const params = {};
    for (const name of ["status", "camera", "code"]) {
      const value = f.querySelector(`#f-${name}`).value;
      if (value) params[name] = value;
    }
    if (params.status === "overdue") {
      delete params.status;
      params.overdue = "true";
    }
    const since = this.since();
    if (since) params.since = since.toISOString();
    return params;
  }

  since() {
    const preset = this.form.querySelector("#f-time").value;
    const now = Date.now();
    if (preset === "1h") return new Date(now - HOUR_MS);
    if (preset === "24h") return new Date(now - 24 * HOUR_MS);
    if (preset === "7d") return new Date(now - 7 * 24 * HOUR_MS);
    if (preset === "today") { const d = new Date(now); d.setHours(0, 0, 0, 0); return d; }
    return null;
  }

  /** Whether a case (from a push) belongs in the queue under the current filters. */
  matches(c) {
    const p = this.filters();
    if (p.status && c.status !== p.status) return false;
    if (p.overdue && !isOverdue(c)) return false;
    if (p.camera && c.camera !== p.camera) return false;
    if (p.code && c.code !== p.code) return false;
    const since = this.since();
    return !(since && Date.parse(c.raised_at) < since.getTime());
  }

  async load() {
    const seq = ++this.loadSeq;
    this.pushedDuringLoad = [];
    const query = new URLSearchParams({ ...this.filters(), limit: String(PAGE_SIZE) });
    let body;
    try {
      const res = await api(`/api/cases?${query}`);
      if (!res.ok) throw new Error(String(res.status));
      body = await res.json();
    } catch (err) {
      if (seq === this.loadSeq) this.pushedDuringLoad = null;
      throw err;
    }
    if (seq !== this.loadSeq) return;  // a newer filter change is on its way
    const pushed = this.pushedDuringLoad || [];
    this.pushedDuringLoad = null;
    const previous = this.selectedId;
    this.items = body.items.filter((c) => !(this.seen.get(c.id) > version(c)));
    for (const c of this.items) this.seen.set(c.id, version(c));
    this.total = body.total - (body.items.length - this.items.length);
    for (const c of pushed) this.apply(c, { quiet: true });
    this.items.sort(newestFirst);
    if (!this.items.some((c) => c.id === previous)) {
      this.selectedId = this.items.length ? this.items[0].id : null;
    }
    this.render();
    this.onSelect(this.selected(), this.selectedId === previous, false);
  }

  /** A pushed case: add, update or drop its row. Returns what happened ("added" | "updated" | "left" | null). */
  apply(c, { quiet = false } = {}) {
    if (this.pushedDuringLoad) this.pushedDuringLoad.push(c);
    const v = version(c);
    if (this.seen.get(c.id) > v) return null;  // older than what the page shows
    this.seen.set(c.id, v);
    const index = this.items.findIndex((x) => x.id === c.id);
    const belongs = this.matches(c);
    let outcome = null;
    if (index >= 0 && belongs) {
      this.items[index] = c;
      outcome = "updated";
    } else if (index < 0 && belongs) {
      this.items.push(c);
      this.items.sort(newestFirst);
      this.total += 1;
      this.fresh.set(c.id, Date.now() + FRESH_MS);
      outcome = "added";
    } else if (index >= 0) {
      this.items.splice(index, 1);
      this.total = Math.max(0, this.total - 1);
      outcome = "left";
    }
    if (quiet || outcome === null) return outcome;
    const wasSelected = c.id === this.selectedId;
    if (outcome === "left") {
      if (wasSelected) {
        const next = this.items[Math.min(index, this.items.length - 1)];
        this.selectedId = next ? next.id : null;
      }
      this.render();
      this.onLeave(c, wasSelected);
      if (wasSelected) this.onSelect(this.selected(), false, false);
      return outcome;
    }
    if (this.selectedId === null) this.selectedId = c.id;
    this.render();
    if (c.id === this.selectedId) this.onSelect(this.selected(), outcome === "updated", false);
    return outcome;
  }

  selected() {
    return this.items.find((c) => c.id === this.selectedId) || null;
  }

  select(id) {
    if (!this.items.some((c) => c.id === id) || id === this.selectedId) return;
    this.selectedId = id;
    this.render();
    this.onSelect(this.selected(), false, true);
  }

  /** j/k: the next (+1) or previous (-1) case in the queue. */
  move(delta) {
    if (this.items.length === 0) return;
    const index = this.items.findIndex((c) => c.id === this.selectedId);
    const next = index < 0 ? 0 : Math.max(0, Math.min(this.items.length - 1, index + delta));
    this.select(this.items[next].id);
  }

  /** Time passing turns rows overdue: re-render when that changed any row. Returns whether it did. */
  tick() {
    const now = this.items.filter(isOverdue).map((c) => c.id).join(",");
    if (now === this.overdueShown) return false;
    this.render();
    return true;
  }

  render() {
    const now = Date.now();
    this.overdueShown = this.items.filter(isOverdue).map((c) => c.id).join(",");
    const rows = this.items.map((c) => this.row(c, now));
    this.list.replaceChildren(...rows);
    this.empty.hidden = this.items.length > 0;
    this.count.textContent = this.items.length < this.total
      ? tf("deskCountPartial", { shown: this.items.length, n: this.total })
      : tf("deskCount", { n: this.total });
    const current = this.list.querySelector('[aria-selected="true"]');
    if (current) current.scrollIntoView({ block: "nearest" });
  }

  row(c, now) {
    const li = document.createElement("li");
    li.dataset.testid = "case-row";
    li.setAttribute("data-testid", "case-row");
    li.dataset.case = String(c.id);
    li.dataset.status = c.status;
    li.dataset.camera = c.camera;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", String(c.id === this.selectedId));
    if ((this.fresh.get(c.id) || 0) > now) li.classList.add("fresh");
    const line = (cls, text) => {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      return span;
    };
    li.append(
      line("row-time", shortWhen(c.raised_at)),
      line("row-code", `${c.code} ${codeName(c.code, c.code_name, this.catalogue)}`),
      line("row-camera", c.camera_name || c.camera),
      line("row-place", c.address || c.zone || ""),
    );
    if (c.status !== "pending_review") li.append(line(`row-status st-${c.status}`, word("deskSt", c.status)));
    if (isOverdue(c)) {
      const badge = line("overdue-badge", t("deskOverdue"));
      badge.setAttribute("data-testid", "row-overdue");
      badge.title = tf("deskOverdueTitle", { when: shortWhen(c.deadline_at) });
      li.append(badge);
      li.dataset.overdue = "true";
    }
    if (c.source === "patrol") li.append(line("row-source", word("deskSource", c.source)));  // filed by an operator
    li.title = `#${c.id} ${t("deskRaisedAt")} ${shortWhen(c.raised_at)}`;
    return li;
  }
}
