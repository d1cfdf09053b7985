// Words the wall shows, in zh-CN (default) and English. Kept here so every module shows the same words.
const WORDS = {
  "zh-CN": {
    title: "视频墙", cameras: "路", live: "在线", connecting: "连接中", stalled: "卡顿", offline: "离线",
    stopped: "已停止", empty: "空闲", still: "静态画面", switchLang: "English", noCameras: "没有可查看的摄像机",
    forbidden: "无权限", limited: "画面数已达上限", logout: "退出登录", loginTitle: "登录", username: "用户名", password: "密码",
    loginSubmit: "登录", loginFailed: "用户名或密码错误", loginThrottled: "登录失败次数过多，请稍后再试",
    loginLocked: "账号已锁定或停用，请联系管理员", loginError: "无法连接服务器，请稍后再试",
    appName: "数字城管视频墙",
    rendition: "转码", renditionTitle: "浏览器不能解码本路 H.265：服务器转为 H.264 播放",
    renditionFull: "转码已满·静态画面",
  },
  en: {
    title: "Video wall", cameras: "cameras", live: "live", connecting: "connecting", stalled: "stalled",
    offline: "offline", stopped: "stopped", empty: "empty", still: "still image", switchLang: "中文",
    noCameras: "No cameras you may view", forbidden: "no access", limited: "too many live views", logout: "Log out", loginTitle: "Log in",
    username: "User name", password: "Password", loginSubmit: "Log in",
    loginFailed: "Wrong user name or password", loginThrottled: "Too many failed logins: try again later",
    loginLocked: "This account is locked or disabled: ask an admin",
    loginError: "Cannot reach the server: try again later", appName: "citywall video wall",
    rendition: "H.264", renditionTitle: "This browser cannot decode the camera's H.265: the server sends H.264",
    renditionFull: "no transcoder free · stills",
  },
};

let lang = localStorage.getItem("citywall.lang") || "zh-CN";
document.documentElement.lang = lang;

/** Pages add their own words (desk, admin, wall): one dictionary, no key clashes across pages. */
export function addWords(words) {
  for (const [code, dict] of Object.entries(words)) WORDS[code] = { ...(WORDS[code] || {}), ...dict };
}

/** Put the words of every element with data-i18n (text) or data-i18n-title / -placeholder in place. */
export function applyWords(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
}

export function t(key) {
  return (WORDS[lang] && WORDS[lang][key]) || WORDS["zh-CN"][key] || key;
}

export function currentLang() {
  return lang;
}

export function toggleLang() {
  lang = lang === "zh-CN" ? "en" : "zh-CN";
  localStorage.setItem("citywall.lang", lang);
  document.documentElement.lang = lang;
}
