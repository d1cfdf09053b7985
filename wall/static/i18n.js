// Words the wall shows, in zh-CN (default) and English. Kept here so every module shows the same words.
const WORDS = {
  "zh-CN": {
    title: "视频墙", cameras: "路", live: "在线", connecting: "连接中", stalled: "卡顿", offline: "离线",
    stopped: "已停止", empty: "空闲", still: "静态画面", switchLang: "English", noCameras: "没有可查看的摄像机",
  },
  en: {
    title: "Video wall", cameras: "cameras", live: "live", connecting: "connecting", stalled: "stalled",
    offline: "offline", stopped: "stopped", empty: "empty", still: "still image", switchLang: "中文",
    noCameras: "No cameras you may view",
  },
};

let lang = localStorage.getItem("citywall.lang") || "zh-CN";

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
