// Overdue cases (超期) on the wall: how many there are, and a badge on the tile of each camera that has one — what
// a hall watches besides the alarms: a dispatched case past its deadline (处置时限) and not yet cleared or closed.
// The server decides what is overdue (GET /api/cases?overdue=true, only the cameras this user may see); the page
// asks again every half minute (deadlines pass without a push) and soon after any case notice.
import { api } from "./nav.js";
import { t, addWords } from "./i18n.js";

const POLL_MS = 30000;
const AFTER_NOTICE_MS = 500;  // a burst of case notices asks once

addWords({
  "zh-CN": { overdue: "超期", overdueCount: "超期案件", overdueTile: "该摄像机有超过处置时限的案件" },
  en: { overdue: "overdue", overdueCount: "overdue cases", overdueTile: "this camera has cases past their deadline" },
});

export class OverdueView {
  /** @param {{ header: HTMLElement, root: HTMLElement }} parts  the page header (hidden in kiosk) and the grid */
  constructor({ header, root }) {
    Object.assign(this, { header, root });
    this.total = 0;
    this.byCamera = new Map();  // camera id → overdue cases (of the first 200)
    this.timer = 0;
  }

  start() {
    this.refresh();
    setInterval(() => this.refresh(), POLL_MS);
  }

  /** A case moved on somewhere (a push): ask again shortly. */
  soon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), AFTER_NOTICE_MS);
  }

  async refresh() {
    let body;
    try {
      const res = await api("/api/cases?overdue=true&limit=200", { background: true });
      if (!res.ok) return;
      body = await res.json();
    } catch (_) {
      return;  // offline for a moment: keep what is shown
    }
    this.total = body.total;
    this.byCamera = new Map();
    for (const c of body.items) this.byCamera.set(c.camera, (this.byCamera.get(c.camera) || 0) + 1);
    this.draw();
  }

  /** Draw the count and the tiles' badges (again after the grid was redrawn: a tile may be a new element). */
  draw() {
    let count = document.getElementById("overdue-count");
    if (!count) {
      count = document.createElement("span");
      count.id = "overdue-count";
      count.className = "overdue-count";
      count.setAttribute("data-testid", "wall-overdue");
      const inHeader = this.header && !this.header.hidden;
      count.classList.toggle("floating", !inHeader);  // kiosk: no header, a pill over the wall
      (inHeader ? this.header : document.body).appendChild(count);
    }
    count.hidden = this.total === 0;
    count.textContent = `${t("overdue")} ${this.total}`;
    count.title = t("overdueCount");
    count.dataset.count = String(this.total);
    for (const tile of this.root.querySelectorAll('[data-testid="tile"]')) {
      const n = this.byCamera.get(tile.dataset.camera) || 0;
      let badge = tile.querySelector(".tile-overdue");
      if (!n) {
        if (badge) badge.remove();
        continue;
      }
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "tile-overdue";
        badge.setAttribute("data-testid", "tile-overdue");
        tile.appendChild(badge);
      }
      badge.textContent = n > 1 ? `${t("overdue")} ${n}` : t("overdue");
      badge.title = t("overdueTile");
      badge.dataset.count = String(n);
    }
  }
}
