// Camera groups: the groups cameras.yaml names (read-only here: they follow the file) and the admins' own, which
// are created, renamed, given other cameras and deleted. One form serves create and edit; a rename carries the
// group's grants with it (PATCH /api/groups/{name}), a delete removes them.
import { addWords, applyWords, t } from "./i18n.js";
import { act, ask, call, describe, el, fillRows, showMessage } from "./admin-common.js";

addWords({
  "zh-CN": {
    admGroupNew: "新建分组", admGroupEdit: "编辑分组：", admGroupName: "分组名称", admFilterCameras: "筛选摄像机",
    admSave: "保存", admCancel: "取消", admSource: "来源", admMembers: "摄像机", admSourceConfig: "配置文件",
    admSourceAdmin: "管理员", admEdit: "编辑", admDelete: "删除", admNoGroups: "没有分组", admNoCameras: "没有摄像机",
    admGroupFollowsFile: "随 cameras.yaml 变化", admDeleteGroupOf: "删除分组：",
    admDeleteGroupNote: "该分组的所有授权将一并撤销。", admGroupSaved: "分组已保存", admGroupDeleted: "分组已删除",
  },
  en: {
    admGroupNew: "New group", admGroupEdit: "Edit group: ", admGroupName: "Group name",
    admFilterCameras: "Filter cameras", admSave: "Save", admCancel: "Cancel", admSource: "Source",
    admMembers: "Cameras", admSourceConfig: "cameras.yaml", admSourceAdmin: "admin", admEdit: "Edit",
    admDelete: "Delete", admNoGroups: "No groups", admNoCameras: "No cameras", admGroupFollowsFile: "follows cameras.yaml",
    admDeleteGroupOf: "Delete the group ", admDeleteGroupNote: "Every grant of the group is revoked with it.",
    admGroupSaved: "Group saved", admGroupDeleted: "Group deleted",
  },
});

let root;
let form;
let groups = [];
let cameras = [];
let editing = null; // the name of the group in the form, or null when the form makes a new one

const path = (name) => `/api/groups/${encodeURIComponent(name)}`;

async function load() {
  try {
    [groups, cameras] = await Promise.all([call("/api/groups"), call("/api/cameras")]);
  } catch (error) {
    showMessage(describe(error), "error");
  }
  render();
}

function cameraName(id) {
  const cam = cameras.find((c) => c.id === id);
  return cam ? cam.name : id;
}

function picks(checked) {
  const box = form.querySelector('[data-testid="group-cameras"]');
  const labels = cameras.map((cam) => el("label", { className: "pick", dataset: { camera: cam.id },
    title: cam.id }, [
    el("input", { testid: "group-camera", attrs: { type: "checkbox", value: cam.id, checked: checked.has(cam.id) },
      dataset: { camera: cam.id } }),
    el("span", { text: cam.name }), el("span", { className: "sub", text: cam.id }),
  ]));
  box.replaceChildren(...labels);
  if (labels.length === 0) box.append(el("span", { className: "sub", i18n: "admNoCameras" }));
  filterPicks();
}

function filterPicks() {
  const needle = form.elements.filter.value.trim().toLowerCase();
  form.querySelectorAll("label.pick").forEach((label) => {
    label.hidden = Boolean(needle) && !label.textContent.toLowerCase().includes(needle);
  });
}

function chosen() {
  return [...form.querySelectorAll('[data-testid="group-camera"]:checked')].map((box) => box.value);
}

function edit(group) {
  editing = group ? group.name : null;
  form.elements.name.value = group ? group.name : "";
  form.elements.filter.value = "";
  const title = form.querySelector("#group-form-title");
  if (group) delete title.dataset.i18n;
  else title.dataset.i18n = "admGroupNew";
  title.textContent = group ? `${t("admGroupEdit")}${group.name}` : t("admGroupNew");
  form.querySelector("#group-cancel").hidden = !group;
  picks(new Set(group ? group.cameras : []));
  if (group) form.elements.name.focus();
}

async function save(event) {
  event.preventDefault();
  const name = form.elements.name.value;
  const members = chosen();
  const request = editing === null
    ? () => call("/api/groups", { method: "POST", json: { name, cameras: members } })
    : () => call(path(editing), { method: "PATCH", json: editing === name ? { cameras: members }
      : { name, cameras: members } });
  if (await act(form.querySelector('[type="submit"]'), request, t("admGroupSaved"))) {
    edit(null);
    await load();
  }
}

async function remove(button, group) {
  const yes = await ask({ title: `${t("admDeleteGroupOf")}${group.name}`, message: t("admDeleteGroupNote"),
    confirm: t("admDelete"), danger: true });
  if (yes && await act(button, () => call(path(group.name), { method: "DELETE" }), t("admGroupDeleted"))) {
    if (editing === group.name) edit(null);
    await load();
  }
}

function render() {
  const rows = groups.map((group) => {
    const own = group.source === "admin";
    const actions = el("td", { className: "actions" });
    if (own) {
      actions.append(
        el("button", { i18n: "admEdit", testid: "group-edit", attrs: { type: "button" },
          on: { click: () => edit(group) } }),
        el("button", { i18n: "admDelete", testid: "group-delete", className: "danger", attrs: { type: "button" },
          on: { click: (e) => remove(e.target, group) } }),
      );
    } else {
      actions.append(el("span", { className: "sub", i18n: "admGroupFollowsFile" }));
    }
    const members = group.cameras.map(cameraName);
    return el("tr", { testid: "group-row", dataset: { group: group.name, source: group.source } }, [
      el("td", { className: "name" }, [el("strong", { text: group.name })]),
      el("td", {}, [el("span", { className: `badge ${group.source}`,
        i18n: own ? "admSourceAdmin" : "admSourceConfig" })]),
      el("td", { testid: "group-members", title: group.cameras.join(", "),
        text: `${members.length} · ${members.join("、")}` }),
      actions,
    ]);
  });
  fillRows(root.querySelector("#group-rows"), rows, 4, "admNoGroups");
  if (editing !== null && !groups.some((g) => g.name === editing)) editing = null;
  const current = editing === null ? null : groups.find((g) => g.name === editing);
  const keep = new Set(chosen());
  if (current) {
    const title = form.querySelector("#group-form-title");
    title.textContent = `${t("admGroupEdit")}${current.name}`;
  }
  picks(keep);
  applyWords(root);
}

export default {
  mount(section) {
    root = section;
    form = root.querySelector("#group-form");
    form.addEventListener("submit", save);
    form.elements.filter.addEventListener("input", filterPicks);
    form.querySelector("#group-cancel").addEventListener("click", () => edit(null));
  },
  show: load,
  hide() {},
  render,
};
