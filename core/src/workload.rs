//! The reference workload (`../shared/workload/`, JSON Lines) and a deterministic generator of
//! branches of the same shape, mapped onto the project's customer documents: for benchmarks.
//!
//! - [`load_branch`] / [`load_day`] read the reference files; [`workload_dir`] finds them.
//! - [`generate_branch`] makes any number of customers of the same shape from a seed, with a tiny
//!   built-in PRNG ([`SplitMix64`]) so the output never changes with a dependency's version.
//! - [`build_changes`] maps one record onto a customer document, one commit per record as DESIGN.md
//!   asks (the profile, each visit, each lead), written by the branch server for one manager's
//!   [`Book`]; [`fill_store`] and [`build_template`] bulk-load many of them into a [`Store`] through
//!   [`Store::merge_batch`], the way a sync would.
//!
//! A completed visit made through [`Action`]s takes two commits (`StartVisit`, `CheckOut`), and the
//! owner and value tier two more; the server writing a customer's history in one go records each
//! visit whole instead. So the mapping writes the typed entities straight into the document with
//! autosurgeon, exactly where the actions would put them, and the result is checked by loading it
//! back through [`CustomerDoc::load`] in the tests.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc, Value};
use autosurgeon::{reconcile, reconcile_prop};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::document::CustomerDoc;
use crate::domain::{
    Action, Birthday, Channel, CheckPoint, Costs, CustomerFile, CustomerKind, Gender, GeoPoint, Lead, LeadSource,
    LeadStage, LocationProvider, Owner, Product, Profile, Role, StageChange, ValueTier, Visit, VisitPurpose,
    VisitStatus, idcard,
};
use crate::store::{Store, User};

/// Environment variable naming the folder of the reference workload.
pub const WORKLOAD_ENV: &str = "FIELDSYNC_WORKLOAD";
pub const BRANCH_FILE: &str = "branch.jsonl";
/// `day-1.jsonl`, `day-2.jsonl`: see [`day_file`].
pub const DAYS: u32 = 2;
/// Visits and leads of every customer in the reference workload (and in generated branches).
pub const VISITS_PER_CUSTOMER: usize = 10;
pub const LEADS_PER_CUSTOMER: usize = 3;
/// Commits of one mapped customer document: the profile, each visit, each lead.
pub const COMMITS_PER_CUSTOMER: usize = 1 + VISITS_PER_CUSTOMER + LEADS_PER_CUSTOMER;

/// Problems with the workload files or with mapping a record. The workload is synthetic, so parse
/// errors may quote the offending (synthetic) value.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("the reference workload is not at {path} ({hint})")]
    Missing { path: PathBuf, hint: String },

    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}, line {line}: {source}")]
    Parse {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },

    #[error("record {index}: unknown {field} code {code:?}")]
    UnknownCode { index: usize, field: &'static str, code: String },

    #[error("record {index} does not make a valid customer file: {source}")]
    Invalid {
        index: usize,
        #[source]
        source: Box<crate::Error>,
    },

    #[error("the store refused customer {customer_id}: {source}")]
    Refused {
        customer_id: String,
        #[source]
        source: Box<crate::Error>,
    },

    #[error(transparent)]
    Store(Box<crate::Error>),
}

impl From<crate::Error> for WorkloadError {
    fn from(e: crate::Error) -> Self {
        WorkloadError::Store(Box::new(e))
    }
}

pub type Result<T, E = WorkloadError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------------------------
// Records: the JSON Lines shape, codes kept as the strings the files hold.
// ---------------------------------------------------------------------------------------------

/// One customer of `branch.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchRecord {
    pub index: usize,
    pub profile: ProfileRecord,
    pub visits: Vec<VisitRecord>,
    pub leads: Vec<LeadRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileRecord {
    pub kind: String,
    pub name: String,
    pub phone: String,
    pub id_number: String,
    pub gender: String,
    pub birth_year: i32,
    pub village: String,
    pub address: String,
    pub lat: f64,
    pub lng: f64,
    pub occupation: String,
    /// `hnw`, `high`, `medium` or `low`.
    pub tier: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitRecord {
    pub id: String,
    pub manager: String,
    pub manager_id: String,
    pub purpose: String,
    pub started_at: i64,
    pub ended_at: i64,
    pub lat: f64,
    pub lng: f64,
    pub accuracy_m: f64,
    pub notes: String,
    pub outcome: String,
    pub cost_fen: i64,
    pub next_contact_at: i64,
    pub status: String,
    pub channel: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadRecord {
    pub id: String,
    pub product: String,
    pub amount_fen: i64,
    pub stage: String,
    pub source: String,
    pub probability: u8,
    pub created_at: i64,
}

/// One line of `day-N.jsonl`: a day's offline work on one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayRecord {
    /// Index into `branch.jsonl`.
    pub index: usize,
    #[serde(default)]
    pub round: u32,
    pub new_visit: VisitRecord,
    pub new_phone: String,
    /// When the phone number was corrected.
    pub at: i64,
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// The folder of the reference workload: `$FIELDSYNC_WORKLOAD` if set, else `../shared/workload`
/// beside the workspace. Errors if it holds no `branch.jsonl`.
pub fn workload_dir() -> Result<PathBuf> {
    let (path, hint) = match std::env::var_os(WORKLOAD_ENV) {
        Some(dir) => (PathBuf::from(dir), format!("from ${WORKLOAD_ENV}")),
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/workload"),
            format!("the default beside the workspace; set ${WORKLOAD_ENV} to its folder"),
        ),
    };
    if path.join(BRANCH_FILE).is_file() {
        Ok(path.canonicalize().unwrap_or(path))
    } else {
        Err(WorkloadError::Missing { path, hint })
    }
}

/// `day-1.jsonl`, `day-2.jsonl`.
pub fn day_file(day: u32) -> String {
    format!("day-{day}.jsonl")
}

/// Reads a JSON Lines file, at most `limit` records (blank lines are skipped).
pub fn read_jsonl<T: DeserializeOwned>(path: &Path, limit: Option<usize>) -> Result<Vec<T>> {
    let io = |source| WorkloadError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        if limit.is_some_and(|n| out.len() >= n) {
            break;
        }
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|source| WorkloadError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        out.push(record);
    }
    Ok(out)
}

/// The whole branch (2,000 customers in the reference workload).
pub fn load_branch(dir: &Path) -> Result<Vec<BranchRecord>> {
    read_jsonl(&dir.join(BRANCH_FILE), None)
}

/// One day's offline work (`day` is 1 or 2 in the reference workload).
pub fn load_day(dir: &Path, day: u32) -> Result<Vec<DayRecord>> {
    read_jsonl(&dir.join(day_file(day)), None)
}

/// The reference branch from [`workload_dir`].
pub fn reference_branch() -> Result<Vec<BranchRecord>> {
    load_branch(&workload_dir()?)
}

// ---------------------------------------------------------------------------------------------
// A tiny deterministic PRNG
// ---------------------------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and good enough for synthetic data. The
/// library keeps it here so that generated branches never change with a dependency's version.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// Skewed towards the start of `items` (for surnames, which are far from uniform).
    pub fn pick_skewed<T: Copy>(&mut self, items: &[T]) -> T {
        let n = items.len() as u64;
        items[self.below(n).min(self.below(n)) as usize]
    }

    /// `n` lowercase hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(n);
        s
    }
}

/// SplitMix64's finaliser: a good 64-bit mixing function.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A generator for one item, independent of the others: item `i` is the same whatever the count.
fn rng_for(seed: u64, stream: u64, i: u64) -> SplitMix64 {
    SplitMix64::new(mix64(seed ^ mix64(stream.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ i)))
}

// ---------------------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------------------

/// Common surnames, roughly by frequency.
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林",
    "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "于",
    "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆",
    "汪", "范", "金", "石", "廖", "贾", "夏", "韦", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "段",
    "雷", "侯", "龙", "史", "陶", "黎", "贺", "顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "覃", "武", "戴", "莫",
];
const GIVEN_MALE: &[&str] = &[
    "伟", "强", "军", "磊", "洋", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "飞", "鑫", "波", "斌",
    "宇", "浩", "凯", "健", "俊", "建", "国", "志", "永", "林", "春", "海", "成", "东", "兵", "文", "德", "福", "贵",
];
const GIVEN_FEMALE: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "英", "华", "慧", "巧", "美", "红", "玉", "兰", "凤", "洁",
    "琳", "素", "云", "莲", "雪", "荣", "爱", "香", "月", "燕", "萍", "桂", "梅", "琴", "翠", "平", "文",
];
/// Village names are a surname and a landform: 30 × 7 = 210 villages.
const VILLAGE_SUFFIXES: &[&str] = &["家村", "桥村", "坪村", "岭村", "庄村", "湾村", "沟村"];
const VILLAGE_SURNAMES: usize = 30;
const PROVINCES: &[&str] =
    &["江西省", "四川省", "湖南省", "湖北省", "安徽省", "河南省", "广西壮族自治区", "贵州省", "云南省", "山东省"];
const COUNTIES: &[&str] = &[
    "永平", "泰安", "河新", "永兴", "清河", "丰城", "安福", "新田", "宁远", "石门", "平江", "长丰", "凤台", "宜丰",
    "南丰",
];
const TOWNS: &[&str] =
    &["山兴", "东新", "泰西", "清南", "丰东", "白沙", "龙潭", "青山", "柳林", "石桥", "双河", "城关"];
/// Six-digit administrative division codes that start the ID numbers.
const REGION_CODES: &[&str] = &[
    "430321", "422822", "340421", "433123", "510121", "360124", "362427", "450126", "520121", "371526", "411721",
    "530124",
];
const OCCUPATIONS: &[&str] = &[
    "个体工商户",
    "养殖户",
    "运输个体户",
    "乡村教师",
    "农机手",
    "种植户",
    "小卖部店主",
    "家庭农场主",
    "外出务工",
    "合作社社员",
];
const TIERS: &[&str] = &["hnw", "high", "medium", "low"];
const PURPOSES: &[&str] = &["marketing", "follow_up", "post_loan_check", "collection", "care", "complaint"];
const CHANNELS: &[&str] = &["in_person", "phone", "wechat"];
const OUTCOMES: &[&str] = &["有意向", "需再次跟进", "已提交申请", "已放款", "暂无需求", "拒绝"];
const PRODUCTS: &[&str] = &["deposit", "loan", "wealth", "card", "insurance"];
const STAGES: &[&str] = &["new", "contacted", "qualified", "proposal", "won", "lost"];
const SOURCES: &[&str] = &["visit", "referral", "campaign", "outlet"];
/// Sentences a manager writes in visit notes.
const NOTE_PHRASES: &[&str] = &[
    "收入主要来自柑橘种植",
    "上次贷款已按时还清",
    "村委推荐的优质农户",
    "配偶在县城务工",
    "担心还款期限太短",
    "邻居也有贷款需求",
    "愿意办理手机银行",
    "对保险产品有兴趣",
    "对贷款利率比较关注",
    "计划明年扩大养殖规模",
    "准备购置一台收割机",
    "想了解定期存款利率",
    "子女在外地读大学",
    "年底有一笔货款到账",
    "家里新盖了两层楼房",
];
/// Common characters for the free part of the notes.
const FILLER: &str = "的一是在不了有和人这中大为上个我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子\
说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开\
它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解\
问意建月公无系军很情者最立代想已通并提直题程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知\
较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处府研";

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;
/// 2025-01-01 00:00 UTC: the first customer's file was created then.
const BOOK_START: i64 = 1_735_689_600_000;
/// Visits happen from 2025-01-05 to 2025-06-10, leads appear from 2025-03-10 to 2025-06-11.
const VISITS_FROM: i64 = BOOK_START + 4 * DAY_MS;
const VISITS_UNTIL: i64 = BOOK_START + 160 * DAY_MS;
const LEADS_FROM: i64 = BOOK_START + 68 * DAY_MS;
const LEADS_UNTIL: i64 = BOOK_START + 161 * DAY_MS;
/// The offline days follow on 2025-07-21, 08:00 China time (00:00 UTC).
const DAYS_START: i64 = 1_753_056_000_000;

/// Every village name a generated branch uses (210).
pub fn village_names() -> Vec<String> {
    SURNAMES[..VILLAGE_SURNAMES]
        .iter()
        .flat_map(|s| VILLAGE_SUFFIXES.iter().map(move |suffix| format!("{s}{suffix}")))
        .collect()
}

/// A branch of `customers` customers of the reference shape: 10 completed visits and 3 leads each,
/// valid ID numbers and mobile numbers, about 210 villages. Deterministic in `seed`, and customer
/// `i` is the same whatever `customers` is.
pub fn generate_branch(customers: usize, seed: u64) -> Vec<BranchRecord> {
    let villages = village_names();
    (0..customers).map(|i| generate_customer(i, seed, &villages)).collect()
}

fn generate_customer(index: usize, seed: u64, villages: &[String]) -> BranchRecord {
    let mut rng = rng_for(seed, 1, index as u64);
    let village_index = rng.below(villages.len() as u64) as usize;
    let village = &villages[village_index];
    // Each village sits somewhere in central/southern China; its houses within a few kilometres.
    let mut place = rng_for(seed, 2, village_index as u64);
    let (village_lat, village_lng) = (24.0 + place.unit() * 11.0, 103.0 + place.unit() * 15.0);
    let lat = village_lat + (rng.unit() - 0.5) * 0.03;
    let lng = village_lng + (rng.unit() - 0.5) * 0.03;

    let gender = if rng.chance(0.5) { Gender::Male } else { Gender::Female };
    let given = if gender == Gender::Male { GIVEN_MALE } else { GIVEN_FEMALE };
    let mut name = rng.pick_skewed(SURNAMES).to_string();
    for _ in 0..rng.range(1, 2) {
        name.push_str(rng.pick(given));
    }
    let birth_year = rng.range(1955, 1999) as i32;
    let id_number = id_number(&mut rng, birth_year, gender);
    let address = format!(
        "{}{}县{}镇{}{}组{}号",
        rng.pick(PROVINCES),
        rng.pick(COUNTIES),
        rng.pick(TOWNS),
        village,
        rng.range(1, 12),
        rng.range(1, 99)
    );
    let profile = ProfileRecord {
        kind: "individual".into(),
        name,
        phone: mobile_phone(&mut rng),
        id_number,
        gender: gender.code().into(),
        birth_year,
        village: village.clone(),
        address,
        lat,
        lng,
        occupation: rng.pick(OCCUPATIONS).to_string(),
        tier: rng.pick(TIERS).to_string(),
        created_at: BOOK_START + index as i64 * 37_000 + rng.range(0, 30_000),
    };

    let mut starts: Vec<i64> = (0..VISITS_PER_CUSTOMER).map(|_| rng.range(VISITS_FROM, VISITS_UNTIL)).collect();
    starts.sort_unstable();
    let visits = starts.into_iter().map(|started_at| generate_visit(&mut rng, started_at, lat, lng)).collect();
    let leads = (0..LEADS_PER_CUSTOMER)
        .map(|_| LeadRecord {
            id: format!("l_{}", rng.hex(16)),
            product: rng.pick(PRODUCTS).to_string(),
            amount_fen: rng.range(10_030, 499_983) * 100,
            stage: rng.pick(STAGES).to_string(),
            source: rng.pick(SOURCES).to_string(),
            probability: rng.range(1, 90) as u8,
            created_at: rng.range(LEADS_FROM, LEADS_UNTIL) / 1000 * 1000,
        })
        .collect();
    BranchRecord { index, profile, visits, leads }
}

fn generate_visit(rng: &mut SplitMix64, started_at: i64, lat: f64, lng: f64) -> VisitRecord {
    let started_at = started_at / 1000 * 1000;
    let ended_at = started_at + rng.range(10, 90) * MINUTE_MS;
    let manager_gender = if rng.chance(0.5) { GIVEN_MALE } else { GIVEN_FEMALE };
    let mut manager = rng.pick_skewed(SURNAMES).to_string();
    for _ in 0..rng.range(1, 2) {
        manager.push_str(rng.pick(manager_gender));
    }
    VisitRecord {
        id: format!("v_{}", rng.hex(16)),
        manager,
        manager_id: format!("M{:05}", rng.below(100_000)),
        purpose: rng.pick(PURPOSES).to_string(),
        started_at,
        ended_at,
        lat: lat + (rng.unit() - 0.5) * 0.002,
        lng: lng + (rng.unit() - 0.5) * 0.002,
        accuracy_m: rng.range(3, 59) as f64,
        notes: visit_notes(rng),
        outcome: rng.pick(OUTCOMES).to_string(),
        cost_fen: rng.range(0, 4_999),
        next_contact_at: ended_at + rng.range(1, 30) * DAY_MS + rng.range(0, DAY_MS - 1) / 1000 * 1000,
        status: "completed".into(),
        channel: rng.pick(CHANNELS).to_string(),
    }
}

/// Visit notes of exactly 80 characters: a manager's sentences among filler, ending with "。".
pub fn visit_notes(rng: &mut SplitMix64) -> String {
    const LEN: usize = 80;
    let filler: Vec<char> = FILLER.chars().collect();
    let mut chars: Vec<char> = Vec::with_capacity(LEN + 20);
    while chars.len() < LEN - 1 {
        if !chars.is_empty() {
            chars.push('，');
        }
        if rng.chance(0.3) {
            chars.extend(rng.pick(NOTE_PHRASES).chars());
        } else {
            chars.extend((0..rng.range(4, 15)).map(|_| rng.pick(&filler)));
        }
    }
    chars.truncate(LEN - 1);
    if chars.last() == Some(&'，') {
        chars.pop();
        chars.push(rng.pick(&filler));
    }
    chars.push('。');
    chars.into_iter().collect()
}

/// A GB 11643 number: region, birth date, sequence (odd last digit for men) and check character.
fn id_number(rng: &mut SplitMix64, year: i32, gender: Gender) -> String {
    let month = rng.range(1, 12) as u32;
    let day = loop {
        let d = rng.range(1, 31) as u32;
        if crate::domain::customer::is_real_date(year, month, d) {
            break d;
        }
    };
    let order = rng.range(0, 99);
    let sex_digit = rng.range(0, 4) * 2 + i64::from(gender == Gender::Male);
    let first17 = format!("{}{year:04}{month:02}{day:02}{order:02}{sex_digit}", rng.pick(REGION_CODES));
    let check = idcard::check_char(first17.as_bytes()).expect("17 ASCII digits");
    format!("{first17}{}", check as char)
}

/// A mainland mobile number: `1`, a digit 3–9, nine more digits.
fn mobile_phone(rng: &mut SplitMix64) -> String {
    format!("1{}{:09}", rng.range(3, 9), rng.below(1_000_000_000))
}

/// Days of offline work of the reference shape: `customers` distinct customers of `branch`, each
/// with one new visit and a corrected phone number, on day `day` (1, 2, ...).
pub fn generate_day(branch: &[BranchRecord], day: u32, customers: usize, seed: u64) -> Vec<DayRecord> {
    let mut rng = rng_for(seed, 3, u64::from(day));
    let mut indexes: Vec<usize> = (0..branch.len()).collect();
    // A partial Fisher–Yates shuffle picks distinct customers.
    let n = customers.min(indexes.len());
    for i in 0..n {
        let j = i + rng.below((indexes.len() - i) as u64) as usize;
        indexes.swap(i, j);
    }
    let mut picked = indexes[..n].to_vec();
    picked.sort_unstable();
    let day_start = DAYS_START + i64::from(day.saturating_sub(1)) * DAY_MS;
    picked
        .into_iter()
        .enumerate()
        .map(|(k, index)| {
            let p = &branch[index].profile;
            let started_at = day_start + k as i64 * 9_000 + rng.range(0, 8_999) / 1000 * 1000;
            let new_visit = generate_visit(&mut rng, started_at, p.lat, p.lng);
            let at = new_visit.ended_at + rng.range(1, 30) * MINUTE_MS;
            DayRecord { index, round: day, new_visit, new_phone: mobile_phone(&mut rng), at }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Mapping onto the document schema
// ---------------------------------------------------------------------------------------------

/// Whose book the branch is: the manager who owns every customer, and a namespace that keeps the
/// customer IDs of different copies of the same records apart (the 20-manager figures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Book {
    pub manager_id: String,
    pub manager_name: String,
    pub namespace: u64,
}

impl Book {
    /// The reference book: manager `M00001`, namespace 0.
    pub fn reference() -> Book {
        Book::copy(0)
    }

    /// Copy `k` of the book, under manager `M{k+1:05}` with its own customer IDs.
    pub fn copy(k: u32) -> Book {
        Book {
            manager_id: format!("M{:05}", k + 1),
            manager_name: format!("客户经理{:02}", k + 1),
            namespace: k.into(),
        }
    }

    /// The manager signed in on this book's tablet.
    pub fn user(&self) -> User {
        User { id: self.manager_id.clone(), name: self.manager_name.clone(), role: Role::Manager }
    }

    /// The customer ID of record `index`: a UUIDv7 string whose time is the file's creation and
    /// whose random bits come from the namespace and the index, so it is the same on every run.
    pub fn customer_id(&self, record: &BranchRecord) -> String {
        let mut rng = rng_for(self.namespace, 4, record.index as u64);
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        random[8..].copy_from_slice(&rng.next_u64().to_le_bytes()[..2]);
        let millis = record.profile.created_at.max(0) as u64;
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid().to_string()
    }

    /// The branch server's automerge actor (the same for every book: there is one server): fixed,
    /// so documents (and their change hashes) are identical on every run.
    pub fn server_actor(&self) -> ActorId {
        let mut rng = rng_for(0, 5, 0);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        ActorId::from(bytes.as_slice())
    }
}

fn code<T>(index: usize, field: &'static str, code: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(code).ok_or_else(|| WorkloadError::UnknownCode { index, field, code: code.to_string() })
}

/// The typed profile of a record. The birthday is the one in the ID number; the recorded position
/// gets a 10 m accuracy (the files carry none for profiles).
pub fn to_profile(index: usize, p: &ProfileRecord) -> Result<Profile> {
    let mut profile = Profile::new(code(index, "profile.kind", &p.kind, CustomerKind::from_code)?, &p.name, &p.village);
    profile.phone = Some(p.phone.clone());
    profile.id_number = Some(p.id_number.clone());
    profile.gender = Some(code(index, "profile.gender", &p.gender, Gender::from_code)?);
    profile.birthday = match idcard::birth_date(&p.id_number) {
        Some((year, month, day)) if year == p.birth_year => Some(Birthday {
            year: Some(year.into()),
            month: month as u8,
            day: day as u8,
            lunar: false,
            leap_month: false,
        }),
        _ => None,
    };
    profile.address = p.address.clone();
    profile.location = Some(GeoPoint { lat: p.lat, lng: p.lng, accuracy_m: 10.0 });
    profile.occupation = p.occupation.clone();
    Ok(profile)
}

/// The value tier of a record's `tier` code.
pub fn to_tier(index: usize, p: &ProfileRecord) -> Result<ValueTier> {
    code(index, "profile.tier", &p.tier, ValueTier::from_code)
}

/// A visit record as the typed visit it describes: checked in at `started_at` and out at
/// `ended_at` at the recorded position, by the recorded manager; the cost is transport.
pub fn to_visit(index: usize, v: &VisitRecord) -> Result<Visit> {
    let point = |at| CheckPoint {
        at,
        position: GeoPoint { lat: v.lat, lng: v.lng, accuracy_m: v.accuracy_m },
        provider: LocationProvider::Gps,
        mock_location: false,
    };
    Ok(Visit {
        id: v.id.clone(),
        manager_id: v.manager_id.clone(),
        manager_name: v.manager.clone(),
        purpose: code(index, "visit.purpose", &v.purpose, VisitPurpose::from_code)?,
        channel: code(index, "visit.channel", &v.channel, Channel::from_code)?,
        status: code(index, "visit.status", &v.status, VisitStatus::from_code)?,
        planned_at: None,
        check_in: Some(point(v.started_at)),
        check_out: Some(point(v.ended_at)),
        participants: Vec::new(),
        notes: v.notes.clone(),
        outcome: v.outcome.clone(),
        products: Vec::new(),
        next_step: String::new(),
        next_contact_at: Some(v.next_contact_at),
        costs: Costs { transport_fen: v.cost_fen, gift_fen: 0, other_fen: 0 },
        photos: Vec::new(),
        linked_leads: Vec::new(),
        created_at: v.started_at,
    })
}

/// A lead record as a typed lead created by `by`. A lead past `new` entered its stage when it was
/// created; a lost one gets a generic reason (the files carry none).
pub fn to_lead(index: usize, l: &LeadRecord, by: &str) -> Result<Lead> {
    let stage = code(index, "lead.stage", &l.stage, LeadStage::from_code)?;
    let mut stage_history = vec![StageChange { stage: LeadStage::New, at: l.created_at, by: by.to_string() }];
    if stage != LeadStage::New {
        stage_history.push(StageChange { stage, at: l.created_at, by: by.to_string() });
    }
    Ok(Lead {
        id: l.id.clone(),
        product: code(index, "lead.product", &l.product, Product::from_code)?,
        amount_fen: l.amount_fen,
        stage,
        stage_history,
        lost_reason: (stage == LeadStage::Lost).then(|| "客户暂无需求".to_string()),
        expected_close: None,
        source: code(index, "lead.source", &l.source, LeadSource::from_code)?,
        probability: l.probability,
        visit_id: None,
        notes: String::new(),
        created_by: by.to_string(),
        created_at: l.created_at,
        catalog_id: None,
    })
}

/// The typed customer file a record describes, owned by the book's manager, with its value tier.
pub fn to_file(record: &BranchRecord, book: &Book) -> Result<CustomerFile> {
    let i = record.index;
    let mut file = CustomerFile::new(
        book.customer_id(record),
        to_profile(i, &record.profile)?,
        book.manager_id.clone(),
        record.profile.created_at,
    );
    file.server.owner =
        Owner { manager_id: Some(book.manager_id.clone()), manager_name: Some(book.manager_name.clone()) };
    file.server.value_tier = Some(to_tier(i, &record.profile)?);
    for v in &record.visits {
        file.visits.insert(v.id.clone(), to_visit(i, v)?);
    }
    for l in &record.leads {
        file.leads.insert(l.id.clone(), to_lead(i, l, &book.manager_id)?);
    }
    file.validate().map_err(|e| WorkloadError::Invalid { index: i, source: Box::new(e.into()) })?;
    Ok(file)
}

/// One customer document's changes, ready for [`Store::merge_batch`] or a sync.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedDoc {
    pub customer_id: String,
    /// Every change of the document, concatenated (`CustomerDoc::changes_since(&[])`).
    pub bytes: Vec<u8>,
    pub changes: usize,
}

/// Commit messages of the mapped history (the commit message is the action name elsewhere).
pub const MESSAGE_PROFILE: &str = "workload.profile";
pub const MESSAGE_VISIT: &str = "workload.visit";
pub const MESSAGE_LEAD: &str = "workload.lead";
pub const MESSAGE_REVIEW: &str = "workload.reviews";

/// Writes a record as the branch server would: one commit for the profile (with the owner and
/// value tier), one per visit, one per lead, each at the record's own time. Returns the changes.
pub fn build_changes(record: &BranchRecord, book: &Book, actor: &ActorId) -> Result<PreparedDoc> {
    let file = to_file(record, book)?;
    let visits: Vec<(&Visit, i64)> = record.visits.iter().map(|v| (&file.visits[&v.id], v.ended_at)).collect();
    let leads: Vec<&Lead> = record.leads.iter().map(|l| &file.leads[&l.id]).collect();
    commit_file(&file, actor, record.profile.created_at, &visits, &leads)
        .map_err(|e| WorkloadError::Invalid { index: record.index, source: Box::new(e) })
}

/// Writes a typed customer file as the branch server would: the profile first, then each visit
/// (in the order of its check-in, at its check-out or creation), each lead (at its creation), and
/// the supervisors' reviews last. For files made or adjusted in code (the demo branch).
pub fn file_changes(file: &CustomerFile, actor: &ActorId) -> crate::Result<PreparedDoc> {
    let mut visits: Vec<(&Visit, i64)> = file
        .visits
        .values()
        .map(|v| (v, v.check_out.as_ref().map_or(v.created_at, |c| c.at).max(v.created_at)))
        .collect();
    visits.sort_by_key(|(v, _)| (v.when(), v.id.clone()));
    let mut leads: Vec<&Lead> = file.leads.values().collect();
    leads.sort_by_key(|l| (l.created_at, l.id.clone()));
    commit_file(file, actor, file.created_at, &visits, &leads)
}

/// One commit for the profile (the file without its visits, leads and reviews), one per visit at
/// its time, one per lead, and one for the reviews if any.
fn commit_file(
    file: &CustomerFile,
    actor: &ActorId,
    profile_at: i64,
    visits: &[(&Visit, i64)],
    leads: &[&Lead],
) -> crate::Result<PreparedDoc> {
    let commit = |doc: &mut AutoCommit, message: &str, at: i64| {
        doc.commit_with(CommitOptions::default().with_message(message.to_string()).with_time(at / 1000));
    };
    // The first commit holds the file without its visits and leads, like `CustomerDoc::create`.
    let mut first = file.clone();
    first.visits.clear();
    first.leads.clear();
    first.reviews.clear();
    let mut doc = AutoCommit::new().with_actor(actor.clone());
    reconcile(&mut doc, &first)?;
    commit(&mut doc, MESSAGE_PROFILE, profile_at);

    // Then each entity under its map, keyed by ID, as `CustomerDoc::apply` writes one.
    let visit_map = map_at(&doc, "visits")?;
    for (visit, at) in visits {
        reconcile_prop(&mut doc, &visit_map, visit.id.as_str(), *visit)?;
        commit(&mut doc, MESSAGE_VISIT, *at);
    }
    let lead_map = map_at(&doc, "leads")?;
    for lead in leads {
        reconcile_prop(&mut doc, &lead_map, lead.id.as_str(), *lead)?;
        commit(&mut doc, MESSAGE_LEAD, lead.created_at);
    }
    let mut changes = 1 + visits.len() + leads.len();
    if !file.reviews.is_empty() {
        let review_map = map_at(&doc, "reviews")?;
        for (visit_id, review) in &file.reviews {
            reconcile_prop(&mut doc, &review_map, visit_id.as_str(), review)?;
        }
        let last = file.reviews.values().map(|r| r.at).max().unwrap_or(profile_at);
        commit(&mut doc, MESSAGE_REVIEW, last);
        changes += 1;
    }
    Ok(PreparedDoc { customer_id: file.id.clone(), bytes: doc.save_after(&[]), changes })
}

fn map_at(doc: &AutoCommit, key: &str) -> crate::Result<automerge::ObjId> {
    match doc.get(ROOT, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Err(crate::Error::SchemaMismatch { customer_id: String::new(), path: key.to_string() }),
    }
}

/// A record's document, loaded back through [`CustomerDoc::load`] (which checks the schema).
/// Returns the prepared changes too.
pub fn build_doc(record: &BranchRecord, book: &Book, actor: &ActorId) -> Result<(CustomerDoc, PreparedDoc)> {
    let prepared = build_changes(record, book, actor)?;
    let doc = CustomerDoc::load(&prepared.customer_id, &prepared.bytes, actor)
        .map_err(|e| WorkloadError::Invalid { index: record.index, source: Box::new(e) })?;
    Ok((doc, prepared))
}

/// [`build_changes`] for many records, spread over the machine's cores; in record order.
pub fn build_all(records: &[BranchRecord], book: &Book) -> Result<Vec<PreparedDoc>> {
    let actor = book.server_actor();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads <= 1 || records.len() < 64 {
        return records.iter().map(|r| build_changes(r, book, &actor)).collect();
    }
    let chunk = records.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = records
            .chunks(chunk)
            .map(|part| {
                let actor = &actor;
                scope.spawn(move || part.iter().map(|r| build_changes(r, book, actor)).collect::<Result<Vec<_>>>())
            })
            .collect();
        let mut out = Vec::with_capacity(records.len());
        for h in handles {
            out.extend(h.join().expect("a document builder thread panicked")?);
        }
        Ok(out)
    })
}

/// What a bulk load did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadStats {
    pub customers: usize,
    pub changes: usize,
    pub bytes: usize,
    pub elapsed: Duration,
}

/// The batch size [`fill_store`] merges with: one transaction per batch.
pub const LOAD_BATCH: usize = 500;

/// Merges prepared documents into `store` with [`Store::merge_batch`], `batch` documents per
/// transaction. Any refused document is an error (the batches before it stay merged).
pub fn load_into_store(store: &mut Store, docs: &[PreparedDoc], batch: usize) -> Result<LoadStats> {
    let started = Instant::now();
    for part in docs.chunks(batch.max(1)) {
        let results = store.merge_batch(part.iter().map(|d| (d.customer_id.as_str(), d.bytes.as_slice())))?;
        for (doc, result) in part.iter().zip(results) {
            result.map_err(|source| WorkloadError::Refused {
                customer_id: doc.customer_id.clone(),
                source: Box::new(source),
            })?;
        }
    }
    Ok(LoadStats {
        customers: docs.len(),
        changes: docs.iter().map(|d| d.changes).sum(),
        bytes: docs.iter().map(|d| d.bytes.len()).sum(),
        elapsed: started.elapsed(),
    })
}

/// Builds the documents of `records` and merges them into `store`. Returns the customer IDs in
/// record order.
pub fn fill_store(store: &mut Store, records: &[BranchRecord], book: &Book) -> Result<Vec<String>> {
    let docs = build_all(records, book)?;
    load_into_store(store, &docs, LOAD_BATCH)?;
    Ok(docs.into_iter().map(|d| d.customer_id).collect())
}

/// A store file holding a whole book, built once and copied by benchmarks ([`copy_store`]).
#[derive(Debug, Clone)]
pub struct Template {
    pub path: PathBuf,
    /// Customer IDs in record order.
    pub customer_ids: Vec<String>,
    pub build_time: Duration,
    pub load: LoadStats,
}

/// Creates (replacing any old one) a store at `path` signed in as the book's manager, holding
/// `records`, with its WAL checkpointed into the main file so one file copy is the whole store.
pub fn build_template(path: &Path, records: &[BranchRecord], book: &Book) -> Result<Template> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| WorkloadError::Io { path: dir.to_path_buf(), source })?;
    }
    remove_store(path)?;
    let started = Instant::now();
    let docs = build_all(records, book)?;
    let build_time = started.elapsed();
    let mut store = Store::open(path, None)?;
    store.sign_in(book.user())?;
    let load = load_into_store(&mut store, &docs, LOAD_BATCH)?;
    store.connection().execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(crate::Error::from)?;
    drop(store);
    Ok(Template {
        path: path.to_path_buf(),
        customer_ids: docs.into_iter().map(|d| d.customer_id).collect(),
        build_time,
        load,
    })
}

/// Copies a store file (and its WAL, if any) to `to`, replacing what was there.
pub fn copy_store(from: &Path, to: &Path) -> Result<()> {
    remove_store(to)?;
    let copy =
        |a: &Path, b: &Path| std::fs::copy(a, b).map_err(|source| WorkloadError::Io { path: a.to_path_buf(), source });
    copy(from, to)?;
    let wal = sidecar(from, "-wal");
    if wal.exists() {
        copy(&wal, &sidecar(to, "-wal"))?;
    }
    Ok(())
}

/// Removes a store file and its WAL/SHM side files, if present.
pub fn remove_store(path: &Path) -> Result<()> {
    for p in [path.to_path_buf(), sidecar(path, "-wal"), sidecar(path, "-shm")] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(WorkloadError::Io { path: p, source }),
        }
    }
    Ok(())
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// How many customers each village has, most populous first (ties by name).
pub fn villages_by_size(records: &[BranchRecord]) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        *counts.entry(r.profile.village.as_str()).or_default() += 1;
    }
    let mut out: Vec<(String, usize)> = counts.into_iter().map(|(v, n)| (v.to_string(), n)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// A day's work on one customer as the tablet records it: the corrected phone number, then the
/// new visit logged whole (two user actions, two commits). `profile` is the customer's current one.
pub fn day_actions(record: &DayRecord, profile: &Profile) -> Result<[(Action, i64); 2]> {
    let visit = to_visit(record.index, &record.new_visit)?;
    let mut profile = profile.clone();
    profile.phone = Some(record.new_phone.clone());
    let (check_in, check_out) = (visit.check_in.clone(), visit.check_out.clone());
    let (Some(check_in), Some(check_out)) = (check_in, check_out) else {
        return Err(WorkloadError::UnknownCode { index: record.index, field: "visit", code: "no check points".into() });
    };
    let details = visit.details();
    let record_visit = Action::RecordVisit {
        visit_id: visit.id.clone(),
        purpose: visit.purpose,
        channel: visit.channel,
        check_in,
        check_out,
        details,
    };
    Ok([(Action::UpdateProfile { profile }, record.at), (record_visit, record.new_visit.ended_at)])
}

/// A completed visit as a tablet records it, for benchmarks and tests that act on a store: the
/// `StartVisit` and the `CheckOut` (two actions, two commits), one hour apart from `at`.
pub fn visit_actions(rng: &mut SplitMix64, visit_id: &str, at: i64, lat: f64, lng: f64) -> (Action, Action) {
    let accuracy_m = rng.range(5, 40) as f64;
    let point = |at| CheckPoint {
        at,
        position: GeoPoint { lat, lng, accuracy_m },
        provider: LocationProvider::Gps,
        mock_location: false,
    };
    let start = Action::StartVisit {
        visit_id: visit_id.to_string(),
        purpose: rng.pick(VisitPurpose::ALL),
        channel: rng.pick(Channel::ALL),
        check_in: point(at),
    };
    let details = crate::domain::VisitDetails {
        notes: visit_notes(rng),
        outcome: rng.pick(OUTCOMES).to_string(),
        products: vec![rng.pick(&[Product::Loan, Product::Deposit, Product::Wealth])],
        next_contact_at: Some(at + rng.range(1, 30) * DAY_MS),
        costs: Costs { transport_fen: rng.range(0, 4_999), gift_fen: 0, other_fen: 0 },
        ..Default::default()
    };
    let out = Action::CheckOut { visit_id: visit_id.to_string(), check_out: point(at + 60 * MINUTE_MS), details };
    (start, out)
}

/// The same visit logged after the fact (补录): one `RecordVisit` action, one commit.
pub fn recorded_visit(rng: &mut SplitMix64, visit_id: &str, at: i64, lat: f64, lng: f64) -> Action {
    match visit_actions(rng, visit_id, at, lat, lng) {
        (Action::StartVisit { visit_id, purpose, channel, check_in }, Action::CheckOut { check_out, details, .. }) => {
            Action::RecordVisit { visit_id, purpose, channel, check_in, check_out, details }
        }
        _ => unreachable!("visit_actions returns a start and a check-out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Ctx, phone};
    use crate::store::CustomerFilter;

    #[test]
    fn parses_the_first_records_of_the_reference_workload() {
        let Ok(dir) = workload_dir() else {
            eprintln!("reference workload not found; skipped");
            return;
        };
        let records: Vec<BranchRecord> = read_jsonl(&dir.join(BRANCH_FILE), Some(3)).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].index, 0);
        assert_eq!(records[0].profile.name, "杨桂敏");
        assert_eq!(records[0].profile.village, "韩桥村");
        for r in &records {
            assert_eq!(r.visits.len(), VISITS_PER_CUSTOMER);
            assert_eq!(r.leads.len(), LEADS_PER_CUSTOMER);
        }
        let book = Book::reference();
        let (doc, prepared) = build_doc(&records[0], &book, &book.server_actor()).unwrap();
        assert_eq!(prepared.changes, COMMITS_PER_CUSTOMER);
        let file = doc.file();
        assert_eq!(file, &to_file(&records[0], &book).unwrap());
        assert_eq!(file.server.value_tier, Some(ValueTier::Low));
        assert_eq!(file.server.owner.manager_id.as_deref(), Some("M00001"));
        assert_eq!(file.visits.len(), 10);
        assert!(file.visits.values().all(|v| v.status == VisitStatus::Completed));

        let day: Vec<DayRecord> = read_jsonl(&dir.join(day_file(1)), Some(3)).unwrap();
        assert_eq!(day.len(), 3);
        assert_eq!(day[0].round, 1);
        assert!(phone::validate("p", &day[0].new_phone).is_ok());
        to_visit(day[0].index, &day[0].new_visit).unwrap();
    }

    #[test]
    fn generation_is_deterministic_and_prefix_stable() {
        let a = generate_branch(20, 7);
        assert_eq!(a, generate_branch(20, 7));
        assert_ne!(a, generate_branch(20, 8));
        assert_eq!(generate_branch(5, 7), a[..5]);
        let book = Book::copy(3);
        let actor = book.server_actor();
        assert_eq!(build_changes(&a[4], &book, &actor).unwrap(), build_changes(&a[4], &book, &actor).unwrap());
        assert_ne!(book.customer_id(&a[4]), Book::copy(4).customer_id(&a[4]));
        assert_eq!(generate_day(&a, 1, 5, 7), generate_day(&a, 1, 5, 7));
    }

    #[test]
    fn generated_records_are_valid() {
        let records = generate_branch(300, 42);
        for r in &records {
            let p = &r.profile;
            assert_eq!(idcard::validate("id", &p.id_number), Ok(()), "{}", p.id_number);
            assert_eq!(idcard::gender(&p.id_number).map(|g| g.code()), Some(p.gender.as_str()));
            assert_eq!(idcard::birth_date(&p.id_number).map(|d| d.0), Some(p.birth_year));
            assert_eq!(phone::validate("phone", &p.phone), Ok(()), "{}", p.phone);
            assert!((2..=3).contains(&p.name.chars().count()));
            assert!(r.visits.windows(2).all(|w| w[0].started_at <= w[1].started_at));
            for v in &r.visits {
                assert_eq!(v.notes.chars().count(), 80);
                assert!(v.notes.ends_with('。'));
            }
            let file = to_file(r, &Book::reference()).unwrap();
            crate::domain::error::check::id("customer.id", &file.id).unwrap();
            assert_eq!(file.visits.len(), VISITS_PER_CUSTOMER);
            assert_eq!(file.leads.len(), LEADS_PER_CUSTOMER);
        }
        assert!(village_names().len() >= 200);
        assert!(villages_by_size(&records).len() > 100);
        let day = generate_day(&records, 2, 100, 1);
        assert_eq!(day.len(), 100);
        assert!(day.windows(2).all(|w| w[0].index < w[1].index));
        assert!(day.iter().all(|d| phone::validate("p", &d.new_phone).is_ok()));
    }

    #[test]
    fn unknown_codes_are_reported() {
        let mut r = generate_branch(1, 1).remove(0);
        r.visits[3].purpose = "picnic".into();
        match to_file(&r, &Book::reference()) {
            Err(WorkloadError::UnknownCode { field: "visit.purpose", code, .. }) => assert_eq!(code, "picnic"),
            other => panic!("expected UnknownCode, got {other:?}"),
        }
    }

    #[test]
    fn filled_store_lists_opens_and_takes_new_visits() {
        let records = generate_branch(6, 9);
        let book = Book::reference();
        let dir = tempfile::tempdir().unwrap();
        let template = build_template(&dir.path().join("template.db"), &records, &book).unwrap();
        assert_eq!(template.load.changes, 6 * COMMITS_PER_CUSTOMER);
        let copy = dir.path().join("copy.db");
        copy_store(&template.path, &copy).unwrap();

        let mut store = Store::open(&copy, None).unwrap();
        assert_eq!(store.user().map(|u| u.id.as_str()), Some("M00001"));
        let all = store.customers(&CustomerFilter::default(), 50, None).unwrap();
        assert_eq!(all.items.len(), 6);
        let village = villages_by_size(&records)[0].clone();
        let filter = CustomerFilter { village: Some(village.0), ..Default::default() };
        assert_eq!(store.customers(&filter, 50, None).unwrap().items.len(), village.1);
        let id = &template.customer_ids[2];
        let view = store.customer_360(id).unwrap();
        assert_eq!(view.visits.len(), VISITS_PER_CUSTOMER);
        assert_eq!(view.file.profile.name, records[2].profile.name);

        let mut rng = SplitMix64::new(1);
        let (start, out) = visit_actions(&mut rng, "bench-v1", DAYS_START, 31.0, 105.0);
        assert!(store.apply(id, &start, DAYS_START).unwrap().changed);
        assert!(store.apply(id, &out, DAYS_START + 60 * MINUTE_MS).unwrap().changed);
        assert_eq!(store.customer_360(id).unwrap().visits.len(), VISITS_PER_CUSTOMER + 1);

        // The same document also takes actions in memory, as a manager's tablet would.
        let (mut doc, _) = build_doc(&records[0], &book, &crate::ids::new_actor()).unwrap();
        let ctx = Ctx {
            user_id: book.manager_id.clone(),
            user_name: book.manager_name.clone(),
            role: Role::Manager,
            now: DAYS_START,
        };
        assert!(doc.apply(&start, &ctx).unwrap().is_some());
    }
}
