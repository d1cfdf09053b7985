// The site's detector (检测模型): the card in service, where a rollback goes, the cards under models/ that could be
// promoted with their evaluation (citywall evaluate: precision / recall per family against the operators'
// decisions, false alarms per camera-day, detector ms per look, candidate beside current), and the history of
// switches. Promote and roll back switch the running analytics at once; the server refuses a card without an
// evaluation of it, and audits each switch.
import { addWords, applyWords, t } from "./i18n.js";
import { act, ask, call, describe, el, fillRows, formatTime, showMessage } from "./admin-common.js";

addWords({
  "zh-CN": {
    admTabModels: "检测模型", mdlIntro: "切换站点的检测模型须附评估（citywall evaluate）：用未参与训练的已审案件"
      + "回放比较候选模型与现用模型。切换立即生效，无需重启；上一模型保留以便回退。",
    mdlCurrent: "现用模型", mdlApplied: "已在运行", mdlNotApplied: "重启后生效", mdlPrevious: "回退目标",
    mdlNone: "无", mdlRollback: "回退到上一模型", mdlCandidates: "候选模型", mdlCard: "模型卡",
    mdlName: "名称", mdlEvaluation: "评估", mdlNoEvaluation: "无评估，不能启用", mdlPromote: "启用",
    mdlHistory: "切换记录", mdlWhen: "时间", mdlAction: "操作", mdlBy: "操作人", mdlNoCandidates: "models/ 下没有候选模型",
    mdlNoHistory: "尚无切换记录", "mdlAct.promote": "启用", "mdlAct.rollback": "回退",
    mdlScore: "{family}：准确率 {p} 召回率 {r} 误报 {fa}/摄像机·天（现用 {cp} / {cr} / {cfa}）",
    mdlCost: "每次检测 {ms} ms CPU（现用 {cms} ms），{n} 个案件",
    mdlConfirmPromote: "启用模型 {name}？正在运行的分析将立即改用它。", mdlConfirmRollback: "回退到 {card}？",
    mdlPromoted: "已启用 {name}", mdlRolledBack: "已回退",
  },
  en: {
    admTabModels: "Detector models", mdlIntro: "Switching the site's detector needs an evaluation (citywall evaluate): "
      + "decided cases not trained on, replayed with the candidate and the current model. The switch takes effect "
      + "at once, without a restart; the previous model is kept for rollback.",
    mdlCurrent: "In service", mdlApplied: "running", mdlNotApplied: "takes effect at restart",
    mdlPrevious: "Rollback target", mdlNone: "none", mdlRollback: "Roll back", mdlCandidates: "Candidates",
    mdlCard: "Card", mdlName: "Name", mdlEvaluation: "Evaluation", mdlNoEvaluation: "no evaluation: cannot promote",
    mdlPromote: "Promote", mdlHistory: "History", mdlWhen: "When", mdlAction: "Action", mdlBy: "By",
    mdlNoCandidates: "no candidate cards under models/", mdlNoHistory: "no switches yet",
    "mdlAct.promote": "promote", "mdlAct.rollback": "rollback",
    mdlScore: "{family}: precision {p} recall {r} false alarms {fa}/camera-day (current {cp} / {cr} / {cfa})",
    mdlCost: "{ms} ms CPU per look (current {cms} ms), {n} cases",
    mdlConfirmPromote: "Promote {name}? The running analytics switch to it at once.",
    mdlConfirmRollback: "Roll back to {card}?", mdlPromoted: "{name} promoted", mdlRolledBack: "Rolled back",
  },
});

let root;
let page = null;

function words(key, values) {
  return t(key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

const pct = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 100)}%`);

function summary(evaluation) {
  if (!evaluation) return [el("span", { className: "hint", testid: "model-no-evaluation", i18n: "mdlNoEvaluation" })];
  const current = evaluation.current || { families: [], ms_cpu_per_look: null };
  const lines = evaluation.candidate.families.map((f) => {
    const c = current.families.find((x) => x.family === f.family) || {};
    return el("div", { testid: "model-score", dataset: { family: f.family }, text: words("mdlScore", {
      family: f.family, p: pct(f.precision), r: pct(f.recall), fa: f.false_alarms_per_camera_day,
      cp: pct(c.precision), cr: pct(c.recall), cfa: c.false_alarms_per_camera_day ?? "—" }) });
  });
  lines.push(el("div", { className: "hint", text: words("mdlCost", { ms: evaluation.candidate.ms_cpu_per_look,
    cms: current.ms_cpu_per_look ?? "—", n: evaluation.held_out }) }));
  return lines;
}

async function load() {
  try {
    page = await call("/api/models");
  } catch (error) {
    page = null;
    showMessage(describe(error), "error");
  }
  render();
}

async function promote(button, candidate) {
  const sure = await ask({ title: t("mdlPromote"), message: words("mdlConfirmPromote", { name: candidate.name }),
    confirm: t("mdlPromote") });
  if (!sure) return;
  const work = async () => { page = await call("/api/models/promote", { method: "POST", json: { card: candidate.card } }); };
  if (await act(button, work, words("mdlPromoted", { name: candidate.name }))) render();
}

async function rollback(button) {
  const sure = await ask({ title: t("mdlRollback"), message: words("mdlConfirmRollback", { card: page.previous }),
    confirm: t("mdlRollback"), danger: true });
  if (!sure) return;
  const work = async () => { page = await call("/api/models/rollback", { method: "POST" }); };
  if (await act(button, work, t("mdlRolledBack"))) render();
}

function render() {
  if (!root) return;
  const head = root.querySelector("#models-current");
  head.replaceChildren();
  if (page) {
    head.append(
      el("p", {}, [el("strong", { i18n: "mdlCurrent" }), el("span", { text: " " }),
        el("span", { testid: "model-current", text: `${page.current_name} (${page.current})` }), el("span", { text: " · " }),
        el("span", { testid: "model-applied", dataset: { applied: String(page.applied) },
          i18n: page.applied ? "mdlApplied" : "mdlNotApplied" })]),
      el("p", {}, [el("strong", { i18n: "mdlPrevious" }), el("span", { text: " " }),
        el("span", { testid: "model-previous", text: page.previous || t("mdlNone") }), el("span", { text: " " }),
        page.previous ? el("button", { i18n: "mdlRollback", testid: "model-rollback", attrs: { type: "button" },
          on: { click: (e) => rollback(e.target) } }) : null]));
  }
  const candidates = (page ? page.candidates : []).map((c) => el("tr", { testid: "model-candidate",
    dataset: { card: c.card } }, [
    el("td", { text: c.card }), el("td", { text: c.name }), el("td", {}, summary(c.evaluation)),
    el("td", { className: "actions" }, [c.evaluation && c.card !== page.current ? el("button", {
      i18n: "mdlPromote", testid: "model-promote", attrs: { type: "button" },
      on: { click: (e) => promote(e.target, c) } }) : null]),
  ]));
  fillRows(root.querySelector("#models-candidates"), candidates, 4, "mdlNoCandidates");
  const history = (page ? page.history : []).map((row) => el("tr", { testid: "model-history-row" }, [
    el("td", { text: formatTime(row.at) }), el("td", { text: t(`mdlAct.${row.action}`) }),
    el("td", { text: `${row.card_name} (${row.card || "default"})`, title: row.onnx_sha256 }),
    el("td", { text: row.by }), el("td", {}, summary(row.evaluation)),
  ]));
  fillRows(root.querySelector("#models-history"), history, 5, "mdlNoHistory");
  applyWords(root);
}

export default {
  mount(section) { root = section; },
  show() { load(); },
  hide() {},
  render,
};
