// Words of the false-alarm memory (误报抑制) on the desk and in the admin console (zh-CN default, English).
// One module for both pages: the desk offers "don't raise here again" and shows a case's suppressions, the
// console lists, lifts and expires them.
import { addWords } from "./i18n.js";

addWords({
  "zh-CN": {
    supRemember: "记住：此处不再报警（误报抑制）", supRememberDays: "有效 {days} 天，管理员可解除",
    supRememberForever: "直到管理员解除", supFact: "误报抑制",
    supOnCase: "#{id} {state}，已拦截 {hits} 次{until}", supUntil: "，有效至 {when}",
    "supState.active": "生效中", "supState.lifted": "已解除", "supState.expired": "已过期",
    "deskAct.suppressed_place": "记住此处不再报警", "deskKey.suppression": "误报抑制",
    supTitle: "误报抑制", supIntro: "操作员驳回时选择“此处不再报警”形成的规则：同一摄像机、区域、类别和位置的"
      + "新发现只计数，不立案。", supShow: "显示", supAll: "全部", supNone: "没有误报抑制规则",
    supCamera: "摄像机", supZone: "区域", supPlace: "位置", supReason: "原因", supCase: "来源案件",
    supBy: "创建人", supCreated: "创建时间", supExpires: "有效至", supHits: "已拦截", supLastHit: "最近拦截",
    supStateCol: "状态", supActions: "操作", supLift: "解除", supSetExpiry: "设定有效期", supExpireNow: "立即过期",
    supNoEnd: "长期", supLifted: "规则 #{id} 已解除", supExpiryDone: "规则 #{id} 的有效期已更新",
    supConfirmLift: "解除规则 #{id}？此处将重新报警。", supDaysFromNow: "从现在起的天数", admTabSuppressions: "误报抑制",
  },
  en: {
    supRemember: "Remember: don't raise here again (false-alarm memory)",
    supRememberDays: "for {days} days, an admin can lift it", supRememberForever: "until an admin lifts it",
    supFact: "Suppression", supOnCase: "#{id} {state}, kept back {hits}{until}", supUntil: ", until {when}",
    "supState.active": "active", "supState.lifted": "lifted", "supState.expired": "expired",
    "deskAct.suppressed_place": "remembered: don't raise here again", "deskKey.suppression": "suppression",
    supTitle: "Suppressions", supIntro: "Made when an operator rejects a case with \"don't raise here again\": new "
      + "candidates at the same camera, zone, class and place are counted, not raised.",
    supShow: "Show", supAll: "all", supNone: "No suppressions",
    supCamera: "Camera", supZone: "Zone", supPlace: "Place", supReason: "Reason", supCase: "From case",
    supBy: "By", supCreated: "Created", supExpires: "Until", supHits: "Kept back", supLastHit: "Last",
    supStateCol: "State", supActions: "Actions", supLift: "Lift", supSetExpiry: "Set end", supExpireNow: "Expire now",
    supNoEnd: "no end", supLifted: "Suppression #{id} lifted", supExpiryDone: "Suppression #{id}: new end saved",
    supConfirmLift: "Lift suppression #{id}? The place raises cases again.", supDaysFromNow: "Days from now",
    admTabSuppressions: "Suppressions",
  },
});
