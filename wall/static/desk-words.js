// Words of the review desk (zh-CN default, English switch) and the few formatters every desk module shares.
// Keys start with "desk" so they never clash with the wall's or the admin page's words in the one dictionary.
import { addWords, currentLang, t } from "./i18n.js";

addWords({
  "zh-CN": {
    deskTitle: "案件审核", deskFilterStatus: "状态", deskFilterCamera: "摄像机", deskFilterCode: "事件类型",
    deskFilterTime: "时间", deskAllStatus: "全部状态", deskAllCameras: "全部摄像机", deskAllCodes: "全部类型",
    deskAllTime: "全部时间", deskLastHour: "最近 1 小时", deskToday: "今天", deskLast24h: "最近 24 小时",
    deskLast7d: "最近 7 天", deskCount: "共 {n} 件", deskCountPartial: "显示 {shown} / 共 {n} 件",
    deskQueueEmpty: "没有符合条件的案件", deskSelectCase: "在左侧选择一个案件",
    deskChannelOnline: "实时", deskChannelOffline: "推送已断开，重连中…",
    deskSnapshot: "抓拍", deskClip: "证据录像", deskLive: "实时画面", deskNoClip: "录像尚未生成",
    deskNoSnapshot: "没有抓拍", deskBoxes: "显示目标框", deskConfirm: "确认", deskReject: "驳回",
    deskClose: "结案", deskHistory: "历史", deskCancel: "取消", deskSubmitConfirm: "确认立案",
    deskSubmitReject: "确认驳回", deskSubmitClose: "确认结案", deskCode: "事件类型", deskGrid: "网格编码",
    deskAddress: "地址", deskNote: "备注", deskReason: "驳回原因", deskReasonText: "说明",
    deskCamera: "摄像机", deskRaisedAt: "发现时间", deskLastSeen: "最近看到", deskPlace: "位置",
    deskDescription: "描述", deskDecidedBy: "处理人", deskDepartment: "处置部门", deskStatus: "状态",
    deskSource: "来源", "deskSource.ai": "视频智能发现", "deskSource.patrol": "视频巡查",
    deskFile: "立案", deskKeyFile: "从实时画面立案",
    deskShortcuts: "键盘快捷键", deskKeyNext: "下一件", deskKeyPrev: "上一件", deskKeyConfirm: "确认",
    deskKeyReject: "驳回", deskKeyPlay: "播放/暂停录像", deskKeyHistory: "历史记录", deskKeyBoxes: "目标框",
    deskKeySubmit: "提交表单", deskKeyCancel: "取消/关闭",
    deskConfirmed: "案件 #{id} 已确认，已提交案件平台", deskRejected: "案件 #{id} 已驳回",
    deskClosedDone: "案件 #{id} 已结案",
    deskDecidedElsewhere: "案件 #{id} 已由 {who} 处理（{status}）", deskGone: "案件 #{id} 已不在队列中",
    deskOnlyPending: "只有待审核的案件可以确认或驳回", deskNotClosable: "该案件当前不能结案",
    deskNoClipYet: "该案件还没有录像", deskNotAllowed: "只有操作员和管理员可以处理案件",
    deskFailed: "操作失败", deskNetwork: "无法连接服务器", deskHistoryTitle: "案件历史 #{id}",
    deskEvidence: "证据", deskSystem: "系统",
    "deskEv.snapshot": "抓拍", "deskEv.clip": "录像", "deskEv.after_snapshot": "核查后抓拍",
    "deskEv.frame": "原始画面", "deskEv.arrival_clip": "出现时录像", "deskEv.keyframe_main": "主码流高清画面",
    "deskAct.raised": "发现立案", "deskAct.seen_again": "再次发现", "deskAct.gone_from_video": "画面中已消失",
    "deskAct.confirm": "确认", "deskAct.reject": "驳回", "deskAct.merge": "合并到其他案件",
    "deskAct.merged_from": "合并入案件", "deskAct.dispatch": "派遣", "deskAct.cleared_on_video": "视频核查：已消除",
    "deskAct.still_present": "视频核查：仍存在", "deskAct.close": "结案", "deskAct.evidence": "新增证据",
    "deskSt.pending_review": "待审核", "deskSt.confirmed": "已确认", "deskSt.dispatched": "已派遣",
    "deskSt.cleared_on_video": "核查已消除", "deskSt.still_present": "核查仍存在", "deskSt.closed": "已结案",
    "deskSt.rejected": "已驳回", "deskSt.overdue": "超期", deskOverdue: "超期", deskDeadline: "处置时限",
    deskOverdueTitle: "已超过处置时限 {when}，尚未消除或结案",
    "deskKey.code": "事件类型", "deskKey.grid_code": "网格编码", "deskKey.address": "地址", "deskKey.note": "备注",
    "deskKey.reason": "原因", "deskKey.text": "说明", "deskKey.department": "部门", "deskKey.ref": "平台编号",
    "deskKey.into": "并入案件", "deskKey.case": "案件", "deskKey.dwell": "停留秒数", "deskKey.zone": "区域",
    "deskKey.deadline_at": "处置时限",
    "deskKey.object_class": "目标类别", "deskKey.box": "目标框", "deskKey.kind": "驳回类型",
    "deskKey.extra_boxes": "新增目标", "deskKey.classes": "标注类别",
    labelClass: "目标类别", labelNoClass: "未选类别", labelMode: "画框", "labelMode.correct": "修正目标框",
    "labelMode.add": "新增目标", labelNoFrame: "该案件没有原始画面：只能选择类别，不能画框",
    labelHint: "在原始画面上拖动画框；Tab 到画面后：方向键移动、Shift+方向键改大小、n 新增、空格切换、Delete 删除、1–9 选类别",
    rejectKind: "驳回类型", "rejectKind.absent": "误报/无目标", "rejectKind.allowed": "允许/合规",
    "rejectKind.wrong_class": "类别错误", rejectClass: "实际类别", deskKeyLabel: "画面上标注目标框",
  },
  en: {
    deskTitle: "Review desk", deskFilterStatus: "Status", deskFilterCamera: "Camera", deskFilterCode: "Event type",
    deskFilterTime: "Time", deskAllStatus: "All states", deskAllCameras: "All cameras", deskAllCodes: "All types",
    deskAllTime: "Any time", deskLastHour: "Last hour", deskToday: "Today", deskLast24h: "Last 24 hours",
    deskLast7d: "Last 7 days", deskCount: "{n} cases", deskCountPartial: "{shown} of {n} cases",
    deskQueueEmpty: "No cases match", deskSelectCase: "Pick a case on the left",
    deskChannelOnline: "live", deskChannelOffline: "push channel lost, reconnecting…",
    deskSnapshot: "Snapshot", deskClip: "Evidence clip", deskLive: "Live view", deskNoClip: "clip not written yet",
    deskNoSnapshot: "no snapshot", deskBoxes: "Show boxes", deskConfirm: "Confirm", deskReject: "Reject",
    deskClose: "Close case", deskHistory: "History", deskCancel: "Cancel", deskSubmitConfirm: "Confirm case",
    deskSubmitReject: "Reject case", deskSubmitClose: "Close case", deskCode: "Event type", deskGrid: "Grid code",
    deskAddress: "Address", deskNote: "Note", deskReason: "Reason", deskReasonText: "Details",
    deskCamera: "Camera", deskRaisedAt: "Raised", deskLastSeen: "Last seen", deskPlace: "Place",
    deskDescription: "Description", deskDecidedBy: "Decided by", deskDepartment: "Department", deskStatus: "Status",
    deskSource: "Source", "deskSource.ai": "AI (analytics)", "deskSource.patrol": "Video patrol (operator)",
    deskFile: "File a case", deskKeyFile: "file a case from the live view",
    deskShortcuts: "Keyboard", deskKeyNext: "next case", deskKeyPrev: "previous case", deskKeyConfirm: "confirm",
    deskKeyReject: "reject", deskKeyPlay: "play/pause clip", deskKeyHistory: "history", deskKeyBoxes: "boxes",
    deskKeySubmit: "submit the form", deskKeyCancel: "cancel/close",
    deskConfirmed: "Case #{id} confirmed and sent to the case platform", deskRejected: "Case #{id} rejected",
    deskClosedDone: "Case #{id} closed",
    deskDecidedElsewhere: "Case #{id} was handled by {who} ({status})", deskGone: "Case #{id} left the queue",
    deskOnlyPending: "Only cases pending review can be confirmed or rejected",
    deskNotClosable: "This case cannot be closed now", deskNoClipYet: "This case has no clip yet",
    deskNotAllowed: "Only operators and admins decide cases", deskFailed: "Failed",
    deskNetwork: "Cannot reach the server", deskHistoryTitle: "History of case #{id}", deskEvidence: "Evidence",
    deskSystem: "system",
    "deskEv.snapshot": "snapshot", "deskEv.clip": "clip", "deskEv.after_snapshot": "after-check snapshot",
    "deskEv.frame": "clean frame", "deskEv.arrival_clip": "arrival clip", "deskEv.keyframe_main": "main-stream keyframe",
    "deskAct.raised": "raised", "deskAct.seen_again": "seen again", "deskAct.gone_from_video": "gone from video",
    "deskAct.confirm": "confirmed", "deskAct.reject": "rejected", "deskAct.merge": "merged into another case",
    "deskAct.merged_from": "case merged in", "deskAct.dispatch": "dispatched",
    "deskAct.cleared_on_video": "video check: cleared", "deskAct.still_present": "video check: still present",
    "deskAct.close": "closed", "deskAct.evidence": "evidence added",
    "deskSt.pending_review": "pending review", "deskSt.confirmed": "confirmed", "deskSt.dispatched": "dispatched",
    "deskSt.cleared_on_video": "cleared on video", "deskSt.still_present": "still present",
    "deskSt.closed": "closed", "deskSt.rejected": "rejected", "deskSt.overdue": "overdue", deskOverdue: "overdue",
    deskDeadline: "Deadline", deskOverdueTitle: "past its deadline {when}, not cleared or closed",
    "deskKey.code": "code", "deskKey.grid_code": "grid", "deskKey.address": "address", "deskKey.note": "note",
    "deskKey.reason": "reason", "deskKey.text": "details", "deskKey.department": "department",
    "deskKey.ref": "platform ref", "deskKey.into": "into case", "deskKey.case": "case", "deskKey.dwell": "dwell s",
    "deskKey.zone": "zone", "deskKey.deadline_at": "deadline",
    "deskKey.object_class": "class", "deskKey.box": "box", "deskKey.kind": "kind", "deskKey.extra_boxes": "drawn boxes",
    "deskKey.classes": "labelled classes",
    labelClass: "Object class", labelNoClass: "no class", labelMode: "Drawing", "labelMode.correct": "correct the box",
    "labelMode.add": "add an object", labelNoFrame: "No clean frame for this case: a class only, no boxes",
    labelHint: "Drag on the clean frame to draw; Tab to the picture, then: arrows move, Shift+arrows resize, "
      + "n adds, Space selects the next, Delete removes, 1–9 give the class",
    rejectKind: "What is wrong", "rejectKind.absent": "not there (false alarm)",
    "rejectKind.allowed": "there but allowed", "rejectKind.wrong_class": "another class", rejectClass: "Real class",
    deskKeyLabel: "label boxes on the picture", "deskReason.wrong_class": "another class",
    "deskReason.licensed_stall": "licensed stall / breakfast cart", "deskReason.abandoned_stall": "closed or abandoned stall",
    "deskReason.inside_shop": "goods inside a shop window", "deskReason.vendor_walking": "vendor walking past",
    "deskReason.potted_plants": "potted plants", "deskReason.fixed_object": "rock, sculpture, wall or other fixture",
    "deskReason.bin_not_overflowing": "bin not overflowing", "deskReason.false_detection": "false detection",
    "deskReason.duplicate": "duplicate case", "deskReason.other": "other",
  },
});

/** ``t`` with {name} placeholders filled in. */
export function tf(key, values) {
  return t(key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/** A word of a family ("deskSt.", "deskAct." …) or the raw value when the desk does not know it (a new state,
 *  a site's own reason): never an empty label. */
export function word(prefix, value, fallback) {
  const key = `${prefix}.${value}`;
  const found = t(key);
  return found !== key ? found : (fallback || value);
}

/** A reject reason in the current language: the desk's English word, else the site's own (Chinese) name. */
export function reasonName(key, siteName) {
  if (currentLang() === "en") return word("deskReason", key, siteName);
  return siteName || key;
}

/** A target class (GET /api/label-options) in the current language. */
export function className(cls) {
  return currentLang() === "en" ? cls.name_en : cls.name_zh;
}

/** An event code's name in the current language (the catalogue's English name when there is one). */
export function codeName(code, storedName, catalogue) {
  const entry = catalogue.get(code);
  if (currentLang() === "en" && entry && entry.name_en) return entry.name_en;
  return storedName || (entry ? entry.name : "");
}

const WITH_DEPARTMENT = ["dispatched", "still_present"];

/** Overdue (超期): past its deadline and still with the department. The server's flag is as of when it answered;
 *  the deadline read against this clock turns a row overdue while the page stays open. */
export function isOverdue(c) {
  if (!c.deadline_at || !WITH_DEPARTMENT.includes(c.status)) return false;
  return Boolean(c.overdue) || Date.parse(c.deadline_at) < Date.now();
}

/** Times come from the server in UTC with their offset; the desk shows them in the seat's local time. */
export function when(iso, { date = true } = {}) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  if (date) Object.assign(options, { month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat(currentLang() === "en" ? "en-GB" : "zh-CN", options).format(d);
}

/** Today's rows show the clock only; older ones their date as well. */
export function shortWhen(iso) {
  const d = new Date(iso);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return when(iso, { date: !sameDay });
}
