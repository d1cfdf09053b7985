// Words of the wall page (zh-CN first, English second).
import { addWords } from "./i18n.js";

addWords({
  "zh-CN": {
    wallLabel: "墙", layoutLabel: "布局", tourLabel: "轮巡", tourInterval: "间隔（秒，5–300）",
    sequential: "顺序", random: "随机", tourStart: "开始", tourPause: "暂停", tourResume: "继续", tourStop: "停止",
    tourRunning: "轮巡中", tourPaused: "轮巡已暂停", tourNext: "下一组", tourSelected: "列表中的摄像机",
    tourGroup: "分组", presetLabel: "预案", presetRecall: "调用", presetName: "预案名称", presetSave: "保存",
    presetSaved: "预案已保存", pushToWall: "推送到大屏", pushed: "已推送到大屏", mySeat: "我的坐席",
    searchCameras: "搜索摄像机", allGroups: "全部分组",
    pickHint: "拖动摄像机到画面，或先选中画面再点击摄像机；双击画面放大。",
    pin: "固定（不参与轮巡）", unpin: "取消固定", clear: "清空画面", ack: "确认已知晓", alarmTitle: "告警",
    alarmQueued: "条告警待显示", readOnly: "只读：您可以查看此墙，但不能修改", failed: "操作失败",
    overlay: "检测框", sessionEnded: "会话已结束", noWalls: "没有可用的墙", cameraMissing: "无权限或不存在",
  },
  en: {
    wallLabel: "Wall", layoutLabel: "Layout", tourLabel: "Tour", tourInterval: "Interval (s, 5–300)",
    sequential: "Sequential", random: "Random", tourStart: "Start", tourPause: "Pause", tourResume: "Resume",
    tourStop: "Stop", tourRunning: "Touring", tourPaused: "Tour paused", tourNext: "next",
    tourSelected: "Cameras in the list", tourGroup: "Group", presetLabel: "Preset", presetRecall: "Recall",
    presetName: "Preset name", presetSave: "Save", presetSaved: "Preset saved", pushToWall: "Push to wall",
    pushed: "Pushed to the wall", mySeat: "My seat", searchCameras: "Search cameras", allGroups: "All groups",
    pickHint: "Drag a camera onto a tile, or select a tile and click a camera; double-click a tile to enlarge.",
    pin: "Pin (kept out of tours)", unpin: "Unpin", clear: "Clear tile", ack: "Acknowledge", alarmTitle: "Alarm",
    alarmQueued: "more alarms waiting", readOnly: "Read only: you may watch this wall but not change it",
    failed: "Failed", overlay: "Detections", sessionEnded: "Session ended", noWalls: "No walls", cameraMissing: "no access or missing",
  },
});
