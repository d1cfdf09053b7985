// 视频立案 from a paused playback (wall-playback.js): the wall's filing dialog (wall-filing.js: the box on the
// still, the event code, the camera's location prefilled, the description; Enter files, Esc cancels) over the
// recorded frame the player shows at the moment `at` (/api/playback/{camera}/still.jpg?at=…, decoded on the server
// from the recording at its full resolution). POST /api/playback/cases files it with that moment: the server
// takes the same frame again and the recording around it as the clip, and the case's observed time is `at`.
// Only what differs from a live filing is here (FilingDialog's hooks: where the defaults, the still and the case
// go, and the one moment); the rights are the server's (the playback right and the right to decide cases).
import { addWords, t } from "./i18n.js";
import { FilingDialog } from "./wall-filing.js";

addWords({
  "zh-CN": { fileRecorded: "录像 {when}" },
  en: { fileRecorded: "recording {when}" },
});

export class PlaybackFilingDialog extends FilingDialog {
  /** Open the dialog for `camera` ({id, name}) at wall time `at`; `when` is how the panel shows that time. */
  open(camera, at, when) {
    this.at = at;
    this.when = when;
    return super.open(camera);
  }

  base() {
    return `/api/playback/${encodeURIComponent(this.camera.id)}`;
  }

  defaultsUrl() {
    return `${this.base()}/filing`;
  }

  /** One moment: the paused frame (the live dialog's "a moment ago" choices are the ring's, not a recording's). */
  fillMoments() {
    this.moment.replaceChildren(new Option(t("fileRecorded").replace("{when}", this.when), String(this.at)));
    this.moment.disabled = true;
  }

  /** The recorded frame at the moment (the server decodes the one the player shows). */
  stillUrl() {
    return `${this.base()}/still.jpg?at=${this.at}`;
  }

  submitUrl() {
    return "/api/playback/cases";
  }

  momentFields() {
    return { at: this.at };
  }
}

/** The wall shows filing to users who may decide cases (wall.js sets .may-file; never on a kiosk). */
export function mayFile() {
  const wall = document.getElementById("wall");
  return Boolean(wall && wall.classList.contains("may-file"));
}
