// The camera picker: the cameras this user is granted (the API lists no others), searchable and by group, with
// their state. A camera is dragged onto a tile, or clicked after a tile was selected.
import { t } from "./i18n.js";

export class CameraPanel {
  constructor({ list, search, group, onPick }) {
    this.list = list;
    this.search = search;
    this.group = group;
    this.onPick = onPick;
    this.cameras = [];
    this.groups = [];
    search.addEventListener("input", () => this.draw());
    group.addEventListener("change", () => this.draw());
  }

  setGroups(groups) {
    this.groups = groups;
    const current = this.group.value;
    this.group.replaceChildren(new Option(t("allGroups"), ""),
      ...groups.map((g) => new Option(`${g.name} (${g.cameras.length})`, g.name)));
    this.group.value = groups.some((g) => g.name === current) ? current : "";
    this.draw();
  }

  setCameras(cameras) {
    this.cameras = cameras;
    this.draw();
  }

  /** The cameras the list shows now (after search and group): what "tour over the list" steps through. */
  shown() {
    const needle = this.search.value.trim().toLowerCase();
    const group = this.groups.find((g) => g.name === this.group.value);
    return this.cameras.filter((cam) => (!group || group.cameras.includes(cam.id))
      && (!needle || [cam.id, cam.name, cam.address, cam.street, cam.group, cam.national_id]
        .some((v) => v && String(v).toLowerCase().includes(needle))));
  }

  /** Show the list. The page refreshes the cameras every two seconds: items are kept and updated in place
   * (keyed by camera), so a refresh neither drops the keyboard focus nor pulls an item from under a drag. */
  draw() {
    const kept = new Map([...this.list.children].map((li) => [li.dataset.cameraId, li]));
    const items = this.shown().map((cam) => {
      const li = kept.get(cam.id) || this.item(cam.id);
      this.fill(li, cam);
      return li;
    });
    const current = [...this.list.children];
    if (items.length !== current.length || items.some((li, i) => li !== current[i])) {
      this.list.replaceChildren(...items);
    }
  }

  item(id) {
    const li = document.createElement("li");
    li.setAttribute("data-testid", "camera-item");
    li.dataset.cameraId = id;  // not data-camera: that names the camera a tile shows
    li.draggable = true;
    li.tabIndex = 0;
    li.innerHTML = '<span class="name"></span><span class="state"></span>';
    li.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("text/x-camera", id);
      event.dataTransfer.effectAllowed = "copy";
    });
    li.addEventListener("click", () => this.onPick(id));
    li.addEventListener("keydown", (event) => { if (event.key === "Enter") this.onPick(id); });
    return li;
  }

  fill(li, cam) {
    li.dataset.state = cam.state;
    li.querySelector(".name").textContent = cam.name;
    li.title = [cam.id, cam.address].filter(Boolean).join(" · ");
    const badge = li.querySelector(".state");
    badge.textContent = t(cam.state);
    badge.className = `state ${cam.state}`;
  }
}
