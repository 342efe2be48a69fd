//! The pages' two languages: Simplified Chinese by default, English when chosen (a cookie). Every
//! text a page shows is a field of [`Texts`], so a missing translation does not compile.

use axum::http::HeaderMap;

pub const LANG_COOKIE: &str = "fs_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The language the browser chose (its cookie), Chinese otherwise.
    pub fn of(headers: &HeaderMap) -> Lang {
        match super::session::cookie(headers, LANG_COOKIE) {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `lang` attribute of the pages.
    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    /// A stored code's label: the domain's Chinese label, or the code in words.
    pub fn label(self, code: &str, zh: Option<&'static str>) -> String {
        match (self, zh) {
            (Lang::Zh, Some(zh)) => zh.to_string(),
            _ => code.replace('_', " "),
        }
    }
}

macro_rules! texts {
    ($($field:ident: $zh:literal, $en:literal;)*) => {
        /// Every text of the pages in one language.
        #[derive(Debug)]
        pub struct Texts { $(pub $field: &'static str,)* }
        pub static ZH: Texts = Texts { $($field: $zh,)* };
        pub static EN: Texts = Texts { $($field: $en,)* };
    };
}

texts! {
    app_name: "客户经理走访管理", "Field visits";
    other_lang: "English", "中文";
    login_title: "登录", "Sign in";
    username: "用户名", "Username";
    password: "密码", "Password";
    sign_in: "登录", "Sign in";
    sign_out: "退出", "Sign out";
    login_wrong: "用户名或密码错误", "Wrong username or password";
    login_limited: "登录失败次数过多，请稍后再试", "Too many failed sign-ins; try again later";
    login_managers: "此系统供主管和管理员使用，客户经理请使用平板应用", "This app is for supervisors and admins; managers use the tablet app";
    login_invalid: "请填写用户名和密码", "Enter a username and a password";
    nav_visits: "走访记录", "Visits";
    nav_overview: "总览", "Overview";
    nav_audit: "审计日志", "Audit log";
    branch: "支行", "Branch";
    choose_branch: "切换", "Switch";
    filter: "筛选", "Filter";
    reset: "清除", "Reset";
    manager: "客户经理", "Manager";
    outlet: "网点", "Outlet";
    village: "村/网格", "Village";
    date_from: "从", "From";
    date_to: "到", "To";
    purpose: "目的", "Purpose";
    review_status: "审核状态", "Review";
    evidence: "疑点", "Evidence";
    any: "全部", "Any";
    any_flag: "任一疑点", "Any flag";
    no_flag: "无疑点", "No flag";
    sort: "排序", "Sort";
    sort_newest: "最新在前", "Newest first";
    sort_oldest: "最早在前", "Oldest first";
    sort_shortest: "时长最短", "Shortest";
    sort_farthest: "距离最远", "Farthest";
    when: "时间", "When";
    customer: "客户", "Customer";
    status: "状态", "Status";
    duration: "时长", "Duration";
    distance: "签到距离", "Check-in distance";
    photos: "照片", "Photos";
    costs: "费用", "Costs";
    flags: "疑点", "Flags";
    no_visits: "没有符合条件的走访记录", "No visits match";
    previous_page: "上一页", "Previous";
    next_page: "下一页", "Next";
    page: "第 {} 页", "Page {}";
    export_csv: "导出 CSV", "Export CSV";
    pending: "待审核", "Pending";
    approve: "通过", "Approve";
    return_visit: "退回", "Return";
    flag_visit: "存疑", "Flag";
    comment: "意见", "Comment";
    comment_required: "退回或存疑时请填写意见", "A comment is required to return or flag a visit";
    select_all: "全选", "Select all";
    selected_action: "对所选走访", "For the selected visits";
    decided: "已提交审核意见，将在平板下次同步时送达", "Decision saved; it reaches the tablet at its next sync";
    none_selected: "请先选择走访记录", "Select visits first";
    visit_title: "走访详情", "Visit";
    planned: "计划时间", "Planned";
    check_in: "签到", "Check-in";
    check_out: "签退", "Check-out";
    customer_location: "客户登记位置", "Customer's recorded location";
    no_location: "客户没有登记位置", "The customer has no recorded location";
    accuracy: "精度", "accuracy";
    notes: "走访记录", "Notes";
    outcome: "结果", "Outcome";
    next_contact: "下次跟进", "Next follow-up";
    linked_leads: "关联线索", "Linked leads";
    earlier_visits: "该客户的其他走访", "The customer's other visits";
    review_history: "审核", "Review";
    reviewed_by: "审核人", "Reviewed by";
    no_flags: "无疑点", "No flags";
    back_to_list: "返回列表", "Back to the list";
    not_found: "找不到该记录", "Not found";
    forbidden: "没有权限", "Not allowed";
    bad_request: "请求无效", "Bad request";
    csrf_failed: "表单已过期或来源无效，请刷新页面后重试", "The form expired or did not come from this site; reload the page and try again";
    server_error: "服务器出错，请稍后再试", "Server error; try again later";
    too_long: "输入过长", "Input too long";
    amount: "金额", "Amount";
    stage: "阶段", "Stage";
    product: "产品", "Product";
    minutes: "分钟", "min";
    yuan: "元", "CNY";
    plot_title: "签到、签退与客户位置", "Check-in, check-out and the customer's location";
    customer_title: "客户视图", "Customer";
    owner: "负责客户经理", "Manager in charge";
    pool: "公海", "Public pool";
    tier: "价值等级", "Value tier";
    lifecycle: "生命周期", "Lifecycle";
    phone: "手机号", "Phone";
    id_number: "身份证号", "ID number";
    reveal: "查看完整信息", "Reveal";
    reveal_note: "查看将记入审计日志", "Revealing is written to the audit log";
    revealed: "已显示完整信息（已记入审计日志）", "Shown in full (written to the audit log)";
    last_visit: "最近走访", "Last visit";
    visits_of_customer: "走访记录", "Visits";
    leads: "线索", "Leads";
    created: "创建", "Created";
    audit_title: "审计日志", "Audit log";
    actor: "操作人", "By";
    action: "操作", "Action";
    subject: "对象", "Subject";
    no_entries: "暂无记录", "No entries";
    overview_title: "网点总览", "Branch overview";
    daily_title: "近 30 天每日走访（按客户经理）", "Visits per day, last 30 days (by manager)";
    weekly_title: "近 12 周每周走访（按客户经理）", "Visits per week, last 12 weeks (by manager)";
    coverage_title: "村/网格覆盖（覆盖最少的在前）", "Village coverage (least covered first)";
    funnel_title: "线索漏斗", "Leads funnel";
    overdue_title: "逾期未跟进的客户（按客户经理）", "Overdue follow-ups (by manager)";
    route_title: "客户经理一天的签到路线", "A manager's day: the route of check-ins";
    sync_title: "设备同步状态", "Devices' sync status";
    visited_30: "30 天内走访", "visited in 30 days";
    visited_90_only: "31–90 天内走访", "visited in 31–90 days";
    not_visited: "90 天未走访", "not visited in 90 days";
    customers_n: "客户数", "Customers";
    leads_count: "线索数", "Leads";
    amount_10k: "金额（万元）", "Amount (10k CNY)";
    overdue: "逾期未跟进", "Overdue";
    device: "设备", "Device";
    last_sync: "最近同步", "Last sync";
    app_version: "应用版本", "App version";
    refused_last: "最近一次被拒", "Refused last time";
    refused_total: "累计被拒", "Refused in all";
    revoked: "已停用", "Revoked";
    behind: "超过 3 天未同步", "No sync for 3 days";
    show: "查看", "Show";
    date: "日期", "Date";
    no_route: "这一天没有签到", "No check-ins that day";
    total_visits: "近 30 天走访共 {} 次", "{} visits in the last 30 days";
    chart_table: "数据表", "Data table";
    owner_history: "负责人变更记录", "Changes of owner";
    from_owner: "原负责人", "From";
    to_owner: "新负责人", "To";
    reason: "原因", "Reason";
    decided_by: "操作人", "By";
    pool_rules: "公海规则", "Pool rules";
    due_back: "将退回公海", "Returns to the pool";
    locked: "已锁定（不会退回公海）", "Locked (never returned to the pool)";
    lock: "锁定", "Lock";
    unlock: "解除锁定", "Unlock";
    assign_to: "分配给", "Assign to";
    assign: "分配", "Assign";
    nav_duplicates: "查重", "Duplicates";
    duplicates_title: "疑似重复客户", "Possible duplicate customers";
    duplicates_note: "身份证号或电话相同的客户。合并后保留一方，另一方的走访、线索、联系人等记录全部并入，原档案删除（日志保留历史）。", "Customers sharing an ID number or a phone. Merging keeps one file; the other's visits, leads, contacts and other records move into it, and the other file is deleted (the log keeps its history).";
    same: "相同的", "Same";
    merge: "合并", "Merge";
    keep_left: "保留左侧", "Keep the left one";
    keep_right: "保留右侧", "Keep the right one";
    merged_note: "已合并", "Merged";
    targets_title: "本月目标完成情况", "This month against its targets";
    targets_note: "完成 / 目标；走访按签到时间，新客户按负责客户经理，成交按线索创建人计。", "Done / target; visits by check-in time, new customers by the manager in charge, leads won by who opened them.";
    whole_branch: "全支行", "Whole branch";
    outlet_total: "网点合计", "Outlet total";
    visits_done: "走访", "Visits";
    new_customers: "新客户", "New customers";
    leads_won: "成交线索", "Leads won";
    amount_won: "成交金额", "Amount won";
    nav_scorecard: "绩效", "Scorecard";
    scorecard_title: "客户经理绩效考核", "Managers' scorecard";
    scorecard_note: "完成 / 目标。覆盖率：负责网格内客户本月走访的比例。投诉：本月登记的投诉中在支行时限内处理的数量 / 总数，超时含已过时限仍未处理的。", "Done / target. Coverage: the share of the customers of a manager's villages visited this month. Complaints: of those recorded this month, how many were handled within the branch's limit / all; late includes those still open past it.";
    complaints_in_time: "投诉按时处理", "Complaints handled in time";
    complaints_late: "投诉超时", "Complaints late";
    coverage: "网格覆盖率", "Village coverage";
    reviews_returned: "被退回走访", "Visits returned";
    month: "月份", "Month";
    nav_campaigns: "营销活动", "Campaigns";
    nav_rules: "规则与目标", "Rules and targets";
    rules_title: "支行规则与目标", "The branch's rules and targets";
    rules_saved: "已保存，客户经理下次同步后生效", "Saved: tablets follow from their next sync";
    rules_note: "修改规则后，支行全部客户立即按新规则重新计算（退回公海日期、价值分层、生命周期），并记入审计日志。", "A change applies at once to every customer of the branch (the pool's due dates, tiers, stages) and is written to the audit trail.";
    recycle_after_days: "未走访退回公海（天）", "Back to the pool after days without a visit";
    recycle_without_lead_progress_days: "线索无进展退回公海（天）", "Back after days without lead progress";
    warn_days: "提前提醒（天）", "Warn days ahead";
    exempt_lead_stage: "线索达到此阶段不退回", "An open lead at this stage keeps the customer";
    daily_claim_cap: "每日领取上限", "Claims a day";
    max_owned: "名下客户上限", "Customers owned at most";
    claim_cooldown_days: "退出后再次领取间隔（天）", "Days before a former owner claims again";
    zero_is_off: "填 0 表示不启用该条规则。", "0 switches that rule off.";
    customer_rules: "客户分层与服务时限", "Tiers and service limits";
    high_yuan: "高价值起点（元）", "High value from (yuan)";
    medium_yuan: "中价值起点（元）", "Medium value from (yuan)";
    dormant_after_days: "沉默多少天转为休眠", "Dormant after days of silence";
    complaint_days: "投诉处理时限（天）", "Days to handle a complaint";
    tiers_note: "私人银行（600 万元及以上）与高净值（100 万元及以上）为固定标准；其下按本支行的起点分为高、中、低价值。投诉处理时限不超过监管规定的 30 天。", "Private banking (6,000,000 RMB and more) and high net worth (1,000,000 RMB and more) are fixed; below them the branch's thresholds give high, medium and low value. A complaint's limit is at most the regulator's 30 days.";
    branch_target: "支行月度目标", "The branch's monthly target";
    amount_won_yuan: "成交金额（元）", "Amount won (yuan)";
    target_split_note: "支行目标平均分解到每位客户经理，网点目标为其客户经理之和。", "The branch's target is split evenly among its managers; an outlet's is the sum of its managers'.";
    territories: "网格与负责人", "Villages and who is responsible";
    managers: "客户经理", "Managers";
    catalog: "产品目录", "Product catalog";
    product_name: "产品名称", "Name";
    term: "期限", "Term";
    rate: "年利率", "Annual rate";
    admin_only_note: "网格与产品目录由管理员用 fieldsync-server admin set-territory / catalog-put 维护。", "Villages and the catalog are kept by an administrator with fieldsync-server admin set-territory / catalog-put.";
    save: "保存", "Save";
    none: "无", "None";
    tag: "标签", "Tag";
    tag_example: "如 种植大户、60后、持有贷款", "e.g. 种植大户, 60后, 持有贷款";
    campaigns_title: "营销活动", "Campaigns";
    campaign_created: "活动已创建，客户经理下次同步后即可看到任务", "Campaign started: managers see its tasks from their next sync";
    campaign_name: "活动名称", "Name";
    period: "时间", "Period";
    members: "目标客户", "Members";
    contacted: "已接触", "Contacted";
    responded: "有意向", "Responded";
    converted: "已成交", "Converted";
    new_campaign: "新建活动", "New campaign";
    start_campaign: "创建并下发任务", "Start and send the tasks";
    campaigns_note: "目标客户按所选条件从有负责客户经理的客户中选出（最多 2000 位）。已接触：活动期内完成走访；有意向：活动期内新建该产品线索；已成交：该线索在活动期内成交。", "Members are chosen by the filters among customers with a manager in charge (2,000 at most). Contacted: a visit completed in the period; responded: a lead for the product opened in the period; converted: that lead won in the period.";
}

impl Texts {
    /// `total_visits` with its number.
    pub fn total_visits_n(&self, n: i64) -> String {
        self.total_visits.replace("{}", &n.to_string())
    }

    /// `page` with its number.
    pub fn page_n(&self, n: usize) -> String {
        self.page.replace("{}", &n.to_string())
    }
}
