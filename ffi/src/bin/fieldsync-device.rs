//! `fieldsync-device`: a tablet on the command line. It drives the same core as the tablets (through
//! [`fieldsync_ffi::Device`]), so a person can try the whole flow against the demo server and tests
//! and benchmarks can drive many devices.
//!
//! Messages are Simplified Chinese first, English after. With `--json` every command prints one JSON
//! object on stdout (on failure `{"error": {...}}`); human messages and sync progress go to stderr.
//!
//! Exit codes: 0 ok, 2 usage or validation error, 3 device revoked (store wiped), 4 network error,
//! 5 not signed in or sign-in expired, 6 upgrade required, 1 anything else.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use fieldsync_core::domain::{
    Action, Channel, CheckPoint, CustomerKind, GeoPoint, Interaction, InteractionKind, LeadSource, LocationProvider,
    NewLead, Product, Profile, Role, Visit, VisitPurpose, record_kind_zh,
};
use fieldsync_core::store::{Customer360, CustomerFilter, Key, TodayKind, User};
use fieldsync_core::sync::{SyncError, SyncOptions, SyncProgress};
use fieldsync_ffi::{Device, DeviceError, HttpError};
use serde_json::{Value, json};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// China Standard Time (UTC+8, no daylight saving): the managers' "today" and the times shown.
const CHINA_OFFSET_MS: i64 = 8 * 60 * 60 * 1000;

const EXIT_OTHER: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_REVOKED: u8 = 3;
const EXIT_NETWORK: u8 = 4;
const EXIT_UNAUTHENTICATED: u8 = 5;
const EXIT_UPGRADE: u8 = 6;
const EXIT_CERTIFICATE: u8 = 7;

#[derive(Parser)]
#[command(
    name = "fieldsync-device",
    version,
    about = "命令行上的设备：与平板相同的核心 / a fieldsync device on the command line",
    after_help = "退出码 / exit codes: 0 成功/ok, 2 用法或输入错误/usage or validation, 3 设备已停用/device revoked, \
                  4 网络错误/network, 5 未登录或登录过期/not signed in, 6 需要升级/upgrade required, 1 其他/other"
)]
struct Cli {
    /// 本机数据库文件 / the device store file
    #[arg(long, global = true, env = "FIELDSYNC_STORE", default_value = "./fieldsync-device.db")]
    store: PathBuf,
    /// 数据库密钥，64 位十六进制 / store encryption key, 64 hex characters
    #[arg(long, global = true, env = "FIELDSYNC_KEY", hide_env_values = true)]
    key_hex: Option<String>,
    /// 机器可读输出：每个命令在 stdout 输出一个 JSON 对象 / one JSON object per command on stdout
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// 登录服务器（密码取自 FIELDSYNC_PASSWORD 或 stdin 的一行）/ sign in (password from FIELDSYNC_PASSWORD or one stdin line)
    Login {
        /// 服务器地址 / server URL, e.g. https://branch.example:8443
        #[arg(long)]
        server: String,
        #[arg(long)]
        username: String,
        /// 只信任此 CA 签发的服务器证书（PEM 文件，网点自建 CA 时使用）/ trust only server
        /// certificates issued under this CA (a PEM file: a branch's own CA)
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// 仅在本机记录使用者，不连接服务器（测试与演示用；同步仍需 login）/ record the user locally
    /// without a server (tests and demos; sync still needs login)
    SignInOffline {
        #[arg(long)]
        user_id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "manager", value_parser = parse_role)]
        role: Role,
    },
    /// 新建客户档案 / create a customer file
    AddCustomer {
        #[arg(long)]
        name: String,
        /// 村或网格 / village or grid
        #[arg(long)]
        village: String,
        /// individual | corporate | household
        #[arg(long, default_value = "individual", value_parser = parse_kind)]
        kind: CustomerKind,
        #[arg(long)]
        phone: Option<String>,
        /// 身份证号 / resident ID number
        #[arg(long)]
        id_number: Option<String>,
    },
    /// 走访 / visits
    Visit {
        #[command(subcommand)]
        command: VisitCommand,
    },
    /// 线索 / leads
    Lead {
        #[command(subcommand)]
        command: LeadCommand,
    },
    /// 投诉：登记与处理 / complaints: record one, record it handled
    Complaint {
        #[command(subcommand)]
        command: ComplaintCommand,
    },
    /// 今日待办：计划走访、跟进、提醒、到期投诉（离线可用）/ today: planned visits, follow-ups,
    /// reminders and complaints due (offline)
    Today {
        /// 往后多看几天 / look this many days further ahead
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..=366))]
        days: i64,
    },
    /// 客户列表（手机号已脱敏）/ list customers (phones masked)
    List {
        #[arg(long)]
        village: Option<String>,
        /// 姓名、拼音（全拼、首字母、混合）或电话中的任意数字 / name, pinyin (full, initials, mixed) or digits of the phone
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
    },
    /// 客户 360 视图 / a customer's 360 view
    Show {
        #[arg(long)]
        customer: String,
    },
    /// 公海客户（同步后可见）/ public-pool customers (after a sync)
    Pool {
        #[arg(long)]
        village: Option<String>,
    },
    /// 申请从公海领取，下次同步时由服务器决定 / ask to claim a pool customer; decided at the next sync
    Claim {
        #[arg(long)]
        customer: String,
    },
    /// 被服务器拒绝的变更 / changes the server refused
    Quarantine,
    /// 与服务器同步 / sync with the server
    Sync,
}

#[derive(Subcommand)]
enum VisitCommand {
    /// 现场开始走访（签到）/ start a visit on the spot (check in)
    Start(StartVisit),
    /// 结束走访（签退）/ finish a visit (check out)
    Finish(FinishVisit),
}

#[derive(Args)]
struct Position {
    /// 纬度 / latitude (WGS-84)
    #[arg(long, allow_negative_numbers = true)]
    lat: f64,
    /// 经度 / longitude (WGS-84)
    #[arg(long, allow_negative_numbers = true)]
    lng: f64,
    /// 定位精度（米）/ horizontal accuracy in metres
    #[arg(long, default_value_t = 10.0)]
    accuracy_m: f64,
    /// gps | network | fused | manual
    #[arg(long, default_value = "gps", value_parser = parse_provider)]
    provider: LocationProvider,
    /// 系统报告了模拟定位 / the OS reported a mock-location app
    #[arg(long)]
    mock: bool,
}

impl Position {
    fn at(&self, now: i64) -> CheckPoint {
        CheckPoint {
            at: now,
            position: GeoPoint { lat: self.lat, lng: self.lng, accuracy_m: self.accuracy_m },
            provider: self.provider,
            mock_location: self.mock,
        }
    }
}

#[derive(Args)]
struct StartVisit {
    #[arg(long)]
    customer: String,
    #[command(flatten)]
    position: Position,
    /// marketing | follow_up | post_loan_check | collection | care | complaint | publicity
    #[arg(long, default_value = "marketing", value_parser = parse_purpose)]
    purpose: VisitPurpose,
    /// in_person | phone | wechat
    #[arg(long, default_value = "in_person", value_parser = parse_channel)]
    channel: Channel,
}

#[derive(Args)]
struct FinishVisit {
    #[arg(long)]
    customer: String,
    #[arg(long)]
    visit: String,
    #[command(flatten)]
    position: Position,
    /// 走访记录 / visit notes
    #[arg(long)]
    notes: Option<String>,
    /// 交通费（分）/ transport cost in fen
    #[arg(long)]
    cost_fen: Option<i64>,
    /// 几天后再联系 / next contact in N days
    #[arg(long)]
    next_contact_days: Option<i64>,
}

#[derive(Subcommand)]
enum LeadCommand {
    /// 记录新线索 / record a new lead
    Add {
        #[arg(long)]
        customer: String,
        /// deposit | loan | wealth | card | insurance | payment | other
        #[arg(long, value_parser = parse_product)]
        product: Product,
        /// 金额（分）/ amount in fen
        #[arg(long)]
        amount_fen: i64,
        /// 预计几天后成交 / expected to close in N days
        #[arg(long)]
        expected_close_days: Option<i64>,
        /// 来自哪次走访 / the visit it came from
        #[arg(long)]
        visit: Option<String>,
        #[arg(long)]
        notes: Option<String>,
    },
}

#[derive(Subcommand)]
enum ComplaintCommand {
    /// 登记客户投诉，处理时限从此刻起算 / record a customer's complaint; its time limit starts now
    Add {
        #[arg(long)]
        customer: String,
        /// 投诉内容 / what the customer complains about
        #[arg(long)]
        summary: String,
    },
    /// 记录投诉已处理 / record a complaint handled
    Resolve {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        complaint: String,
        /// 处理结果 / how it was handled
        #[arg(long)]
        resolution: String,
    },
}

/// Parses a stored code with clap; the error lists the valid codes.
fn code_arg<T: Copy>(
    s: &str,
    parse: fn(&str) -> Option<T>,
    all: &[T],
    code: fn(T) -> &'static str,
) -> Result<T, String> {
    parse(s).ok_or_else(|| {
        let valid: Vec<&str> = all.iter().map(|&v| code(v)).collect();
        format!("未知代码，可选 / unknown code, one of: {}", valid.join(", "))
    })
}

fn parse_kind(s: &str) -> Result<CustomerKind, String> {
    code_arg(s, CustomerKind::from_code, CustomerKind::ALL, CustomerKind::code)
}

fn parse_purpose(s: &str) -> Result<VisitPurpose, String> {
    code_arg(s, VisitPurpose::from_code, VisitPurpose::ALL, VisitPurpose::code)
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    code_arg(s, Channel::from_code, Channel::ALL, Channel::code)
}

fn parse_provider(s: &str) -> Result<LocationProvider, String> {
    code_arg(s, LocationProvider::from_code, LocationProvider::ALL, LocationProvider::code)
}

fn parse_product(s: &str) -> Result<Product, String> {
    code_arg(s, Product::from_code, Product::ALL, Product::code)
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "manager" => Ok(Role::Manager),
        "supervisor" => Ok(Role::Supervisor),
        _ => Err("未知角色，可选 / unknown role, one of: manager, supervisor".into()),
    }
}

/// A failed command: its exit code, a stable code for `--json`, and the message in both languages.
#[derive(Debug)]
struct Failure {
    exit: u8,
    code: &'static str,
    zh: String,
    en: String,
}

impl Failure {
    fn new(exit: u8, code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Failure { exit, code, zh: zh.into(), en: en.into() }
    }

    fn usage(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Failure::new(EXIT_USAGE, "usage", zh, en)
    }

    fn revoked() -> Self {
        Failure::new(
            EXIT_REVOKED,
            "device_revoked",
            "此设备已被停用，本机数据已清除",
            "this device has been revoked; its local data has been wiped",
        )
    }

    fn not_signed_in() -> Self {
        Failure::new(
            EXIT_UNAUTHENTICATED,
            "not_signed_in",
            "此设备尚未登录，请先运行 fieldsync-device login",
            "this device is not signed in; run `fieldsync-device login` first",
        )
    }
}

impl From<fieldsync_core::Error> for Failure {
    fn from(e: fieldsync_core::Error) -> Self {
        use fieldsync_core::Error as E;
        let en = e.to_string();
        match &e {
            E::Invalid(v) => Failure::new(EXIT_USAGE, "invalid", v.message_zh(), en),
            E::ServerDecided { field } => {
                Failure::new(EXIT_USAGE, "server_decided", format!("{field} 由支行服务器决定，本机不能修改"), en)
            }
            E::NotFound { what, id } => {
                Failure::new(EXIT_USAGE, "not_found", format!("找不到{}：{id}", record_kind_zh(what)), en)
            }
            E::AlreadyExists { what, id } => {
                Failure::new(EXIT_USAGE, "already_exists", format!("{}已存在：{id}", record_kind_zh(what)), en)
            }
            E::Transition { entity, from, to } => {
                Failure::new(EXIT_USAGE, "transition", format!("{}不能从 {from} 变为 {to}", record_kind_zh(entity)), en)
            }
            E::VisitInProgress { in_progress } => Failure::new(
                EXIT_USAGE,
                "visit_in_progress",
                format!("走访 {in_progress} 仍在进行中，请先签退或取消"),
                en,
            ),
            E::NotYours { what } => {
                Failure::new(EXIT_USAGE, "not_yours", format!("{}属于其他客户经理", record_kind_zh(what)), en)
            }
            E::NotSignedIn => Failure::not_signed_in(),
            E::BadKey => Failure::usage("密钥必须是 32 字节", en),
            E::NewerDatabase { .. } | E::NewerDocument { .. } => {
                Failure::new(EXIT_UPGRADE, "upgrade_required", "数据由更新版本的应用写入，请升级", en)
            }
            E::Unreadable { moved_to, .. } => Failure::new(
                EXIT_OTHER,
                "unreadable",
                format!("数据库无法打开（密钥错误或文件损坏），已移至 {}，未删除任何数据", moved_to.display()),
                en,
            ),
            _ => Failure::new(EXIT_OTHER, "store", "本机数据出错", en),
        }
    }
}

impl From<HttpError> for Failure {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Network(m) => Failure::new(EXIT_NETWORK, "network", "无法连接服务器", format!("network: {m}")),
            e @ (HttpError::Certificate(_) | HttpError::BadCa) => {
                Failure::new(EXIT_CERTIFICATE, "certificate", "服务器证书不受信任，请联系网点信息科", e.to_string())
            }
            HttpError::Server { status, code, message_zh, message_en } => {
                let exit = match status {
                    410 => return Failure::revoked(),
                    401 => EXIT_UNAUTHENTICATED,
                    426 => EXIT_UPGRADE,
                    400 => EXIT_USAGE,
                    _ => EXIT_OTHER,
                };
                let zh = if message_zh.is_empty() { format!("服务器返回 {status}") } else { message_zh };
                let en =
                    if message_en.is_empty() { format!("the server answered {status} ({code})") } else { message_en };
                Failure::new(exit, "server", zh, en)
            }
            HttpError::BadAnswer => {
                Failure::new(EXIT_OTHER, "bad_answer", "服务器的回答无法读取", HttpError::BadAnswer.to_string())
            }
        }
    }
}

impl From<SyncError> for Failure {
    fn from(e: SyncError) -> Self {
        let en = e.to_string();
        match e {
            SyncError::Revoked => Failure::revoked(),
            SyncError::Unauthenticated => {
                Failure::new(EXIT_UNAUTHENTICATED, "unauthenticated", "登录已过期，请重新登录", en)
            }
            SyncError::UpgradeRequired => {
                Failure::new(EXIT_UPGRADE, "upgrade_required", "应用版本过旧，请升级后再同步", en)
            }
            SyncError::Transport(_) => Failure::new(EXIT_NETWORK, "network", "网络中断，下次同步会从中断处继续", en),
            SyncError::Certificate(_) => {
                Failure::new(EXIT_CERTIFICATE, "certificate", "服务器证书不受信任，请联系网点信息科", en)
            }
            SyncError::Cancelled => Failure::new(EXIT_OTHER, "cancelled", "同步已取消，下次同步会从中断处继续", en),
            SyncError::Rejected { .. } => Failure::new(EXIT_OTHER, "server", "服务器拒绝了同步请求", en),
            SyncError::Store(e) => e.into(),
            _ => Failure::new(EXIT_OTHER, "sync", "同步失败", en),
        }
    }
}

impl From<DeviceError> for Failure {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::Store(e) => e.into(),
            DeviceError::Http(e) => (*e).into(),
            DeviceError::Sync(e) => (*e).into(),
            DeviceError::NotSignedIn => Failure::not_signed_in(),
            DeviceError::UnknownRole => {
                Failure::new(EXIT_OTHER, "unknown_role", "服务器返回了未知角色", DeviceError::UnknownRole.to_string())
            }
            DeviceError::Closed => Failure::new(EXIT_OTHER, "closed", "数据库已关闭", DeviceError::Closed.to_string()),
        }
    }
}

/// What a command that creates something prints: the message on stderr, the new ID alone on
/// stdout, so scripts can write `ID=$(fieldsync-device add-customer …)`.
fn created(message: &str, id: &str) -> String {
    note(message);
    id.to_string()
}

/// Writes the command's result on stdout. A reader that went away early (`… | head -1`) has what
/// it wanted: that is `Ok`, not a panic as with `println!`. Other write errors are returned.
fn print_result(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes a message or progress line on stderr. Nobody reading them any more is no reason to
/// stop a command half-way or to panic, so write errors are ignored.
fn note(text: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// What a command prints on success: lines for people, an object for `--json`.
struct Output {
    human: String,
    json: Value,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(out) => {
            let printed = if json {
                print_result(&out.json.to_string())
            } else if !out.human.is_empty() {
                print_result(out.human.trim_end())
            } else {
                Ok(())
            };
            match printed {
                Ok(()) => ExitCode::SUCCESS,
                // Done, but the result was lost (e.g. a full disk behind a redirection).
                Err(_) => {
                    note("错误：无法写出结果\nerror: the result could not be written to stdout");
                    ExitCode::from(EXIT_OTHER)
                }
            }
        }
        Err(f) => {
            note(&format!("错误：{}\nerror: {}", f.zh, f.en));
            if json {
                let error =
                    json!({"error": {"code": f.code, "exit_code": f.exit, "message_zh": f.zh, "message_en": f.en}});
                // The failure's own exit code says more than a write error would.
                let _ = print_result(&error.to_string());
            }
            ExitCode::from(f.exit)
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn parse_key(hex: &str) -> Result<Key, Failure> {
    let bad = || Failure::usage("密钥必须是 64 位十六进制字符", "the key must be 64 hex characters");
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(Key(bytes))
}

fn run(cli: Cli) -> Result<Output, Failure> {
    let key = cli.key_hex.as_deref().map(parse_key).transpose()?;
    let mut device = Device::open(&cli.store, key.as_ref())?;
    let now = now_ms();
    match cli.command {
        Command::Login { server, username, ca } => login(&mut device, &server, &username, ca.as_deref()),
        Command::SignInOffline { user_id, name, role } => sign_in_offline(&mut device, user_id, name, role),
        Command::AddCustomer { name, village, kind, phone, id_number } => {
            let mut profile = Profile::new(kind, name, village);
            profile.phone = phone.filter(|p| !p.trim().is_empty());
            profile.id_number = id_number.filter(|p| !p.trim().is_empty());
            let id = device.store().create_customer(profile, now)?;
            Ok(Output { human: created("已新建客户 / customer created", &id), json: json!({ "customer_id": id }) })
        }
        Command::Visit { command: VisitCommand::Start(args) } => {
            let visit_id = fieldsync_core::ids::new_id();
            let action = Action::StartVisit {
                visit_id: visit_id.clone(),
                purpose: args.purpose,
                channel: args.channel,
                check_in: args.position.at(now),
            };
            device.store().apply(&args.customer, &action, now)?;
            Ok(Output {
                human: created("已签到，走访开始 / checked in, visit started", &visit_id),
                json: json!({ "customer_id": args.customer, "visit_id": visit_id }),
            })
        }
        Command::Visit { command: VisitCommand::Finish(args) } => finish_visit(&mut device, args, now),
        Command::Lead {
            command: LeadCommand::Add { customer, product, amount_fen, expected_close_days, visit, notes },
        } => {
            let lead = NewLead {
                id: fieldsync_core::ids::new_id(),
                product,
                amount_fen,
                source: LeadSource::Visit,
                expected_close: expected_close_days.map(|d| days_from(now, d)).transpose()?,
                probability: None,
                visit_id: visit,
                notes: notes.unwrap_or_default(),
                catalog_id: None,
            };
            let lead_id = lead.id.clone();
            device.store().apply(&customer, &Action::AddLead { lead }, now)?;
            Ok(Output {
                human: created("已记录线索 / lead recorded", &lead_id),
                json: json!({ "customer_id": customer, "lead_id": lead_id }),
            })
        }
        Command::Complaint { command: ComplaintCommand::Add { customer, summary } } => {
            let interaction = Interaction {
                id: fieldsync_core::ids::new_id(),
                kind: InteractionKind::Complaint,
                summary,
                at: now,
                captured_at: now,
                visit_id: None,
                resolved_at: None,
                resolution: None,
            };
            let id = interaction.id.clone();
            device.store().apply(&customer, &Action::AddInteraction { interaction }, now)?;
            Ok(Output {
                human: created("已登记投诉 / complaint recorded", &id),
                json: json!({ "customer_id": customer, "complaint_id": id }),
            })
        }
        Command::Complaint { command: ComplaintCommand::Resolve { customer, complaint, resolution } } => {
            let action = Action::ResolveInteraction { interaction_id: complaint.clone(), resolution };
            device.store().apply(&customer, &action, now)?;
            Ok(Output {
                human: format!("投诉已处理 / complaint handled: {complaint}"),
                json: json!({ "customer_id": customer, "complaint_id": complaint }),
            })
        }
        Command::Today { days } => today(&mut device, now, days),
        Command::List { village, search, limit } => list(&mut device, village, search, limit),
        Command::Show { customer } => {
            let view = device.store().customer_360(&customer)?;
            Ok(show(&view))
        }
        Command::Pool { village } => pool(&mut device, village.as_deref()),
        Command::Claim { customer } => {
            let intent_id = device.store().claim_from_pool(&customer, now)?;
            Ok(Output {
                human: format!(
                    "已申请领取，下次同步时由服务器决定 / claim requested; the server decides at the next sync: {intent_id}"
                ),
                json: json!({ "customer_id": customer, "intent_id": intent_id }),
            })
        }
        Command::Quarantine => quarantine(&mut device),
        Command::Sync => sync(&mut device, now),
    }
}

/// `now` plus a number of days, refused when it overflows.
fn days_from(now: i64, days: i64) -> Result<i64, Failure> {
    days.checked_mul(DAY_MS)
        .and_then(|d| now.checked_add(d))
        .ok_or_else(|| Failure::usage("天数超出范围", "the number of days is out of range"))
}

fn read_password() -> Result<String, Failure> {
    if let Ok(password) = std::env::var("FIELDSYNC_PASSWORD") {
        return Ok(password);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let mut err = io::stderr().lock();
        let _ = write!(err, "密码 / password: ");
        let _ = err.flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|_| Failure::usage("无法读取密码", "the password could not be read from stdin"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err(Failure::usage(
            "缺少密码：设置 FIELDSYNC_PASSWORD 或在 stdin 输入一行",
            "no password: set FIELDSYNC_PASSWORD or give one line on stdin",
        ));
    }
    Ok(password)
}

fn role_label(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Manager => ("客户经理", "manager"),
        Role::Supervisor => ("主管", "supervisor"),
        Role::Server => ("服务器", "server"),
    }
}

fn login(device: &mut Device, server: &str, username: &str, ca: Option<&std::path::Path>) -> Result<Output, Failure> {
    let ca_pem = match ca {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            Failure::usage("无法读取 CA 证书文件", format!("cannot read the CA file {}: {e}", path.display()))
        })?),
        None => None,
    };
    let password = read_password()?;
    match device.login_trusting(server, ca_pem.as_deref(), username, &password) {
        Ok(()) => {}
        Err(DeviceError::Http(e)) if matches!(*e, HttpError::Server { status: 410, .. }) => {
            // The server revoked this device: its data must not stay here.
            device.store().wipe()?;
            return Err(Failure::revoked());
        }
        Err(e) => return Err(e.into()),
    }
    let device_id = device.device_id()?;
    let user = device.store().user().cloned().ok_or_else(Failure::not_signed_in)?;
    let (zh, en) = role_label(user.role);
    Ok(Output {
        human: format!("已登录 / signed in: {} ({zh} / {en})", user.name),
        json: json!({ "user_id": user.id, "name": user.name, "role": en, "server": server, "device_id": device_id }),
    })
}

fn sign_in_offline(device: &mut Device, user_id: String, name: String, role: Role) -> Result<Output, Failure> {
    if device.store().setting("token")?.is_some() {
        return Err(Failure::usage(
            "此设备已登录服务器，请使用 login 切换用户",
            "this device is signed in to a server; use `login` to change users",
        ));
    }
    device.store().sign_in(User { id: user_id.clone(), name: name.clone(), role })?;
    let (zh, en) = role_label(role);
    Ok(Output {
        human: format!("已在本机登录（未连接服务器）/ signed in locally (no server): {name} ({zh} / {en})"),
        json: json!({ "user_id": user_id, "name": name, "role": en }),
    })
}

fn finish_visit(device: &mut Device, args: FinishVisit, now: i64) -> Result<Output, Failure> {
    // Keeps whatever the visit already records; only the given fields change.
    let file = device.store().customer_file(&args.customer)?;
    let mut details = file.visits.get(&args.visit).map(Visit::details).unwrap_or_default();
    if let Some(notes) = args.notes {
        details.notes = notes;
    }
    if let Some(fen) = args.cost_fen {
        details.costs.transport_fen = fen;
    }
    if let Some(days) = args.next_contact_days {
        details.next_contact_at = Some(days_from(now, days)?);
    }
    let action = Action::CheckOut { visit_id: args.visit.clone(), check_out: args.position.at(now), details };
    device.store().apply(&args.customer, &action, now)?;
    Ok(Output {
        human: format!("已签退，走访完成 / checked out, visit completed: {}", args.visit),
        json: json!({ "customer_id": args.customer, "visit_id": args.visit, "status": "completed" }),
    })
}

fn list(device: &mut Device, village: Option<String>, search: Option<String>, limit: u32) -> Result<Output, Failure> {
    let filter = CustomerFilter { village, search, ..Default::default() };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let more = loop {
        let page = device.store().customers(&filter, limit.saturating_sub(items.len() as u32), cursor.as_deref())?;
        items.extend(page.items);
        match page.next {
            Some(next) if (items.len() as u32) < limit => cursor = Some(next),
            next => break next.is_some(),
        }
    };
    let mut human = String::new();
    for c in &items {
        let phone = c.phone_masked.as_deref().unwrap_or("-");
        human.push_str(&format!("{}\t{}\t{}\t{phone}\n", c.customer_id, c.name, c.village));
    }
    human.push_str(&format!("共 {} 位客户 / {} customers", items.len(), items.len()));
    if more {
        human.push_str("（还有更多，用 --limit 查看 / more with --limit）");
    }
    let customers: Vec<Value> = items
        .iter()
        .map(|c| {
            json!({
                "customer_id": c.customer_id,
                "kind": c.kind.code(),
                "name": c.name,
                "village": c.village,
                "phone_masked": c.phone_masked,
                "id_number_masked": c.id_number_masked,
                "tier": c.tier.map(|t| t.code()),
                "lifecycle": c.lifecycle.map(|l| l.code()),
                "owner_id": c.owner_id,
                "owner_name": c.owner_name,
                "last_visit_at": c.last_visit_at,
                "next_follow_up_at": c.next_follow_up_at,
                "open_leads": c.open_leads,
            })
        })
        .collect();
    Ok(Output { human, json: json!({ "customers": customers, "more": more }) })
}

fn pool(device: &mut Device, village: Option<&str>) -> Result<Output, Failure> {
    let entries = device.store().pool(village)?;
    let mut human = String::new();
    for p in &entries {
        let claim = match p.claim.as_deref() {
            Some("pending") => "\t已申请 / claim pending",
            Some("accepted") => "\t已领取 / claimed",
            Some("rejected") => "\t未领到 / claim rejected",
            _ => "",
        };
        human.push_str(&format!("{}\t{}\t{}{claim}\n", p.customer_id, p.name_masked, p.village));
    }
    human.push_str(&format!("公海共 {} 位客户 / {} pool customers", entries.len(), entries.len()));
    let json_entries: Vec<Value> = entries
        .iter()
        .map(|p| {
            json!({
                "customer_id": p.customer_id,
                "name_masked": p.name_masked,
                "kind": p.kind,
                "village": p.village,
                "tier": p.tier,
                "claim": p.claim,
            })
        })
        .collect();
    Ok(Output { human, json: json!({ "pool": json_entries }) })
}

/// The day in China time that holds `now`, and `days` more, as the tablet's "today" screen lists it.
fn today(device: &mut Device, now: i64, days: i64) -> Result<Output, Failure> {
    let start = (now + CHINA_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - CHINA_OFFSET_MS;
    let items = device.store().today(start, days_from(start, days + 1)?)?;
    let mut human = String::new();
    let kind = |k: TodayKind| match k {
        TodayKind::Visit => ("visit", "走访", "visit"),
        TodayKind::FollowUp => ("follow_up", "跟进", "follow-up"),
        TodayKind::Reminder => ("reminder", "提醒", "reminder"),
        TodayKind::Complaint => ("complaint", "投诉到期", "complaint due"),
    };
    for i in &items {
        let (_, zh, en) = kind(i.kind);
        let overdue = if i.overdue { "\t已逾期 / overdue" } else { "" };
        human.push_str(&format!(
            "{}\t{zh} / {en}\t{}\t{}{overdue}\n",
            china_time(i.at),
            i.customer_name,
            i.customer_id
        ));
    }
    human.push_str(&format!("共 {} 项 / {} items", items.len(), items.len()));
    let json_items: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({
                "kind": kind(i.kind).0,
                "customer_id": i.customer_id,
                "customer_name": i.customer_name,
                "at": i.at,
                "overdue": i.overdue,
                "item_id": i.item_id,
                "reminder_kind": i.reminder_kind.map(|k| k.code()),
            })
        })
        .collect();
    Ok(Output { human, json: json!({ "today": json_items }) })
}

fn quarantine(device: &mut Device) -> Result<Output, Failure> {
    let entries = device.store().quarantined()?;
    let mut human = String::new();
    for q in &entries {
        human.push_str(&format!(
            "{}\t{}\t{}\t{} / {}\n",
            china_time(q.at),
            q.customer_id,
            q.code,
            q.message_zh,
            q.message_en
        ));
    }
    human.push_str(&format!("共 {} 条被拒绝的变更 / {} refused changes", entries.len(), entries.len()));
    // The refused bytes stay in the store; only what they were refused for is shown.
    let json_entries: Vec<Value> = entries
        .iter()
        .map(|q| {
            json!({
                "customer_id": q.customer_id,
                "at": q.at,
                "code": q.code,
                "message_zh": q.message_zh,
                "message_en": q.message_en,
            })
        })
        .collect();
    Ok(Output { human, json: json!({ "quarantined": json_entries }) })
}

/// Today in China (UTC+8) as `[start, end)` in UTC ms.
fn china_day(now: i64) -> (i64, i64) {
    let start = (now + CHINA_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - CHINA_OFFSET_MS;
    (start, start + DAY_MS)
}

fn sync(device: &mut Device, now: i64) -> Result<Output, Failure> {
    let options = SyncOptions { today: Some(china_day(now)), now, ..Default::default() };
    let mut on_progress = |p: &SyncProgress| {
        note(&format!(
            "同步中 / syncing: 第 {} 轮 / round trip {}, 收到文档 / documents received {}, 待取 / pending {}, \
             上传 / up {} B, 下载 / down {} B",
            p.round_trips, p.round_trips, p.documents_received, p.documents_pending, p.bytes_sent, p.bytes_received
        ));
    };
    // Ctrl-C simply ends the process: each reply is applied in one transaction with its cursor, so
    // an interrupted sync resumes where it stopped and nothing is applied twice.
    let report = device.sync(options, &mut on_progress, &|| false)?;
    let human = format!(
        "已同步 / synced: {} 轮往返 / round trips, 上传变更 / changes pushed {}, 收到变更 / changes received {}, \
         收到文档 / documents received {}, 待取 / pending {}, 移除 / purged {}, 被拒 / quarantined {}, \
         上传 / up {} B, 下载 / down {} B",
        report.round_trips,
        report.changes_pushed,
        report.changes_received,
        report.documents_received,
        report.documents_pending,
        report.purged,
        report.quarantined,
        report.bytes_sent,
        report.bytes_received
    );
    let json = json!({
        "round_trips": report.round_trips,
        "bytes_sent": report.bytes_sent,
        "bytes_received": report.bytes_received,
        "changes_pushed": report.changes_pushed,
        "changes_received": report.changes_received,
        "documents_received": report.documents_received,
        "documents_pending": report.documents_pending,
        "purged": report.purged,
        "quarantined": report.quarantined,
    });
    Ok(Output { human, json })
}

/// `YYYY-MM-DD HH:MM` in China time.
fn china_time(ms: i64) -> String {
    let secs = (ms + CHINA_OFFSET_MS).div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", s / 3600, s % 3600 / 60)
}

/// `YYYY-MM-DD` in China time.
fn china_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days((ms + CHINA_OFFSET_MS).div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("¥{sign}{}.{:02}", fen / 100, fen % 100)
}

fn checkpoint_json(c: &Option<CheckPoint>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => json!({
            "at": c.at,
            "lat": c.position.lat,
            "lng": c.position.lng,
            "accuracy_m": c.position.accuracy_m,
            "provider": c.provider.code(),
            "mock_location": c.mock_location,
        }),
    }
}

/// The 360 view. Phone and ID numbers are whole here: opening one customer is a deliberate act.
fn show(view: &Customer360) -> Output {
    let file = &view.file;
    let p = &file.profile;
    let s = &file.server;
    let mut h = String::new();
    h.push_str(&format!("客户 / customer {}\n", file.id));
    h.push_str(&format!("  姓名 / name: {} ({} / {})\n", p.name, p.kind.label_zh(), p.kind.code()));
    if let Some(phone) = &p.phone {
        h.push_str(&format!("  手机 / phone: {phone}\n"));
    }
    if let Some(id_number) = &p.id_number {
        h.push_str(&format!("  身份证 / ID number: {id_number}\n"));
    }
    h.push_str(&format!("  村/网格 / village: {}\n", p.village));
    if !p.address.is_empty() {
        h.push_str(&format!("  地址 / address: {}\n", p.address));
    }
    match &s.owner.manager_name {
        Some(name) => h.push_str(&format!("  客户经理 / owner: {name}\n")),
        None => h.push_str("  客户经理 / owner: 未分配 / not assigned\n"),
    }
    if let Some(t) = s.value_tier {
        h.push_str(&format!("  价值层级 / tier: {} / {}\n", t.label_zh(), t.code()));
    }
    if let Some(l) = s.lifecycle {
        h.push_str(&format!("  生命周期 / lifecycle: {} / {}\n", l.label_zh(), l.code()));
    }
    if !p.notes.is_empty() {
        h.push_str(&format!("  备注 / notes: {}\n", p.notes));
    }

    let reviews: std::collections::HashMap<&str, &fieldsync_core::domain::Review> =
        view.reviews.iter().map(|(visit_id, r)| (visit_id.as_str(), r)).collect();
    h.push_str(&format!("走访 / visits: {}\n", view.visits.len()));
    let mut visits = Vec::new();
    for v in &view.visits {
        let when = match (&v.check_in, &v.check_out, v.planned_at) {
            (Some(i), Some(o), _) => format!("{} → {}", china_time(i.at), china_time(o.at)),
            (Some(i), None, _) => china_time(i.at),
            (None, _, Some(planned)) => format!("计划 / planned {}", china_time(planned)),
            _ => String::new(),
        };
        h.push_str(&format!(
            "  {}  {} / {}  {} / {}  {} / {}  {when}  {}\n",
            v.id,
            v.status.label_zh(),
            v.status.code(),
            v.purpose.label_zh(),
            v.purpose.code(),
            v.channel.label_zh(),
            v.channel.code(),
            v.manager_name
        ));
        if v.check_in.as_ref().is_some_and(|c| c.mock_location) || v.check_out.as_ref().is_some_and(|c| c.mock_location)
        {
            h.push_str("    ⚠ 模拟定位 / mock location reported\n");
        }
        if !v.notes.is_empty() {
            h.push_str(&format!("    记录 / notes: {}\n", v.notes));
        }
        if v.costs.total_fen() > 0 {
            h.push_str(&format!("    费用 / costs: {}\n", yuan(v.costs.total_fen())));
        }
        if let Some(next) = v.next_contact_at {
            h.push_str(&format!("    下次联系 / next contact: {}\n", china_date(next)));
        }
        let review = reviews.get(v.id.as_str());
        if let Some(r) = review {
            h.push_str(&format!(
                "    审核 / review: {} / {}  {}  ({}, {})\n",
                r.decision.label_zh(),
                r.decision.code(),
                r.comment,
                r.reviewer_name,
                china_time(r.at)
            ));
        }
        visits.push(json!({
            "visit_id": v.id,
            "status": v.status.code(),
            "purpose": v.purpose.code(),
            "channel": v.channel.code(),
            "manager_id": v.manager_id,
            "manager_name": v.manager_name,
            "planned_at": v.planned_at,
            "check_in": checkpoint_json(&v.check_in),
            "check_out": checkpoint_json(&v.check_out),
            "notes": v.notes,
            "outcome": v.outcome,
            "next_contact_at": v.next_contact_at,
            "costs_fen": v.costs.total_fen(),
            "review": review.map(|r| json!({
                "decision": r.decision.code(),
                "comment": r.comment,
                "reviewer_name": r.reviewer_name,
                "at": r.at,
            })),
        }));
    }

    h.push_str(&format!("线索 / leads: {}\n", view.leads.len()));
    let mut leads = Vec::new();
    for l in &view.leads {
        h.push_str(&format!(
            "  {}  {} / {}  {}  {} / {}  {}%",
            l.id,
            l.product.label_zh(),
            l.product.code(),
            yuan(l.amount_fen),
            l.stage.label_zh(),
            l.stage.code(),
            l.probability
        ));
        if let Some(close) = l.expected_close {
            h.push_str(&format!("  预计成交 / expected close {}", china_date(close)));
        }
        h.push('\n');
        leads.push(json!({
            "lead_id": l.id,
            "product": l.product.code(),
            "amount_fen": l.amount_fen,
            "stage": l.stage.code(),
            "probability": l.probability,
            "expected_close": l.expected_close,
            "visit_id": l.visit_id,
            "notes": l.notes,
            "created_at": l.created_at,
        }));
    }

    let json = json!({
        "customer_id": file.id,
        "profile": {
            "kind": p.kind.code(),
            "name": p.name,
            "phone": p.phone,
            "id_number": p.id_number,
            "village": p.village,
            "address": p.address,
            "occupation": p.occupation,
            "source": p.source.code(),
            "notes": p.notes,
        },
        "owner": { "manager_id": s.owner.manager_id, "manager_name": s.owner.manager_name },
        "tier": s.value_tier.map(|t| t.code()),
        "lifecycle": s.lifecycle.map(|l| l.code()),
        "visits": visits,
        "leads": leads,
    });
    Output { human: h, json }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_day_and_time() {
        // 2025-03-01 00:30 in China is 2025-02-28 16:30 UTC.
        let t = 1_740_760_200_000;
        assert_eq!(china_time(t), "2025-03-01 00:30");
        let (start, end) = china_day(t);
        assert_eq!(china_time(start), "2025-03-01 00:00");
        assert_eq!(end - start, DAY_MS);
        assert!(start <= t && t < end);
    }

    #[test]
    fn keys_and_money() {
        assert!(parse_key(&"ab".repeat(32)).is_ok());
        assert_eq!(parse_key("abc").unwrap_err().exit, EXIT_USAGE);
        assert_eq!(parse_key(&"zz".repeat(32)).unwrap_err().exit, EXIT_USAGE);
        assert_eq!(yuan(123_456), "¥1234.56");
        assert_eq!(yuan(5), "¥0.05");
    }
}
