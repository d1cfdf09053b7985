// Grants: a matrix of who (the roles operator and viewer, then each non-admin user) × what (camera groups, then
// cameras). A cell's checkbox is the direct grant of that target to that subject: ticking it POSTs
// /api/grants, clearing it DELETEs that grant. A cell the subject gets anyway — through a group it holds, or
// through its role — is marked "inherited" with the reason in its title, so an admin sees why clearing a box
// does not always take a camera away. Admins see every camera and have no row. The matrix shows one right at a
// time (the select above it: live view, playback, PTZ): each right is granted on its own, with the same rules.
import { addWords, applyWords, t } from "./i18n.js";
import { act, call, describe, el, showMessage } from "./admin-common.js";

addWords({
  "zh-CN": {
    admFilterSubjects: "筛选用户", admGrantDirect: "直接授权", admGrantInherited: "经分组或角色继承",
    admGrantHint: "勾选即授权，取消即撤销；立即生效（已打开的实时画面一秒内关闭）。管理员可查看全部摄像机，不在表中。",
    admSubject: "用户 / 角色", admEffective: "可见", admCamerasUnit: "路", admRolePrefix: "角色：",
    admVia: "继承自", admGranted: "已授权", admRevoked: "已撤销", admNothingToShow: "没有可授权的对象或摄像机",
    admDisabledUser: "已停用", admGrantRight: "权限", admRightView: "实时查看", admRightPlayback: "录像回放",
    admRightPtz: "云台控制", admPtzNeedsView: "云台控制还需要实时查看权限，且仅操作员和管理员可用。",
  },
  en: {
    admFilterSubjects: "Filter users", admGrantDirect: "granted directly",
    admGrantInherited: "inherited through a group or role",
    admGrantHint: "Tick to grant, clear to revoke; changes apply at once (open live views close within a "
      + "second). Admins see every camera and are not listed.",
    admSubject: "User / role", admEffective: "Sees", admCamerasUnit: "cameras", admRolePrefix: "role: ",
    admVia: "via", admGranted: "Granted", admRevoked: "Revoked", admNothingToShow: "Nothing to grant yet",
    admDisabledUser: "disabled", admGrantRight: "Right", admRightView: "Live view", admRightPlayback: "Playback",
    admRightPtz: "PTZ control", admPtzNeedsView: "PTZ control also needs the live-view right, and only operators "
      + "and admins may steer.",
  },
});

const RIGHT_WORD = { view: "admRightView", playback: "admRightPlayback", ptz: "admRightPtz" };
const ROLE_WORD = { admin: "admRoleAdmin", operator: "admRoleOperator", viewer: "admRoleViewer" };
let grantable = []; // the roles grants apply to: those that do not see every camera anyway (from /api/roles)

let root;
let users = [];
let groups = [];
let cameras = [];
let grants = [];
let right = "view"; // the right the matrix shows and grants

const key = (subject, target) => `${subject}\u0000${target}`;

async function load() {
  try {
    [users, groups, cameras, grants] = await Promise.all([
      call("/api/users"), call("/api/groups"), call("/api/cameras"), call("/api/grants")]);
  } catch (error) {
    showMessage(describe(error), "error");
  }
  render();
}

/** Who may hold a grant: the grantable roles, then every user of such a role (operators first). */
function subjects() {
  const roles = grantable.map((role) => ({ id: `role:${role}`, role, isRole: true,
    label: `${t("admRolePrefix")}${t(ROLE_WORD[role])}` }));
  const people = users.filter((u) => grantable.includes(u.role))
    .sort((a, b) => a.role.localeCompare(b.role) || a.name.localeCompare(b.name))
    .map((u) => ({ id: u.name, role: u.role, isRole: false, label: u.name, disabled: u.disabled }));
  return [...roles, ...people];
}

/** Grants as a lookup: (subject, target) → grant id, and each subject's granted groups. */
function index() {
  const direct = new Map();
  const groupsOf = new Map();
  for (const g of grants.filter((grant) => grant.right === right)) {
    direct.set(key(g.subject, g.target), g.id);
    if (g.target.startsWith("group:")) {
      if (!groupsOf.has(g.subject)) groupsOf.set(g.subject, []);
      groupsOf.get(g.subject).push(g.target.slice("group:".length));
    }
  }
  const members = new Map(groups.map((g) => [g.name, new Set(g.cameras)]));
  return { direct, groupsOf, members };
}

/** Why `subject` gets `target` other than by a direct grant (the same rules as the server's visible_cameras). */
function inheritedVia(subject, target, { direct, groupsOf, members }) {
  const via = [];
  const holders = subject.isRole ? [subject.id] : [subject.id, `role:${subject.role}`];
  for (const holder of holders) {
    const own = holder === subject.id;
    if (!own && direct.has(key(holder, target))) via.push(holder);
    if (!target.startsWith("group:")) {
      for (const group of groupsOf.get(holder) || []) {
        if (members.get(group)?.has(target)) via.push(own ? `group:${group}` : `${holder} → group:${group}`);
      }
    }
  }
  return via;
}

function matches(needle, ...texts) {
  return !needle || texts.some((text) => String(text || "").toLowerCase().includes(needle));
}

async function toggle(box, subject, target, grantId) {
  const want = box.checked;
  const cell = box.closest("td");
  cell.classList.add("busy");
  const ok = await act(box, () => (want
    ? call("/api/grants", { method: "POST", json: { subject, target, right } })
    : call(`/api/grants/${grantId}`, { method: "DELETE" })),
  `${t(want ? "admGranted" : "admRevoked")}: ${target} → ${subject} (${t(RIGHT_WORD[right])})`);
  if (!ok) box.checked = !want;
  try {
    grants = await call("/api/grants");
  } catch (error) {
    showMessage(describe(error), "error");
  }
  render();
}

function cell(subject, target, lookup) {
  const grantId = lookup.direct.get(key(subject.id, target));
  const via = inheritedVia(subject, target, lookup);
  const direct = grantId !== undefined;
  const state = direct && via.length ? "both" : direct ? "direct" : via.length ? "inherited" : "none";
  const title = [`${target} → ${subject.id}`];
  if (direct) title.push(t("admGrantDirect"));
  if (via.length) title.push(`${t("admVia")} ${via.join(", ")}`);
  const box = el("input", { testid: "grant-box", attrs: { type: "checkbox", checked: direct,
    "aria-label": `${target} → ${subject.id}` } });
  box.addEventListener("change", () => toggle(box, subject.id, target, grantId));
  return el("td", { className: `grant-cell ${state}`, testid: "grant-cell", title: title.join("\n"),
    dataset: { subject: subject.id, camera: target, target, state, via: via.join(", ") } },
  [box, via.length ? el("span", { className: "via", text: "◐", attrs: { "aria-hidden": "true" } }) : null]);
}

function render() {
  const table = root.querySelector('[data-testid="grant-matrix"]');
  const cameraNeedle = root.querySelector("#grant-camera-filter").value.trim().toLowerCase();
  const subjectNeedle = root.querySelector("#grant-subject-filter").value.trim().toLowerCase();
  const groupTargets = groups.filter((g) => matches(cameraNeedle, g.name))
    .map((g) => ({ target: `group:${g.name}`, label: g.name, sub: `group · ${g.cameras.length}`, isGroup: true }));
  const cameraTargets = cameras.filter((c) => matches(cameraNeedle, c.id, c.name, c.group))
    .map((c) => ({ target: c.id, label: c.name, sub: c.id, isGroup: false }));
  const targets = [...groupTargets, ...cameraTargets];
  const rows = subjects().filter((s) => matches(subjectNeedle, s.id, s.label));
  const lookup = index();
  const cameraIds = cameras.map((c) => c.id);

  const head = el("tr", {}, [
    el("th", { className: "corner", i18n: "admSubject" }),
    ...targets.map((tg) => el("th", { className: tg.isGroup ? "group-col" : "camera-col", testid: "grant-col",
      title: tg.target, dataset: { camera: tg.target } }, [el("span", { text: tg.label }),
      el("span", { className: "sub", text: tg.sub })])),
    el("th", { i18n: "admEffective" }),
  ]);
  const body = rows.map((subject) => {
    const seen = cameraIds.filter((id) => lookup.direct.has(key(subject.id, id))
      || inheritedVia(subject, id, lookup).length > 0).length;
    const label = el("th", { className: "subject", attrs: { scope: "row" } }, [el("span", { text: subject.label }),
      el("span", { className: "sub", text: subject.isRole ? subject.id
        : t(ROLE_WORD[subject.role]) + (subject.disabled ? ` · ${t("admDisabledUser")}` : "") })]);
    return el("tr", { testid: "grant-row", className: subject.isRole ? "role-row" : "",
      dataset: { subject: subject.id } }, [
      label, ...targets.map((tg) => cell(subject, tg.target, lookup)),
      el("td", { className: "effective", testid: "grant-effective", text: `${seen} ${t("admCamerasUnit")}` }),
    ]);
  });
  table.replaceChildren(el("thead", {}, [head]), el("tbody", {}, body));
  if (right === "ptz") table.append(el("caption", { i18n: "admPtzNeedsView" }));
  if (targets.length === 0 || rows.length === 0) {
    table.append(el("caption", { i18n: "admNothingToShow" }));
  }
  applyWords(root);
}

export default {
  mount(section, context) {
    root = section;
    grantable = context.roles.filter((r) => !r.permissions.includes("all_cameras")).map((r) => r.name);
    root.querySelector("#grant-camera-filter").addEventListener("input", render);
    root.querySelector("#grant-subject-filter").addEventListener("input", render);
    root.querySelector("#grant-right").addEventListener("change", (event) => {
      right = event.target.value;
      render();
    });
  },
  show: load,
  hide() {},
  render,
};
