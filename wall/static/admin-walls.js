// Shared walls and who controls them (issue 16): admins control every wall; besides them a wall is changed by its
// controllers — users, role:operator, or group:NAME (everyone the camera group is granted to). Those server.yaml
// names follow the file and are shown here without a remove button; the admins' own are added and removed here
// (PUT /api/walls/{name}/controllers with the whole list). Only the server decides: this page shows its answers.
import { addWords, applyWords, t } from "./i18n.js";
import { act, call, describe, el, fillRows, showMessage } from "./admin-common.js";

addWords({
  "zh-CN": {
    admTabWalls: "大屏", admWall: "大屏", admControllers: "控制者", admAddController: "添加",
    admControllerPlaceholder: "用户名 / role:operator / group:分组", admRemove: "移除", admNoWalls: "没有共享大屏",
    admWallsHint: "管理员可控制所有大屏；其他人只有被列为控制者（用户、角色或被授权该摄像机分组的人）才能更改大屏、推送和使用预案，其余人只能观看。来自 server.yaml 的控制者随配置文件变化。",
    admControllersSaved: "控制者已保存", admFromFile: "server.yaml",
  },
  en: {
    admTabWalls: "Walls", admWall: "Wall", admControllers: "Controllers", admAddController: "Add",
    admControllerPlaceholder: "user / role:operator / group:NAME", admRemove: "Remove", admNoWalls: "No shared walls",
    admWallsHint: "Admins control every wall. Anyone else changes a wall, pushes to it and uses its presets only as "
      + "one of its controllers (a user, a role, or those a camera group is granted to); everyone else watches. "
      + "Controllers from server.yaml follow the file.",
    admControllersSaved: "Controllers saved", admFromFile: "server.yaml",
  },
});

let root;
let walls = []; // [{wall, title, controllers: [{subject, source}]}]

const path = (name) => `/api/walls/${encodeURIComponent(name)}/controllers`;

async function load() {
  try {
    const [listed, users, groups] = await Promise.all([call("/api/walls"), call("/api/users"), call("/api/groups")]);
    const shared = listed.filter((w) => !w.seat);
    const rights = await Promise.all(shared.map((w) => call(path(w.name))));
    walls = shared.map((w, i) => ({ wall: w.name, title: w.title, controllers: rights[i].controllers }));
    const options = [...users.filter((u) => u.role !== "viewer").map((u) => u.name), "role:operator",
      ...groups.map((g) => `group:${g.name}`)];
    root.querySelector("#wall-controller-options").replaceChildren(...options.map((v) => el("option",
      { attrs: { value: v } })));
  } catch (error) {
    showMessage(describe(error), "error");
  }
  render();
}

async function save(wall, subjects, button) {
  await act(button, async () => {
    const answer = await call(path(wall.wall), { method: "PUT", json: { controllers: subjects } });
    wall.controllers = answer.controllers;
  }, t("admControllersSaved"));
  render();
}

function own(wall) {
  return wall.controllers.filter((c) => c.source === "admin").map((c) => c.subject);
}

function row(wall) {
  const chips = wall.controllers.map((c) => el("span", { className: "controller", testid: "wall-controller",
    dataset: { subject: c.subject, source: c.source } }, [
    el("span", { text: c.subject }),
    c.source === "config"
      ? el("span", { className: "badge config", i18n: "admFromFile" })
      : el("button", { testid: "wall-controller-remove", text: "×", title: t("admRemove"), attrs: { type: "button" },
        on: { click: (event) => save(wall, own(wall).filter((s) => s !== c.subject), event.currentTarget) } }),
  ]));
  const input = el("input", { testid: "wall-controller-input", attrs: { list: "wall-controller-options",
    maxlength: "80", placeholder: t("admControllerPlaceholder"), autocapitalize: "none", spellcheck: "false" } });
  const add = el("form", { className: "inline-form", on: { submit: (event) => {
    event.preventDefault();
    const subject = input.value.trim();
    if (subject) save(wall, [...own(wall), subject], event.submitter);
  } } }, [input, el("button", { testid: "wall-controller-add", i18n: "admAddController", attrs: { type: "submit" } })]);
  return el("tr", { testid: "wall-row", dataset: { wall: wall.wall } }, [
    el("td", { className: "name" }, [el("strong", { text: wall.wall }), el("span", { className: "sub",
      text: wall.title })]),
    el("td", { testid: "wall-controllers" }, chips),
    el("td", { className: "actions" }, [add]),
  ]);
}

function render() {
  fillRows(root.querySelector("#wall-rows"), walls.map(row), 3, "admNoWalls");
  applyWords(root);
}

export default {
  mount(section) {
    root = section;
  },
  show: load,
  hide() {},
  render,
};
