// The alarm pop-up on the wall's alarm tile: the case's event name and code, the camera, the evidence snapshot
// (with its box drawn by the analytics), a countdown, an acknowledge button for those who may, and a cue that
// is both visible (the tile flashes) and audible (a tone made in the page: nothing is downloaded).
import { t } from "./i18n.js";
import { BACKGROUND } from "./nav.js";

export class AlarmView {
  constructor({ onAck }) {
    this.onAck = onAck;
    this.shownCase = null;
    this.audio = null;
  }

  /** Put the banner on `tileEl` for `alarm` (or remove it when alarm is null). */
  render(tileEl, alarm, queued, mayControl, clockOffset) {
    document.querySelectorAll(".alarm-banner").forEach((el) => {
      if (!alarm || el.parentElement !== tileEl || el.dataset.case !== String(alarm.case_id)) el.remove();
    });
    if (!alarm || !tileEl) {
      this.shownCase = null;
      return;
    }
    let banner = tileEl.querySelector(".alarm-banner");
    if (!banner) {
      banner = document.createElement("div");
      banner.className = "alarm-banner";
      banner.setAttribute("data-testid", "alarm-tile");
      banner.dataset.case = String(alarm.case_id);
      banner.innerHTML = `<div class="alarm-head"><strong class="alarm-title"></strong>
          <span class="alarm-code" data-testid="alarm-code"></span></div>
        <div class="alarm-where"></div>
        <img class="alarm-snapshot" data-testid="alarm-snapshot" alt="">
        <div class="alarm-foot"><span class="alarm-left"></span><span class="alarm-queued"></span>
          <button type="button" class="alarm-ack" data-testid="alarm-ack"></button></div>`;
      banner.querySelector(".alarm-ack").addEventListener("click", (event) => {
        event.stopPropagation();
        this.onAck();
      });
      tileEl.appendChild(banner);
      this.loadSnapshot(banner, alarm.case_id);
    }
    banner.dataset.camera = alarm.camera;
    banner.querySelector(".alarm-title").textContent = `${t("alarmTitle")} · ${alarm.code_name || alarm.family}`;
    banner.querySelector(".alarm-code").textContent = alarm.code;
    banner.querySelector(".alarm-where").textContent = alarm.camera_name || alarm.camera;
    banner.querySelector(".alarm-queued").textContent = queued ? `+${queued} ${t("alarmQueued")}` : "";
    const ack = banner.querySelector(".alarm-ack");
    ack.textContent = t("ack");
    ack.hidden = !mayControl;
    const left = Math.max(0, Math.round(alarm.until - (Date.now() / 1000 + clockOffset)));
    banner.querySelector(".alarm-left").textContent = `${left}s`;
    if (this.shownCase !== alarm.case_id) {
      this.shownCase = alarm.case_id;
      this.beep();
    }
  }

  async loadSnapshot(banner, caseId) {
    const res = await fetch(`/api/cases/${caseId}`, { headers: BACKGROUND });  // after a push, not a click
    if (!res.ok) return;
    const record = await res.json();
    const snapshot = (record.evidence || []).find((e) => e.kind === "snapshot");
    if (snapshot && banner.isConnected) banner.querySelector(".alarm-snapshot").src = snapshot.url;
  }

  beep() {
    try {
      this.audio = this.audio || new AudioContext();
      const ctx = this.audio;
      if (ctx.state === "suspended") ctx.resume().catch(() => {});
      [0, 0.35, 0.7].forEach((start, i) => {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.frequency.value = i % 2 ? 660 : 880;
        gain.gain.setValueAtTime(0.0001, ctx.currentTime + start);
        gain.gain.exponentialRampToValueAtTime(0.3, ctx.currentTime + start + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + start + 0.3);
        osc.connect(gain).connect(ctx.destination);
        osc.start(ctx.currentTime + start);
        osc.stop(ctx.currentTime + start + 0.32);
      });
      document.body.dataset.cue = String(Number(document.body.dataset.cue || 0) + 1);
    } catch (_) { /* no audio device: the flashing tile is the cue */ }
  }
}
