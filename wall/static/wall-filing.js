// 视频立案: an operator files a case from a wall tile. The dialog shows the still the server will keep (the
// camera's keyframe of that moment, /api/filing/{camera}/still.jpg), the operator drags a box over the object,
// picks the event code and checks the location (the camera's, editable); POST /api/cases takes the picture and
// the clip again on the server, at the moment the still was taken (seconds_ago = how long the dialog has been
// open, plus "noticed earlier"), so the box lands on the same picture. Enter submits, Esc cancels.
import { addWords, currentLang, t } from "./i18n.js";
import { api } from "./nav.js";

addWords({
  "zh-CN": {
    fileCase: "立案", fileTitle: "视频立案", fileMoment: "画面时刻", fileNow: "当前",
    fileAgo: "{n} 秒前", fileAgoMin: "{n} 分钟前", fileCode: "事件类型", fileGrid: "网格编码", fileStreet: "街道", fileCommunity: "社区",
    fileAddress: "地址", fileDescription: "描述", fileSubmit: "立案", fileCancel: "取消",
    fileDrawHint: "在画面上拖动鼠标框出问题；Enter 立案，Esc 取消。", fileNeedBox: "请先在画面上框出问题",
    fileNeedCode: "请选择事件类型", fileFiled: "已立案 #{id}（视频巡查，已确认）", fileNoPicture: "没有画面",
    fileLoading: "正在取画面…",
  },
  en: {
    fileCase: "File a case", fileTitle: "File a case from video", fileMoment: "Picture from", fileNow: "now",
    fileAgo: "{n} s ago", fileAgoMin: "{n} min ago", fileCode: "Event code", fileGrid: "Grid code", fileStreet: "Street",
    fileCommunity: "Community", fileAddress: "Address", fileDescription: "Description", fileSubmit: "File",
    fileCancel: "Cancel", fileDrawHint: "Drag over the picture to box the problem; Enter files, Esc cancels.",
    fileNeedBox: "Draw a box on the picture first", fileNeedCode: "Choose an event code",
    fileFiled: "Case #{id} filed (video patrol, confirmed)", fileNoPicture: "No picture", fileLoading: "Taking the picture…",
  },
});

// "noticed a moment ago", up to the ring's last minutes: choices bounded by the camera's memory (max_seconds_ago)
const EARLIER_S = [0, 15, 30, 60, 120, 180, 300, 600];
const MIN_BOX = 0.01;
const LOCATION = ["grid_code", "street", "community", "address"];

function tf(key, values) {
  return t(key).replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function field(key, control) {
  return el("label", { class: "filing-field" }, [el("span", { text: t(key) }), control]);
}

/** The dialog of a live filing. A filing from elsewhere (a paused playback: wall-playback-filing.js) overrides
 * only the hooks that say where the defaults, the still and the case go and which moment the case is of
 * (defaultsUrl, fillMoments, stillUrl, submitUrl, momentFields), so the box, the fields, the keys and the
 * answers stay this class's alone. */
export class FilingDialog {
  /** `onFiled(summary)` after a case is filed (the page says so). */
  constructor({ onFiled }) {
    this.onFiled = onFiled;
    this.codes = null;
    this.dialog = null;
  }

  /** Open the dialog for `camera` ({id, name}); loads the still, the catalogue and the camera's location. */
  async open(camera) {
    this.close();
    this.camera = camera;
    this.box = null;
    this.build();
    this.dialog.showModal();
    const [defaults, codes] = await Promise.all([
      api(this.defaultsUrl()).then((r) => (r.ok ? r.json() : null)),
      this.codes ? Promise.resolve(this.codes) : api("/api/event-codes").then((r) => (r.ok ? r.json() : null)),
    ]);
    if (!this.dialog) return;
    if (!defaults || !codes) { this.showError(t("failed")); return; }
    this.codes = codes;
    this.defaults = defaults;
    this.fill(defaults, codes);
    this.loadStill(0);
  }

  /** Where the camera's location (and how far back its ring reaches) comes from. */
  defaultsUrl() {
    return `/api/filing/${encodeURIComponent(this.camera.id)}`;
  }

  /** The still `ago` seconds back (`ts`: a new picture each time, never the browser's cached one). */
  stillUrl(ago) {
    return `/api/filing/${encodeURIComponent(this.camera.id)}/still.jpg?seconds_ago=${ago}&ts=${this.takenAt}`;
  }

  submitUrl() {
    return "/api/cases";
  }

  /** The moment the case is of: how long ago the still was, counted to now (the server takes it again). */
  momentFields() {
    return { seconds_ago: Math.min(this.defaults.max_seconds_ago, this.ago + (Date.now() - this.takenAt) / 1000) };
  }

  build() {
    const d = el("dialog", { class: "filing-dialog", "data-testid": "filing-dialog" });
    this.img = el("img", { alt: "", "data-testid": "filing-still", draggable: "false" });
    this.rect = el("div", { class: "filing-box", "data-testid": "filing-box", hidden: "" });
    this.stage = el("div", { class: "filing-stage", "data-testid": "filing-stage" }, [this.img, this.rect]);
    this.moment = el("select", { "data-testid": "filing-moment" });
    this.code = el("select", { "data-testid": "filing-code", required: "" });
    this.inputs = {};
    const maxlength = { grid_code: "20", street: "120", community: "120", address: "240" };
    for (const key of LOCATION) {
      this.inputs[key] = el("input", { "data-testid": `filing-${key.replace("_", "-")}`, maxlength: maxlength[key] });
    }
    this.inputs.grid_code.setAttribute("pattern", "\\d{6,20}");
    this.description = el("textarea", { "data-testid": "filing-description", rows: "2", maxlength: "2000" });
    this.error = el("p", { class: "filing-error", role: "alert", "data-testid": "filing-error" });
    this.submit = el("button", { type: "submit", class: "primary", "data-testid": "filing-submit",
      text: t("fileSubmit") });
    const cancel = el("button", { type: "button", "data-testid": "filing-cancel", text: t("fileCancel") });
    const form = el("form", { method: "dialog" }, [
      el("h2", { text: `${t("fileTitle")} · ${this.camera.name || this.camera.id}` }),
      el("p", { class: "muted filing-hint", text: t("fileDrawHint") }),
      this.stage,
      el("div", { class: "filing-fields" }, [
        field("fileMoment", this.moment), field("fileCode", this.code),
        field("fileGrid", this.inputs.grid_code), field("fileStreet", this.inputs.street),
        field("fileCommunity", this.inputs.community), field("fileAddress", this.inputs.address),
      ]),
      field("fileDescription", this.description),
      this.error,
      el("div", { class: "filing-buttons" }, [cancel, this.submit]),
    ]);
    d.append(form);
    document.body.append(d);
    this.dialog = d;
    form.addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    cancel.addEventListener("click", () => this.close());
    d.addEventListener("cancel", (event) => { event.preventDefault(); this.close(); });  // Esc
    d.addEventListener("keydown", (event) => {
      event.stopPropagation();  // the wall's own keys ("f") stay out
      // Enter files from any field (a select or a textarea would not submit the form); Shift+Enter: a new line
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.target.closest("button")) return;
      event.preventDefault();
      this.send();
    });
    this.moment.addEventListener("change", () => this.loadStill(Number(this.moment.value)));
    this.wireDrawing();
  }

  fill(defaults, codes) {
    const name = (c) => (currentLang() === "en" && c.name_en ? c.name_en : c.name);
    this.code.replaceChildren(new Option("—", ""), ...codes.codes.map((c) => new Option(`${c.code} ${name(c)}`, c.code)));
    for (const key of LOCATION) this.inputs[key].value = defaults[key] || "";
    this.fillMoments(defaults);
    this.code.focus();
  }

  /** "now" and "noticed earlier" choices, as far back as the camera's ring reaches. */
  fillMoments(defaults) {
    const choices = EARLIER_S.filter((s) => s <= defaults.max_seconds_ago);
    const label = (s) => (!s ? t("fileNow") : s % 60 ? tf("fileAgo", { n: s }) : tf("fileAgoMin", { n: s / 60 }));
    this.moment.replaceChildren(...choices.map((s) => new Option(label(s), String(s))));
  }

  /** The still `ago` seconds back; the moment it shows is remembered, so the filing keeps the same picture. */
  async loadStill(ago) {
    this.showError(t("fileLoading"));
    this.takenAt = Date.now();
    this.ago = ago;
    const res = await api(this.stillUrl(ago));
    if (!this.dialog) return;
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      this.showError(body.detail || t("fileNoPicture"));
      return;
    }
    const blob = await res.blob();
    if (this.img.src) URL.revokeObjectURL(this.img.src);
    this.img.src = URL.createObjectURL(blob);
    this.clearBox();
    this.showError("");
  }

  /** Drag over the picture: the box in 0–1 of the image as displayed (it keeps its aspect). */
  wireDrawing() {
    let start = null;
    const at = (event) => {
      const r = this.img.getBoundingClientRect();
      return [Math.min(1, Math.max(0, (event.clientX - r.left) / r.width)),
        Math.min(1, Math.max(0, (event.clientY - r.top) / r.height))];
    };
    this.stage.addEventListener("pointerdown", (event) => {
      if (!this.img.naturalWidth) return;
      event.preventDefault();
      this.stage.setPointerCapture(event.pointerId);
      start = at(event);
      this.setBox([...start, ...start]);
    });
    this.stage.addEventListener("pointermove", (event) => {
      if (start) this.setBox([...start, ...at(event)]);
    });
    this.stage.addEventListener("pointerup", (event) => {
      if (!start) return;
      const end = at(event);
      this.setBox([...start, ...end]);
      start = null;
      if (this.box && (this.box[2] - this.box[0] < MIN_BOX || this.box[3] - this.box[1] < MIN_BOX)) this.clearBox();
    });
  }

  setBox([ax, ay, bx, by]) {
    this.box = [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)];
    const r = this.img.getBoundingClientRect();
    const s = this.stage.getBoundingClientRect();
    Object.assign(this.rect.style, {
      left: `${r.left - s.left + this.box[0] * r.width}px`, top: `${r.top - s.top + this.box[1] * r.height}px`,
      width: `${(this.box[2] - this.box[0]) * r.width}px`, height: `${(this.box[3] - this.box[1]) * r.height}px`,
    });
    this.rect.hidden = false;
  }

  clearBox() {
    this.box = null;
    this.rect.hidden = true;
  }

  async send() {
    if (!this.box) { this.showError(t("fileNeedBox")); return; }
    if (!this.code.value) { this.showError(t("fileNeedCode")); this.code.focus(); return; }
    const entry = this.codes.codes.find((c) => c.code === this.code.value);
    const body = {
      camera: this.camera.id, code: this.code.value, box: this.box.map((v) => Math.round(v * 10000) / 10000),
      description: this.description.value.trim() || (entry ? entry.name : this.code.value),
      ...this.momentFields(),
    };
    for (const key of LOCATION) body[key] = this.inputs[key].value.trim() || null;
    this.submit.disabled = true;
    const res = await api(this.submitUrl(), { method: "POST", json: body });
    this.submit.disabled = false;
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) {
      const detail = Array.isArray(answer.detail) ? answer.detail.map((d) => d.msg).join("; ") : answer.detail;
      this.showError(detail || `${t("failed")} (${res.status})`);
      return;
    }
    this.close();
    this.onFiled(answer);
  }

  showError(text) {
    if (this.error) this.error.textContent = text;
  }

  close() {
    if (!this.dialog) return;
    if (this.img.src) URL.revokeObjectURL(this.img.src);
    this.dialog.close();
    this.dialog.remove();
    this.dialog = null;
  }
}

/** The words of a filed case's notice. */
export function filedMessage(summary) {
  return tf("fileFiled", { id: summary.id });
}
