// The login page: POST /api/session, then the wall. The session cookie is HttpOnly: this script never sees it.
import { t, toggleLang } from "./i18n.js";

const form = document.getElementById("login-form");
const error = document.getElementById("error");
const submit = form.querySelector('button[type="submit"]');

function applyWords() {
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.getElementById("lang").textContent = t("switchLang");
  document.title = `citywall ${t("loginTitle")}`;
}

// Where to go after login: the page that sent us here (?next=/wall/hall?kiosk=1), only a path of this site.
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return /^\/(?![/\\])/.test(next) ? next : "/";
}

const MESSAGES = { 401: "loginFailed", 403: "loginLocked", 422: "loginFailed", 429: "loginThrottled" };

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  submit.disabled = true;
  try {
    const res = await fetch("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: form.username.value.trim(), password: form.password.value }),
    });
    if (res.ok) {
      location.replace(nextPage());
      return;
    }
    error.textContent = t(MESSAGES[res.status] || "loginError");
    form.password.value = "";
    form.password.focus();
  } catch (_) {
    error.textContent = t("loginError");
  } finally {
    submit.disabled = false;
  }
});

document.getElementById("lang").addEventListener("click", () => { toggleLang(); applyWords(); });
applyWords();

// Already logged in (a second tab, the back button): straight to the wall.
fetch("/api/me").then((res) => { if (res.ok) location.replace(nextPage()); }).catch(() => {});
