// The header every signed-in page shares: who is logged in, links to the pages their role may use, the
// language switch and logout. Without a session (none yet, logged out, timed out) it goes to /login.
// What a role may do is the server's table (wall/auth/principal.py): /api/me lists the user's permissions.
import { addWords, applyWords, t, toggleLang } from "./i18n.js";

addWords({
  "zh-CN": { navWall: "视频墙", navDesk: "案件审核", navStats: "综合评价", navAdmin: "系统管理" },
  en: { navWall: "Wall", navDesk: "Review desk", navStats: "Statistics", navAdmin: "Admin" },
});

const PAGES = [
  { key: "navWall", href: "/", permission: "view_wall", testid: "nav-wall" },
  { key: "navDesk", href: "/desk", permission: "review_cases", testid: "nav-desk" },
  { key: "navStats", href: "/stats", permission: "read_statistics", testid: "nav-stats" },
  { key: "navAdmin", href: "/admin", permission: "administer", testid: "nav-admin" },
];

/** Whether the user of `me` (/api/me) may do `permission` (view_wall, review_cases, control_walls,
 *  read_statistics, administer). */
export function may(me, permission) {
  return (me.permissions || []).includes(permission);
}

let leaving = false;
addEventListener("pageshow", (event) => { if (event.persisted) leaving = false; }); // back from the bfcache

/** To the login page, which comes back here after the login (a kiosk display keeps its wall). Only the first
 *  call navigates: after a logout or an expiry every poll in flight answers 401 too, and a second replace()
 *  would abort the first navigation half-way (the browser reports ERR_ABORTED). */
export function toLogin(back = true) {
  if (leaving) return;
  leaving = true;
  const here = location.pathname + location.search;
  location.replace(back && here !== "/" ? `/login?next=${encodeURIComponent(here)}` : "/login");
}

// Requests the page makes by itself (polls, refreshes after a push) say so: they must not keep an idle session
// alive (server: security.session_idle_seconds; display roles excepted). Only what the user does counts as use.
export const BACKGROUND = { "X-Citywall-Background": "1" };

/** fetch() that sends a lost session to the login page; returns the Response for everything else.
 *  `background: true` marks a request the page makes by itself (see BACKGROUND). */
export async function api(path, options = {}) {
  const init = { ...options, headers: { ...(options.headers || {}), ...(options.background ? BACKGROUND : {}) } };
  delete init.background;
  if (options.json !== undefined) {
    init.body = JSON.stringify(options.json);
    init.headers["Content-Type"] = "application/json";
    delete init.json;
  }
  const res = await fetch(path, init);
  if (res.status === 401) toLogin();
  return res;
}

/** Build the header into `header` (an element with an <h1 data-i18n=…>) and return /api/me, or null. */
export async function startPage(header, { onLanguage = () => {}, kiosk = false } = {}) {
  const res = await fetch("/api/me");
  if (res.status === 401) { toLogin(); return null; }
  const me = res.ok ? await res.json() : { name: "?", role: "viewer", permissions: ["view_wall"] };
  if (kiosk) {
    header.hidden = true;
    return me;
  }
  const nav = document.createElement("nav");
  nav.className = "pages";
  for (const page of PAGES.filter((p) => may(me, p.permission))) {
    const a = document.createElement("a");
    a.href = page.href;
    a.dataset.i18n = page.key;
    a.dataset.testid = page.testid;
    a.setAttribute("data-testid", page.testid);
    if (location.pathname === page.href) a.setAttribute("aria-current", "page");
    nav.appendChild(a);
  }
  const actions = document.createElement("span");
  actions.className = "actions";
  actions.innerHTML = `<span id="user" data-testid="wall-user"></span>
    <button id="lang" type="button" data-testid="lang-switch"></button>
    <button id="logout" type="button" data-testid="logout" data-i18n="logout"></button>`;
  header.querySelector("h1").after(nav);
  header.appendChild(actions);
  actions.querySelector("#user").textContent = me.name;
  const words = () => {
    applyWords();
    actions.querySelector("#lang").textContent = t("switchLang");
    onLanguage();
  };
  actions.querySelector("#lang").addEventListener("click", () => { toggleLang(); words(); });
  actions.querySelector("#logout").addEventListener("click", async () => {
    try { await fetch("/api/session", { method: "DELETE" }); } finally { toLogin(false); }
  });
  words();
  return me;
}
