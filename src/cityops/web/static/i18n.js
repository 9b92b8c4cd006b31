// UI text: zh-CN first, English beside. t(key) answers in the current language.
export const TEXT = {
  title: ["城市运行驾驶舱", " City Operations Dashboard"], subtitle: ["一网统管 · 数字化城市管理", "One network for city operations"],
  tab_dash: ["驾驶舱", "Dashboard"], tab_work: ["工作台", "Workbench"],
  live_on: ["实时推送", "Live"], live_off: ["未连接", "Offline"],
  login: ["登录", "Log in"], logout: ["退出", "Log out"], cancel: ["取消", "Cancel"], ok: ["确定", "OK"],
  login_title: ["登录 · 城市运行管理平台", "Log in · City operations platform"],
  username: ["用户名", "User name"], password: ["密码", "Password"], login_failed: ["用户名或密码错误", "Wrong user name or password"],
  kpi_title: ["运行指标", "Indicators"], today: ["今日", "Today"], week: ["近7日", "7 days"], month: ["近30日", "30 days"],
  accepted: ["受理", "Accepted"], registered: ["立案", "Registered"], closed: ["结案", "Closed"],
  close_rate: ["结案率", "Close rate"], on_time_close_rate: ["按期结案率", "On-time close rate"], rework_rate: ["返工率", "Rework rate"],
  overdue_pending: ["超期待处置 · 当前", "Overdue now"], open_now: ["在办案件 · 当前", "Open now"],
  trend: ["受理 · 立案 · 结案趋势", "Accepted · registered · closed"], by_hour: ["按小时", "Hourly"], by_day: ["按日", "Daily"],
  by_district: ["各区 · 结案率 / 当前超期", "Districts · close rate / overdue now"], by_department: ["处置部门 · 在办 / 超期", "Departments · open / overdue"],
  replay: ["历史回放", "Replay"], realtime: ["实时", "Live"], replaying: ["回放", "Replay at"], replay_on: ["回放中", "Replaying"],
  not_replayed: ["实时 · 不随回放", "live · not replayed"], replayed: ["随回放", "replayed"],
  replay_note: ["回放：地图、图例、部门柱状图为所选时刻；指标、趋势、各区为实时", "Replay: map, legend and department bars show the chosen hour; indicators, trend and districts stay live"],
  replay_future: ["不能回放尚未到来的时刻", "An hour that has not come cannot be replayed"],
  not_on_map: ["未定位(不在图上)", "No location (not on map)"], no_district: ["未分区", "No district"],
  login_hint: ["登录后显示实时案件与指标", "Log in to see live cases and indicators"],
  l_districts: ["行政区", "Districts"], l_grids: ["单元网格", "Unit grids"], l_patrols: ["巡查网格", "Patrol grids"],
  l_waterlogging: ["易渍水点", "Waterlogging points"], l_roads: ["道路", "Roads"], l_cases: ["在办案件", "Open cases"], l_overdue: ["超期案件", "Overdue"],
  l_stress: ["压力测试对象", "Stress objects"], l_gauges: ["积水监测", "Water gauges"], l_detectors: ["车速检测", "Traffic detectors"], l_warnings: ["生效预警", "Active warnings"],
  g_normal: ["积水 < 黄线", "Depth below yellow"], g_yellow: ["积水 ≥ 黄线", "Depth ≥ yellow"], g_red: ["积水 ≥ 红线", "Depth ≥ red"], g_none: ["无读数", "No reading"],
  d_free: ["车速畅通", "Traffic flowing"], d_slow: ["车速缓行", "Traffic slow"], d_jam: ["车速拥堵", "Traffic jammed"],
  w_red: ["红色预警", "Red warning"], w_orange: ["橙色预警", "Orange warning"], w_yellow: ["黄色预警", "Yellow warning"], w_blue: ["蓝色预警", "Blue warning"],
  p_depth: ["最新水深", "Latest depth"], p_thresholds: ["黄线 / 红线", "Yellow / red line"], p_skill: ["预警回测", "Warning back-test"],
  p_events: ["积水事件", "Events"], p_recall: ["命中率", "Recall"], p_precision: ["准确率", "Precision"], p_lead: ["提前量中位数", "Median lead"],
  p_no_skill: ["尚无回测", "No back-test yet"], p_no_gauge: ["未接入监测", "No gauge"], minutes: ["分钟", "min"],
  overdue: ["超期", "Overdue"], escalated: ["已督办", "Escalated"],
  q_reported: ["受理队列", "Acceptance queue"], q_registered: ["派遣队列", "Dispatch queue"], q_inbox: ["本部门待办", "Department inbox"],
  q_verify: ["待核查", "To verify"], q_overdue: ["超期督办", "Overdue · 督办"], q_extension: ["延期审批", "Extension requests"], q_all: ["全部案件", "All cases"],
  f_q: ["关键字", "Text"], f_status: ["状态", "Status"], f_matter: ["事项", "Matter"], f_district: ["区", "District"], f_department: ["部门", "Department"],
  f_source: ["来源", "Source"], f_from: ["起", "From"], f_to: ["止", "To"], f_overdue: ["仅超期", "Overdue only"],
  search: ["查询", "Search"], csv: ["导出CSV", "Export CSV"], prev: ["上一页", "Previous"], next: ["下一页", "Next"], new_case: ["上报案件", "Report a case"],
  pick_case: ["选择左侧案件查看详情", "Pick a case on the left"],
  c_id: ["编号", "ID"], c_status: ["状态", "Status"], c_matter: ["事项", "Matter"], c_district: ["区", "District"], c_department: ["部门", "Department"],
  c_reported: ["上报时间", "Reported"], c_due: ["处置时限", "Due"], c_source: ["来源", "Source"], c_desc: ["描述", "Description"], c_address: ["地址", "Address"],
  c_grid: ["单元网格", "Grid"], c_reports: ["合并上报", "Reports merged"], c_suggested: ["建议部门", "Suggested"], c_pending_ext: ["待批延期", "Pending extension"],
  history: ["案卷历史", "History"], chain_ok: ["历史链完整", "Chain intact"], chain_bad: ["历史链被篡改", "Chain broken"],
  reason: ["意见 / 原因", "Reason"], department: ["处置部门", "Department"], matter_code: ["事项编码(可更正)", "Matter code (correct it)"],
  target: ["合并到案件编号", "Merge into case ID"], passed: ["核查通过", "Passed"], amount: ["延期时长", "Extension length"], unit: ["单位", "Unit"],
  description: ["问题描述", "Description"], lon: ["经度", "Longitude"], lat: ["纬度", "Latitude"],
  done: ["已完成", "Done"], page: ["第 {a}–{b} 条，共 {n} 条", "{a}–{b} of {n}"],
  all: ["全部", "All"], empty: ["无", "None"],
  q_triage: ["分拣队列", "Triage"], triage_head: ["待分拣 {n} 条（置信度低于 {th}）", "{n} waiting (confidence below {th})"],
  triage_ok: ["确认事项并立案", "Confirm the matter"], triage_done: ["已分拣为案件", "Triaged into a case"], triage_empty: ["暂无待分拣", "Nothing to triage"],
  photos: ["现场照片", "Site photos"], no_photos: ["暂无照片", "No photos yet"], add_photo: ["添加照片", "Add a photo"], photo_stage: ["照片阶段", "Stage"],
  photo_added: ["照片已添加", "photo added"], open_photo: ["查看原图", "Open the full picture"], close_hint: ["点击关闭", "click to close"],
  photo_distance: ["距案发点 {m} 米", "{m} m from the case"],
  summary: ["案情摘要", "Summary"], reply_draft: ["答复草稿（待审核）", "Draft reply (to review)"],
};
let lang = localStorage.getItem("cityops.lang") || "zh";
export const getLang = () => lang;
export function setLang(l) { lang = l; localStorage.setItem("cityops.lang", l); document.documentElement.lang = l === "zh" ? "zh-CN" : "en"; }
export function t(key, vars) {
  const pair = TEXT[key]; let s = pair ? pair[lang === "zh" ? 0 : 1] : key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace("{" + k + "}", v);
  return s;
}
// A [zh, en] pair (labels the API sends) in the current language.
// Text into HTML: every name and reason a page writes with innerHTML goes through this.
export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
export const pick = (pair) => Array.isArray(pair) ? pair[lang === "zh" ? 0 : 1] : pair;
// A time (ISO string or Date) in the city's zone, in the page's language: 2026/12/7 09:30 or 7 Dec 2026, 09:30.
export function fmtTime(value, tz, seconds = false) {
  if (value === null || value === undefined || value === "") return "";
  const d = value instanceof Date ? value : new Date(value);
  const opts = { timeZone: tz, hour12: false, year: "numeric", month: lang === "zh" ? "2-digit" : "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  if (seconds) opts.second = "2-digit";
  return d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", opts);
}
export function applyText(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}
