// The decision forms of the selected case: confirm (event code from the catalogue, grid code, address, note),
// reject (a reason of the site's list + free text; for the reasons that allow it, "don't raise here again":
// 误报抑制) and close. With a decision goes its label (desk-labels.js): confirming, the object's class and boxes
// drawn on the clean frame; rejecting, what is wrong — not there, there but allowed, or another class (which
// one). A reason that says which of the three it is sets it; a site's own reason leaves the choice. The server
// decides: its answer, error included (409 when another operator decided first, 422 for a bad grid code or box),
// is what the operator sees.
import { api } from "./nav.js";
import { t } from "./i18n.js";
import { className, codeName, reasonName, tf, word } from "./desk-words.js";

const KINDS = ["absent", "allowed", "wrong_class"];

const CLOSABLE = ["dispatched", "cleared_on_video", "still_present"];

/** The server's words for a failed request: FastAPI's detail, a string or a list of field errors. */
export async function serverError(res) {
  let detail = "";
  try {
    const body = await res.json();
    detail = body.detail;
  } catch (_) { /* not JSON: the status says enough */ }
  if (Array.isArray(detail)) {
    detail = detail.map((d) => {
      const field = Array.isArray(d.loc) ? d.loc[d.loc.length - 1] : "";
      return field ? `${word("deskKey", field)}: ${d.msg}` : d.msg;
    }).join("; ");
  }
  return `${res.status} ${detail || res.statusText || t("deskFailed")}`.trim();
}

export class DecisionForms {
  /**
   * @param {HTMLElement} root the detail section
   * @param {{ catalogue: Map<string, object>, reasons: Map<string, string>, canDecide: boolean,
   *           suppressible: Set<string>, suppressDays: number | null, labels: object, classes: object[],
   *           reasonKinds: Map<string, string | null>,
   *           onDone: (kind: string, summary: object) => void, onSubmit: (id: number) => void,
   *           onFailed: (id: number) => void, showError: (text: string) => void }} options
   *        onSubmit/onFailed frame a request, so the desk can tell its own decision's push from another's
   */
  constructor(root, options) {
    Object.assign(this, options);
    this.forms = {
      confirm: root.querySelector("#confirm-form"),
      reject: root.querySelector("#reject-form"),
      close: root.querySelector("#close-form"),
    };
    this.buttons = {
      confirm: root.querySelector("#b-confirm"),
      reject: root.querySelector("#b-reject"),
      close: root.querySelector("#b-close"),
    };
    this.openKind = null;
    this.record = null;
    this.busy = false;
    for (const [kind, form] of Object.entries(this.forms)) {
      form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
      form.querySelector(".cancel").addEventListener("click", () => this.cancel());
      this.buttons[kind].addEventListener("click", () => this.open(kind));
    }
    const reject = this.forms.reject;
    reject.querySelector("#r-reason").addEventListener("change", () => { this.syncRemember(); this.syncKind(); });
    reject.querySelector("#r-kind").addEventListener("change", () => this.syncKind());
    const confirm = this.forms.confirm;
    confirm.querySelector("#c-class").addEventListener("change", (e) => this.labels.setClass(e.target.value));
    confirm.querySelector("#c-mode").addEventListener("change", (e) => this.labels.setMode(e.target.value));
    for (const field of [confirm.querySelector("#c-mode"), reject.querySelector("#r-class")]) {
      field.addEventListener("keydown", (event) => this.labels.tabInto(event));
    }
    this.fillOptions();
  }

  /** The "remember" choice is offered only with a reason that says "allowed here" / "not an event". */
  syncRemember() {
    const form = this.forms.reject;
    const row = form.querySelector("#r-remember-row");
    row.hidden = !this.suppressible.has(form.querySelector("#r-reason").value);
    if (row.hidden) form.querySelector("#r-remember").checked = false;
    form.querySelector("#r-remember-note").textContent = this.suppressDays
      ? tf("supRememberDays", { days: this.suppressDays }) : t("supRememberForever");
  }

  /** The kind follows a reason that says it; "another class" asks for the class and shows the clean frame. */
  syncKind() {
    const form = this.forms.reject;
    const kindSelect = form.querySelector("#r-kind");
    const said = this.reasonKinds.get(form.querySelector("#r-reason").value);
    kindSelect.disabled = Boolean(said);
    if (said) kindSelect.value = said;
    const other = kindSelect.value === "wrong_class";
    form.querySelector("#r-class-row").hidden = !other;
    if (other && this.record && !this.labels.record) this.labels.start(this.record, {
      single: true, before: form.querySelector("#r-class"), after: form.querySelector('[type="submit"]') });
    if (!other) this.labels.stop();
  }

  /** Classes for the case: those feeding its rule family first (numbered: typing 1…9 picks one). */
  classOptions(select, family) {
    const ordered = [...this.classes.filter((c) => c.family === family),
      ...this.classes.filter((c) => c.family !== family)];
    const chosen = select.value;
    select.replaceChildren(option("", `— ${t("labelNoClass")}`), ...ordered.map((c, i) => option(c.name,
      `${i + 1} ${className(c)}`)));
    select.value = chosen;
    return ordered;
  }

  fillOptions() {
    const family = this.record ? this.record.family : "";
    this.labels.classes = this.classOptions(this.forms.confirm.querySelector("#c-class"), family);
    this.classOptions(this.forms.reject.querySelector("#r-class"), family);
    const kindSelect = this.forms.reject.querySelector("#r-kind");
    const kind = kindSelect.value;
    kindSelect.replaceChildren(option("", "—"), ...KINDS.map((k, i) => option(k, `${i + 1} ${t(`rejectKind.${k}`)}`)));
    kindSelect.value = kind;
    const hint = this.forms.confirm.querySelector("#c-label-hint");
    hint.textContent = t(this.labels.active || !this.labels.record ? "labelHint" : "labelNoFrame");

    const codeSelect = this.forms.confirm.querySelector("#c-code");
    const chosen = codeSelect.value;
    codeSelect.replaceChildren(...[...this.catalogue.values()].map((c) => option(c.code,
      `${c.code} ${codeName(c.code, c.name, this.catalogue)}`)));
    if (chosen) this.setCode(chosen);
    const reasonSelect = this.forms.reject.querySelector("#r-reason");
    const reason = reasonSelect.value;
    // numbered labels: with the list focused, typing 1…9 picks a reason (the select's own type-ahead)
    const reasons = [...this.reasons.entries()].map(([key, name], i) => option(key,
      `${i + 1} ${reasonName(key, name)}`));
    reasonSelect.replaceChildren(option("", "—"), ...reasons);
    reasonSelect.value = reason;
  }

  setCode(code) {
    const select = this.forms.confirm.querySelector("#c-code");
    if (![...select.options].some((o) => o.value === code)) {
      select.append(option(code, code));  // a code of an older catalogue version: kept as it is
    }
    select.value = code;
  }

  /** A new case is shown: its buttons follow its state; an open form closes (it belonged to the other case). */
  show(record) {
    const changed = !this.record || this.record.id !== record.id;
    this.record = record;
    const pending = record.status === "pending_review";
    this.buttons.confirm.disabled = !this.canDecide || !pending;
    this.buttons.reject.disabled = !this.canDecide || !pending;
    this.buttons.close.hidden = !CLOSABLE.includes(record.status);
    this.buttons.close.disabled = !this.canDecide;
    const stillAllowed = this.openKind === "close" ? CLOSABLE.includes(record.status) : pending;
    if (changed || (this.openKind && !stillAllowed)) this.hideAll();  // e.g. decided meanwhile by someone else
  }

  hideAll() {
    for (const form of Object.values(this.forms)) form.hidden = true;
    this.openKind = null;
    this.labels.stop();
  }

  /** c / r / the buttons: open a form prefilled from the case; false (with the reason shown) when not allowed. */
  open(kind) {
    const record = this.record;
    if (!record) return false;
    if (!this.canDecide) { this.showError(t("deskNotAllowed")); return false; }
    if (kind !== "close" && record.status !== "pending_review") { this.showError(t("deskOnlyPending")); return false; }
    if (kind === "close" && !CLOSABLE.includes(record.status)) { this.showError(t("deskNotClosable")); return false; }
    this.showError("");
    this.hideAll();
    const form = this.forms[kind];
    form.reset();
    if (kind === "confirm") {
      this.setCode(record.code);
      form.querySelector("#c-grid").value = record.grid_code || "";
      form.querySelector("#c-address").value = record.address || "";
      this.labels.start(record, { mode: "correct", modeSelect: form.querySelector("#c-mode"),
        before: form.querySelector("#c-mode"), after: form.querySelector('[type="submit"]') });
    }
    this.fillOptions();  // the classes of this case's family first; the hint says whether boxes can be drawn
    if (kind === "reject") { this.syncRemember(); this.syncKind(); }
    form.hidden = false;
    this.openKind = kind;
    form.querySelector("select, input, textarea").focus();
    return true;
  }

  cancel() {
    if (!this.openKind) return false;
    this.hideAll();
    this.showError("");
    document.activeElement?.blur?.();
    return true;
  }

  body(kind) {
    const f = this.forms[kind];
    const value = (selector) => f.querySelector(selector).value.trim();
    const body = {};
    const put = (key, text) => { if (text) body[key] = text; };
    if (kind === "confirm") {
      put("code", value("#c-code"));
      put("grid_code", value("#c-grid"));
      put("address", value("#c-address"));
      put("note", value("#c-note"));
      Object.assign(body, this.labels.body());
    } else if (kind === "reject") {
      body.reason = value("#r-reason");
      put("text", value("#r-text"));
      if (!f.querySelector("#r-kind").disabled) put("kind", value("#r-kind"));
      if (!f.querySelector("#r-class-row").hidden) {
        put("object_class", value("#r-class"));
        const { box } = this.labels.body();
        if (box) body.box = box;
      }
      if (!f.querySelector("#r-remember-row").hidden && f.querySelector("#r-remember").checked) body.remember = true;
    } else {
      put("note", value("#x-note"));
    }
    return body;
  }

  /** Enter / the submit button: send the open form for the case it was opened on. */
  async submit() {
    const kind = this.openKind;
    const record = this.record;
    if (!kind || !record || this.busy) return;
    const submitButton = this.forms[kind].querySelector('[type="submit"]');
    this.busy = true;
    submitButton.disabled = true;
    this.showError("");
    this.onSubmit(record.id);
    try {
      const res = await api(`/api/cases/${record.id}/${kind}`, { method: "POST", json: this.body(kind) });
      if (!res.ok) {
        this.onFailed(record.id);
        this.showError(await serverError(res));
        return;
      }
      const summary = await res.json();
      if (this.record && this.record.id === record.id) this.hideAll();
      document.activeElement?.blur?.();
      this.onDone(kind, summary);
    } catch (_) {
      this.onFailed(record.id);
      this.showError(t("deskNetwork"));
    } finally {
      this.busy = false;
      submitButton.disabled = false;
    }
  }

  /** After a decision elsewhere: the message that says who and what. */
  static decidedElsewhere(c) {
    return tf("deskDecidedElsewhere", { id: c.id, who: c.decided_by || "?", status: word("deskSt", c.status) });
  }
}

function option(value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  return o;
}
