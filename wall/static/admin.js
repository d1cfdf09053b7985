// The admin console (/admin): users, camera groups, grants, who controls each wall, cameras (health and editor), zones and rules, the
// audit log, the case outbox, the false-alarm suppressions and the detector models.
// Only admins get it: for anyone else the page says "no access" and asks the API for nothing (the API refuses
// them anyway). Each section lives in its own module (admin-*.js) with mount / show / hide / render; this one
// builds the header, switches tabs (kept in the URL's #hash so a reload stays put) and re-renders on a
// language switch.
import { addWords, applyWords, t } from "./i18n.js";
import { may, startPage } from "./nav.js";
import { call, clearMessage, describe, showMessage } from "./admin-common.js";
import users from "./admin-users.js";
import groups from "./admin-groups.js";
import grants from "./admin-grants.js";
import walls from "./admin-walls.js";
import cameras from "./admin-cameras.js";
import zones from "./admin-zones.js";
import audit from "./admin-audit.js";
import outbox from "./admin-outbox.js";
import suppressions from "./admin-suppressions.js";
import models from "./admin-models.js";

addWords({
  "zh-CN": {
    admTitle: "系统管理", admNoAccess: "无权限：只有管理员可以使用系统管理。", admTabUsers: "用户",
    admTabGroups: "摄像机分组", admTabGrants: "授权", admTabCameras: "摄像机", admTabAudit: "审计日志",
    admTabOutbox: "案件推送",
  },
  en: {
    admTitle: "Administration", admNoAccess: "No access: only admins may use the administration pages.",
    admTabUsers: "Users", admTabGroups: "Camera groups", admTabGrants: "Grants", admTabCameras: "Cameras",
    admTabAudit: "Audit log", admTabOutbox: "Case delivery",
  },
});

const SECTIONS = { users, groups, grants, walls, cameras, zones, audit, outbox, suppressions, models };
const tabs = [...document.querySelectorAll('.admin-tabs [role="tab"]')];
let current = null;

function select(name) {
  const key = SECTIONS[name] ? name : "users";
  if (current === key) return;
  if (current) {
    SECTIONS[current].hide();
    document.getElementById(`tab-${current}`).hidden = true;
  }
  clearMessage();
  current = key;
  for (const tab of tabs) tab.setAttribute("aria-selected", String(tab.dataset.tab === key));
  document.getElementById(`tab-${key}`).hidden = false;
  if (location.hash !== `#${key}`) history.replaceState(null, "", `#${key}`);
  SECTIONS[key].show();
}

function onLanguage() {
  document.title = `citywall ${t("admTitle")}`;
  if (current) SECTIONS[current].render();
}

async function start() {
  const me = await startPage(document.getElementById("header"), { onLanguage });
  if (!me) return;
  if (!may(me, "administer")) {
    document.getElementById("admin-no-access").hidden = false;
    return;
  }
  // Every role and its permissions (the server's table): the role choices and who grants apply to.
  const roles = await call("/api/roles").catch((error) => { showMessage(describe(error), "error"); return []; });
  const context = { me, roles };
  for (const [name, section] of Object.entries(SECTIONS)) {
    section.mount(document.getElementById(`tab-${name}`), context);
  }
  for (const tab of tabs) tab.addEventListener("click", () => select(tab.dataset.tab));
  window.addEventListener("hashchange", () => select(location.hash.slice(1)));
  document.getElementById("admin").hidden = false;
  applyWords();
  select(location.hash.slice(1));
  document.body.dataset.ready = "1";
}

start();
