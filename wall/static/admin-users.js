// Users: the list (role, state, last login, sessions) and every account change the admin API offers — create,
// change role, lock / unlock, reset the password, end sessions, disable / enable. Each change is one audited
// API call; a refusal (password policy, last admin, …) is shown with the server's reason.
import { addWords, applyWords, t } from "./i18n.js";
import { act, ask, call, describe, el, fillRows, formatTime, showMessage } from "./admin-common.js";

addWords({
  "zh-CN": {
    admUserName: "用户名", admUserNameRule: "1–64 个小写字母、数字或 . _ -，以字母或数字开头", admRole: "角色",
    admRoleAdmin: "管理员", admRoleOperator: "操作员", admRoleViewer: "查看员", admInitialPassword: "初始密码",
    admRepeatPassword: "再次输入", admCreateUser: "新建用户", admState: "状态", admLastLogin: "最近登录",
    admSessions: "在线会话", admPasswordChanged: "密码修改", admCreated: "创建时间", admActions: "操作",
    admStateActive: "正常", admStateLocked: "已锁定", admStateDisabled: "已停用", admLockedOut: "登录失败锁定至",
    admLock: "锁定", admUnlock: "解锁", admResetPassword: "重置密码", admEndSessions: "结束会话", admDisable: "停用",
    admEnable: "启用", admYou: "（本人）", admNoUsers: "没有用户", admPasswordsDiffer: "两次输入的密码不一致",
    admUserCreated: "已新建用户", admNewPassword: "新密码", admResetPasswordOf: "重置密码：",
    admResetPasswordNote: "保存后该用户的所有会话将结束，需用新密码重新登录。", admLockOf: "锁定用户：",
    admLockNote: "锁定后该用户无法登录，现有会话立即结束。", admDisableOf: "停用用户：",
    admDisableNote: "停用后该用户无法登录，现有会话立即结束；账号与审计记录保留。", admEndSessionsOf: "结束会话：",
    admEndSessionsNote: "该用户需要重新登录。", admSessionStarted: "登录时间", admSessionSeen: "最近活动",
    admSessionExpires: "过期时间", admAddress: "地址", admBrowser: "浏览器", admEnd: "结束", admCurrent: "当前会话",
    admNoSessions: "没有在线会话", admRoleChanged: "角色已修改",
  },
  en: {
    admUserName: "User name", admUserNameRule: "1–64 of a-z, 0-9, . _ -, starting with a letter or digit",
    admRole: "Role", admRoleAdmin: "admin", admRoleOperator: "operator", admRoleViewer: "viewer",
    admInitialPassword: "Initial password", admRepeatPassword: "Repeat", admCreateUser: "Create user",
    admState: "State", admLastLogin: "Last login", admSessions: "Sessions", admPasswordChanged: "Password changed",
    admCreated: "Created", admActions: "Actions", admStateActive: "active", admStateLocked: "locked",
    admStateDisabled: "disabled", admLockedOut: "failed logins: locked until", admLock: "Lock", admUnlock: "Unlock",
    admResetPassword: "Reset password", admEndSessions: "End sessions", admDisable: "Disable", admEnable: "Enable",
    admYou: " (you)", admNoUsers: "No users", admPasswordsDiffer: "The two passwords differ",
    admUserCreated: "User created", admNewPassword: "New password", admResetPasswordOf: "Reset the password of ",
    admResetPasswordNote: "Every session of the user ends; they log in again with the new password.",
    admLockOf: "Lock ", admLockNote: "The user cannot log in until unlocked; open sessions end now.",
    admDisableOf: "Disable ", admDisableNote: "The user cannot log in; open sessions end now. The account and its "
      + "audit trail are kept.", admEndSessionsOf: "End the sessions of ", admEndSessionsNote: "The user must log "
      + "in again.", admSessionStarted: "Logged in", admSessionSeen: "Last seen", admSessionExpires: "Expires",
    admAddress: "Address", admBrowser: "Browser", admEnd: "End", admCurrent: "this session",
    admNoSessions: "No open sessions", admRoleChanged: "Role changed",
  },
});

let roles = []; // role names, fewest permissions first (from /api/roles)
const ROLE_WORD = { admin: "admRoleAdmin", operator: "admRoleOperator", viewer: "admRoleViewer" };
const STATE_WORD = { active: "admStateActive", locked: "admStateLocked", disabled: "admStateDisabled" };
const COLUMNS = 8;

let root;
let me;
let list = [];
const open = new Map(); // user name → their sessions, for the rows whose session list is shown

const path = (name) => `/api/users/${encodeURIComponent(name)}`;

async function load() {
  try {
    list = await call("/api/users");
    for (const name of open.keys()) open.set(name, await call(`${path(name)}/sessions`).catch(() => []));
  } catch (error) {
    showMessage(describe(error), "error");
  }
  render();
}

async function change(button, name, body, done) {
  if (await act(button, () => call(path(name), { method: "PATCH", json: body }), done)) await load();
}

function button(key, testid, handler, className = "") {
  return el("button", { i18n: key, testid, className, attrs: { type: "button" }, on: { click: handler } });
}

function roleSelect(user) {
  const select = el("select", { testid: "user-role", attrs: { "aria-label": t("admRole") } },
    roles.map((r) => el("option", { text: t(ROLE_WORD[r]), attrs: { value: r, selected: r === user.role } })));
  select.addEventListener("change", async () => {
    const ok = await act(select, () => call(path(user.name), { method: "PATCH", json: { role: select.value } }),
      t("admRoleChanged"));
    if (!ok) select.value = user.role;
    await load();
  });
  return select;
}

function stateCell(user) {
  const cell = el("td", {}, [el("span", { className: `badge ${user.state}`, text: t(STATE_WORD[user.state]),
    testid: "user-state" })]);
  if (user.locked_out_until) {
    cell.append(el("div", { className: "sub", text: `${t("admLockedOut")} ${formatTime(user.locked_out_until)}` }));
    // why (from the server, in English: which addresses and how many failures); the details: /logins
    if (user.locked_out_reason) {
      cell.append(el("div", { className: "sub", testid: "user-lockout-reason", text: user.locked_out_reason }));
    }
  }
  return cell;
}

function actions(user) {
  const cell = el("td", { className: "actions" });
  const { name } = user;
  if (user.locked || user.locked_out_until) {
    cell.append(button("admUnlock", "user-unlock", (e) => change(e.target, name, { locked: false })));
  }
  if (!user.locked && !user.disabled) {
    cell.append(button("admLock", "user-lock", async (e) => {
      const target = e.target;
      if (await ask({ title: `${t("admLockOf")}${name}`, message: t("admLockNote"), confirm: t("admLock"),
        danger: true })) await change(target, name, { locked: true });
    }));
  }
  cell.append(button("admResetPassword", "user-password", async () => {
    const done = await ask({
      title: `${t("admResetPasswordOf")}${name}`, message: t("admResetPasswordNote"),
      input: { type: "password", label: t("admNewPassword"), autocomplete: "new-password" },
      submit: (password) => call(path(name), { method: "PATCH", json: { password } }),
    });
    if (done !== null) { showMessage(t("admDone"), "ok"); await load(); }
  }));
  const end = button("admEndSessions", "user-end-sessions", async (e) => {
    const target = e.target;
    if (await ask({ title: `${t("admEndSessionsOf")}${name}`, message: t("admEndSessionsNote"),
      confirm: t("admEndSessions"), danger: true })) {
      if (await act(target, () => call(`${path(name)}/sessions`, { method: "DELETE" }))) await load();
    }
  });
  end.disabled = user.sessions === 0;
  cell.append(end);
  if (user.disabled) {
    cell.append(button("admEnable", "user-enable", (e) => change(e.target, name, { disabled: false })));
  } else {
    cell.append(button("admDisable", "user-disable", async (e) => {
      const target = e.target;
      if (await ask({ title: `${t("admDisableOf")}${name}`, message: t("admDisableNote"), confirm: t("admDisable"),
        danger: true })) await change(target, name, { disabled: true });
    }, "danger"));
  }
  return cell;
}

function sessionsToggle(user) {
  const toggle = el("button", { className: "link", testid: "user-sessions-toggle", text: String(user.sessions),
    attrs: { type: "button", "aria-expanded": String(open.has(user.name)) } });
  toggle.addEventListener("click", async () => {
    if (open.has(user.name)) open.delete(user.name);
    else open.set(user.name, await call(`${path(user.name)}/sessions`).catch((error) => {
      showMessage(describe(error), "error");
      return [];
    }));
    render();
  });
  return toggle;
}

function sessionsRow(user) {
  const sessions = open.get(user.name) || [];
  const head = el("tr", {}, ["admSessionStarted", "admSessionSeen", "admSessionExpires", "admAddress", "admBrowser", ""]
    .map((key) => el("th", key ? { i18n: key } : {})));
  const rows = sessions.map((s) => el("tr", { testid: "session-row", dataset: { session: String(s.id) } }, [
    el("td", { text: formatTime(s.created_at) }), el("td", { text: formatTime(s.last_seen_at) }),
    el("td", { text: formatTime(s.expires_at) }), el("td", { text: s.address || "—" }),
    el("td", { className: "agent", text: s.user_agent || "—", title: s.user_agent || "" }),
    el("td", {}, [s.current ? el("span", { className: "sub", i18n: "admCurrent" })
      : button("admEnd", "session-end", async (e) => {
        const url = `${path(user.name)}/sessions/${s.id}`;
        if (await act(e.target, () => call(url, { method: "DELETE" }))) await load();
      })]),
  ]));
  const body = el("tbody");
  fillRows(body, rows, 6, "admNoSessions");
  return el("tr", { className: "detail", testid: "user-sessions", dataset: { user: user.name } }, [
    el("td", { attrs: { colspan: COLUMNS } }, [el("table", { className: "data inner" }, [el("thead", {}, [head]),
      body])]),
  ]);
}

function render() {
  const rows = [];
  for (const user of list) {
    const name = el("td", { className: "name" }, [el("strong", { text: user.name })]);
    if (me && user.name === me.name) name.append(el("span", { className: "sub", text: t("admYou") }));
    rows.push(el("tr", { testid: "user-row", className: user.state, dataset: { user: user.name, state: user.state } }, [
      name, el("td", {}, [roleSelect(user)]), stateCell(user),
      el("td", { testid: "user-last-login", text: user.last_login_at ? formatTime(user.last_login_at) : t("admNever") }),
      el("td", {}, [sessionsToggle(user)]), el("td", { text: formatTime(user.password_changed_at) }),
      el("td", { text: formatTime(user.created_at) }), actions(user),
    ]));
    if (open.has(user.name)) rows.push(sessionsRow(user));
  }
  fillRows(root.querySelector("#user-rows"), rows, COLUMNS, "admNoUsers");
  applyWords(root);
}

function showProblems(problems) {
  const list_ = root.querySelector('[data-testid="user-create-error"]');
  list_.replaceChildren(...problems.map((p) => el("li", { text: p })));
}

async function create(event) {
  event.preventDefault();
  const form = event.target;
  showProblems([]);
  if (form.elements.password.value !== form.elements.repeat.value) {
    showProblems([t("admPasswordsDiffer")]);
    return;
  }
  const { name, role, password } = form.elements;
  const body = { name: name.value.trim(), role: role.value, password: password.value };
  const submit = form.querySelector('[type="submit"]');
  submit.disabled = true;
  try {
    await call("/api/users", { method: "POST", json: body });
    form.reset();
    showMessage(`${t("admUserCreated")}: ${body.name}`, "ok");
    await load();
  } catch (error) {
    // The policy's problems come as one "; "-joined reason: one line each.
    showProblems([t("admErrServer") + (error.status ? ` (${error.status})` : ""), ...String(error.message)
      .split("; ")]);
  } finally {
    submit.disabled = false;
  }
}

export default {
  mount(section, context) {
    root = section;
    me = context.me;
    roles = [...context.roles].sort((a, b) => a.permissions.length - b.permissions.length).map((r) => r.name);
    root.querySelector('#user-create select[name="role"]').replaceChildren(...roles.map((r) =>
      el("option", { i18n: ROLE_WORD[r], attrs: { value: r } })));
    root.querySelector("#user-create").addEventListener("submit", create);
  },
  show: load,
  hide() {},
  render,
};
