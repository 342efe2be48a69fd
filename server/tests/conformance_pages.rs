//! The store interface's conformance, part `PageQueries`: the same calls on the SQLite store and
//! on the PostgreSQL store give the same results, in the same order.

mod common;

use common::pg::PgTest;
use fieldsync_server::store::PageQueries;
use fieldsync_server::store::pages::{FlagFilter, VisitAfter, VisitFilter, VisitListRow, VisitSort};

/// One `rm_visits` row as an INSERT that runs on both stores.
struct Visit {
    customer: &'static str,
    visit: &'static str,
    branch: &'static str,
    manager: &'static str,
    manager_name: &'static str,
    village: &'static str,
    status: &'static str,
    purpose: &'static str,
    channel: &'static str,
    at: i64,
    duration_s: Option<i64>,
    distance_m: Option<f64>,
    flags: i64,
    review: &'static str,
    comment: Option<&'static str>,
}

fn text(v: Option<&str>) -> String {
    v.map_or("NULL".into(), |s| format!("'{s}'"))
}

fn int(v: Option<i64>) -> String {
    v.map_or("NULL".into(), |n| n.to_string())
}

fn real(v: Option<f64>) -> String {
    v.map_or("NULL".into(), |x| format!("{x:?}"))
}

impl Visit {
    fn sql(&self) -> String {
        // Some columns vary with the visit so NULLs and values both show.
        let odd = self.at % 2 == 1 || self.visit.ends_with('1');
        let lat = if odd { None } else { Some(30.5 + self.at as f64 / 1e6) };
        format!(
            "INSERT INTO rm_visits (customer_id, visit_id, branch_id, manager_id, manager_name, village, status,
                 purpose, channel, at, planned_at, check_in_at, check_out_at, in_lat, in_lng, in_accuracy_m,
                 out_lat, out_lng, distance_m, duration_s, mock_location, after_the_fact, created_at, cost_fen,
                 photos, notes, outcome, next_contact_at, linked_leads, review, reviewed_at, reviewer_name,
                 review_comment, travel_kmh, photo_reused, clock_offset_ms, flags)
             VALUES ('{c}', '{v}', '{b}', '{m}', '{mn}', '{vil}', '{st}', '{p}', '{ch}', {at}, {planned}, {at},
                 {out}, {lat}, {lng}, {acc}, {lat}, {lng}, {dist}, {dur}, {mock}, {late}, {created}, {cost},
                 {photos}, '{notes}', 'ok', {next}, {links}, '{rev}', {rev_at}, {rev_by}, {comment}, {kmh},
                 {reused}, {offset}, {flags})",
            c = self.customer,
            v = self.visit,
            b = self.branch,
            m = self.manager,
            mn = self.manager_name,
            vil = self.village,
            st = self.status,
            p = self.purpose,
            ch = self.channel,
            at = self.at,
            planned = int((self.status == "planned").then_some(self.at)),
            out = int(self.duration_s.map(|d| self.at + d * 1000)),
            lat = real(lat),
            lng = real(lat.map(|l| l + 84.0)),
            acc = real(lat.map(|_| 12.5)),
            dist = real(self.distance_m),
            dur = int(self.duration_s),
            mock = i64::from(self.flags & 4 != 0),
            late = i64::from(odd),
            created = self.at - 7,
            cost = self.at / 100,
            photos = self.flags % 3,
            notes = if odd { "" } else { "带了宣传册" },
            next = int((!odd).then_some(self.at + 86_400_000)),
            links = self.flags % 2,
            rev = self.review,
            rev_at = int((self.review != "pending").then_some(self.at + 10)),
            rev_by = text((self.review != "pending").then_some("主管")),
            comment = text(self.comment),
            kmh = real((self.flags & 1 != 0).then_some(88.25)),
            reused = i64::from(self.flags & 2 != 0),
            offset = int((self.flags & 8 != 0).then_some(-420_000)),
            flags = self.flags,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn visit(
    (customer, visit, branch): (&'static str, &'static str, &'static str),
    (manager, manager_name): (&'static str, &'static str),
    village: &'static str,
    (status, purpose, channel): (&'static str, &'static str, &'static str),
    at: i64,
    duration_s: Option<i64>,
    distance_m: Option<f64>,
    flags: i64,
    (review, comment): (&'static str, Option<&'static str>),
) -> String {
    Visit {
        customer,
        visit,
        branch,
        manager,
        manager_name,
        village,
        status,
        purpose,
        channel,
        at,
        duration_s,
        distance_m,
        flags,
        review,
        comment,
    }
    .sql()
}

const M1: (&str, &str) = ("m1", "张三");
const M2: (&str, &str) = ("m2", "李四");
const M3: (&str, &str) = ("m3", "李四");
const M4: (&str, &str) = ("m4", "Wang");
const M9: (&str, &str) = ("m9", "赵六");
const PENDING: (&str, Option<&str>) = ("pending", None);

fn seed(setup: &impl Fn(&str)) {
    setup(
        "INSERT INTO branches (id, name, time_zone) VALUES ('b1', '东湖支行', 'Asia/Shanghai'), ('b2', '西岗支行', 'Asia/Urumqi');
         INSERT INTO outlets (id, branch_id, name) VALUES ('o1', 'b1', '城关网点'), ('o2', 'b1', '乡镇网点'),
             ('o3', 'b1', '城关网点'), ('o9', 'b2', 'Other');
         INSERT INTO users (id, branch_id, outlet_id, username, display_name, role, password_hash) VALUES
             ('a1', 'b1', NULL, 'a1', '主管', 'supervisor', 'x'),
             ('m1', 'b1', 'o1', 'm1', '张三', 'manager', 'x'),
             ('m2', 'b1', 'o2', 'm2', '李四', 'manager', 'x'),
             ('m3', 'b1', NULL, 'm3', '李四', 'manager', 'x'),
             ('m4', 'b1', 'o1', 'm4', 'Wang', 'manager', 'x'),
             ('m9', 'b2', 'o9', 'm9', '赵六', 'manager', 'x'),
             ('s9', 'b2', NULL, 's9', 'Boss', 'supervisor', 'x');
         INSERT INTO devices (device_id, user_id, registered_at, revoked_at, branch_id) VALUES
             ('d1', 'm1', 1, NULL, 'b1'), ('d2', 'm2', 1, 50, 'b1'), ('d3', 'm3', 1, NULL, 'b1'),
             ('d0', 'm1', 1, NULL, 'b1'), ('d4', 'm4', 1, 70, 'b1'), ('d9', 'm9', 1, NULL, 'b2'),
             ('dx', 'm1', 1, NULL, NULL);
         INSERT INTO device_syncs (device_id, last_sync_at, app_version, refused_last, refused_total) VALUES
             ('d1', 500, '1.2.0', 0, 3), ('d2', 500, '1.1.0', 2, 2), ('d0', 900, '1.3.0', 0, 0), ('d9', 100, '1.0.0', 1, 1);
         INSERT INTO audit (at, actor, action, subject) VALUES
             (100, 'a1', 'login', ''), (100, 'm1', 'review', 'c1/v1'), (90, 'm9', 'login', ''),
             (110, 'm2', 'export', 'visits'), (105, 'ghost', 'login', ''), (105, 'a1', 'logout', ''),
             (120, 's9', 'login', 'b2');",
    );
    // Customers: owners with a stale name and with none, NULL visits and follow-ups, a closed one,
    // villages whose names differ by case only.
    setup(
        "INSERT INTO rm_customers (customer_id, branch_id, scope, owner_id, owner_name, name, kind, phone_masked,
             id_number_masked, village, lat, lng, tier, lifecycle, last_visit_at, next_follow_up_at, open_leads,
             created_at) VALUES
         ('c1', 'b1', 'private', 'm1', '张三', '王大', 'person', '138****5678', '1101**********002X', '东村',
             30.59, 114.3, 'gold', 'active', 1000, 500, 2, 10),
         ('c2', 'b1', 'private', 'm1', '张三', '李二', 'person', NULL, NULL, '东村', NULL, NULL, NULL, NULL,
             200, 400, 1, 11),
         ('c3', 'b1', 'private', 'm2', '李四', '赵一', 'business', NULL, NULL, '西村', 30.1, 114.0, NULL, NULL,
             NULL, 300, 0, 12),
         ('c4', 'b1', 'private', 'm2', '李四(旧)', '孙', 'person', NULL, NULL, '西村', NULL, NULL, NULL, NULL,
             950, 450, 0, 13),
         ('c12', 'b1', 'private', 'm2', NULL, '钱', 'person', NULL, NULL, '西村', NULL, NULL, NULL, NULL,
             600, 350, 0, 14),
         ('c5', 'b1', 'pool', NULL, NULL, '公海客户', 'person', NULL, NULL, '南村', NULL, NULL, NULL, NULL,
             990, 100, 0, 15),
         ('c6', 'b1', 'closed', 'm3', '李四', '周', 'person', NULL, NULL, '南村', NULL, NULL, NULL, NULL,
             999, 100, 0, 16),
         ('c14', 'b1', 'private', 'm3', NULL, '冯', 'person', NULL, NULL, '南村', NULL, NULL, NULL, NULL,
             NULL, 50, 0, 17),
         ('c7', 'b1', 'private', 'm3', '李四', '吴', 'person', NULL, NULL, '北村', NULL, NULL, NULL, NULL,
             NULL, NULL, 0, 18),
         ('c8', 'b1', 'private', 'm4', 'Wang', '郑', 'person', NULL, NULL, '北村', NULL, NULL, NULL, NULL,
             800, 200, 1, 19),
         ('c9', 'b1', 'private', 'm4', 'Wang', 'x', 'person', NULL, NULL, '北村', NULL, NULL, NULL, NULL,
             0, 250, 0, 20),
         ('c13', 'b1', 'private', 'm4', NULL, 'y', 'person', NULL, NULL, '北村', NULL, NULL, NULL, NULL,
             100, 250, 0, 21),
         ('c10', 'b1', 'private', 'm4', 'Wang', 'z', 'person', NULL, NULL, 'acre', NULL, NULL, NULL, NULL,
             NULL, NULL, 0, 22),
         ('c11', 'b1', 'private', 'm1', '张三', 'w', 'person', NULL, NULL, 'Acre', NULL, NULL, NULL, NULL,
             1000, NULL, 0, 23),
         ('c20', 'b2', 'private', 'm9', '赵六', '客户', 'person', NULL, NULL, '东村', NULL, NULL, NULL, NULL,
             1000, 10, 0, 24),
         ('c22', 'b2', 'private', 'm9', '赵六', 'b', 'person', NULL, NULL, '东村', NULL, NULL, NULL, NULL,
             NULL, 5, 0, 25),
         ('c21', 'b2', 'private', 'm9', NULL, 'a', 'person', NULL, NULL, '西村', NULL, NULL, NULL, NULL,
             NULL, 5, 0, 26),
         ('c23', 'b2', 'pool', NULL, '前任', 'c', 'person', NULL, NULL, '西村', NULL, NULL, NULL, NULL,
             20, 7, 0, 27),
         ('c24', 'b2', 'private', 's9', 'Boss', 'd', 'person', NULL, NULL, '西村', NULL, NULL, NULL, NULL,
             20, 8, 0, 28);",
    );
    let visits = [
        visit(
            ("c1", "v1", "b1"),
            M1,
            "东村",
            ("completed", "deposit", "in_person"),
            1000,
            Some(600),
            Some(120.5),
            0,
            PENDING,
        ),
        visit(("c1", "v2", "b1"), M1, "东村", ("completed", "loan", "phone"), 2000, None, None, 1, ("ok", Some("好"))),
        visit(
            ("c2", "v3", "b1"),
            M1,
            "东村",
            ("in_progress", "deposit", "in_person"),
            2000,
            Some(600),
            Some(120.5),
            2,
            PENDING,
        ),
        visit(
            ("c2", "v1", "b1"),
            M1,
            "东村",
            ("completed", "deposit", "in_person"),
            2000,
            Some(30),
            Some(5000.0),
            3,
            ("rejected", None),
        ),
        visit(
            ("c1", "v9", "b1"),
            M1,
            "东村",
            ("completed", "collection", "in_person"),
            3000,
            Some(100),
            None,
            4,
            PENDING,
        ),
        visit(
            ("c2", "v9", "b1"),
            M1,
            "东村",
            ("abandoned", "collection", "in_person"),
            3000,
            None,
            Some(10.0),
            0,
            PENDING,
        ),
        visit(
            ("c3", "v4", "b1"),
            M2,
            "西村",
            ("completed", "care", "wechat"),
            1500,
            Some(1200),
            Some(0.0),
            0,
            ("ok", None),
        ),
        visit(("c4", "v5", "b1"), M2, "西村", ("planned", "care", "in_person"), 5000, None, None, 0, PENDING),
        visit(
            ("c5", "v6", "b1"),
            M3,
            "南村",
            ("completed", "publicity", "in_person"),
            1500,
            Some(1200),
            None,
            8,
            PENDING,
        ),
        visit(("c8", "v7", "b1"), M4, "北村", ("completed", "deposit", "phone"), 1701, Some(0), Some(3.25), 1, PENDING),
        visit(
            ("cX", "v8", "b1"),
            M4,
            "北村",
            ("completed", "deposit", "in_person"),
            1800,
            Some(45),
            Some(10.0),
            9,
            PENDING,
        ),
        visit(("c1", "v10", "b1"), M1, "东村", ("planned", "deposit", "in_person"), 900, None, None, 0, PENDING),
        visit(
            ("c20", "v1", "b2"),
            M9,
            "东村",
            ("completed", "deposit", "in_person"),
            1000,
            Some(60),
            Some(1.0),
            0,
            PENDING,
        ),
    ];
    setup(&visits.join(";\n"));
    setup(
        "INSERT INTO rm_visit_photos (hash, customer_id, visit_id, branch_id) VALUES
             ('h3', 'c1', 'v1', 'b1'), ('h1', 'c1', 'v1', 'b1'), ('H2', 'c1', 'v1', 'b1'), ('h1', 'c2', 'v1', 'b1');
         INSERT INTO rm_leads (customer_id, lead_id, branch_id, owner_id, product, stage, amount_fen, probability,
             expected_close, visit_id, created_by, created_at, won_at) VALUES
         ('c1', 'l2', 'b1', 'm1', 'card', 'won', 5000, 100, 2000, 'v1', 'm1', 1000, 1500),
         ('c1', 'l1', 'b1', 'm1', 'loan', 'open', 100000, 50, NULL, 'v1', 'm1', 1000, NULL),
         ('c1', 'l0', 'b1', 'm1', 'loan', 'open', 7, 10, NULL, NULL, 'm1', 1200, NULL),
         ('c2', 'l1', 'b1', 'm1', 'loan', 'open', 250, 20, NULL, 'v1', 'm1', 900, NULL),
         ('c3', 'l3', 'b1', NULL, 'deposit', 'lost', 0, 0, NULL, 'v4', 'm2', 1100, NULL),
         ('c4', 'l4', 'b1', 'm2', 'loan', 'negotiating', 9007199254740993, 60, NULL, NULL, 'm2', 1300, NULL),
         ('c4', 'l5', 'b1', 'm2', 'loan', 'negotiating', 1, 60, NULL, NULL, 'm2', 1300, NULL),
         ('c20', 'l1', 'b2', 'm9', 'loan', 'open', 9000000000000000000, 50, NULL, NULL, 'm9', 1000, NULL),
         ('c20', 'l2', 'b2', 'm9', 'loan', 'open', 9000000000000000000, 50, NULL, NULL, 'm9', 1000, NULL);
         INSERT INTO rm_visit_days (branch_id, manager_id, day, manager_name, visits) VALUES
             ('b1', 'm3', 19000, '李四', 2), ('b1', 'm1', 19000, '张三', 3), ('b1', 'm2', 19000, '李四', 1),
             ('b1', 'm3', 19001, '李四', 1), ('b1', 'm2', 19002, '李四', 4), ('b1', 'm4', 18999, 'Wang', 1),
             ('b2', 'm9', 19000, '赵六', 5);",
    );
}

fn filter(branch: &str) -> VisitFilter {
    VisitFilter { branch_id: branch.into(), ..VisitFilter::default() }
}

fn keys(rows: &[VisitListRow]) -> Vec<String> {
    rows.iter().map(|r| format!("{}/{}", r.customer_id, r.visit_id)).collect()
}

/// What a scenario saw, labelled, to compare across the stores.
fn scenario<S: PageQueries + ?Sized>(store: &S, setup: impl Fn(&str)) -> Vec<(String, String)> {
    seed(&setup);
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut see = |label: String, value: String| seen.push((label, value));

    let filters = [
        ("all", filter("b1")),
        ("m1", VisitFilter { manager_id: Some("m1".into()), ..filter("b1") }),
        ("o1", VisitFilter { outlet_id: Some("o1".into()), ..filter("b1") }),
        ("o3", VisitFilter { outlet_id: Some("o3".into()), ..filter("b1") }),
        ("village", VisitFilter { village: Some("西村".into()), ..filter("b1") }),
        ("from", VisitFilter { from: Some(1500), ..filter("b1") }),
        ("to", VisitFilter { to: Some(2000), ..filter("b1") }),
        ("from-to", VisitFilter { from: Some(1500), to: Some(3000), ..filter("b1") }),
        ("purpose", VisitFilter { purpose: Some("deposit".into()), ..filter("b1") }),
        ("pending", VisitFilter { review: Some("pending".into()), ..filter("b1") }),
        ("ok", VisitFilter { review: Some("ok".into()), ..filter("b1") }),
        ("flagged", VisitFilter { flags: FlagFilter::Flagged, ..filter("b1") }),
        ("clean", VisitFilter { flags: FlagFilter::Clean, ..filter("b1") }),
        ("bit2", VisitFilter { flags: FlagFilter::One(2), ..filter("b1") }),
        ("bit8", VisitFilter { flags: FlagFilter::One(8), ..filter("b1") }),
        (
            "combined",
            VisitFilter {
                manager_id: Some("m1".into()),
                outlet_id: Some("o1".into()),
                village: Some("东村".into()),
                from: Some(1000),
                to: Some(3001),
                purpose: Some("deposit".into()),
                review: Some("pending".into()),
                flags: FlagFilter::One(2),
                ..filter("b1")
            },
        ),
        ("combined-flagged", VisitFilter { manager_id: Some("m1".into()), flags: FlagFilter::Flagged, ..filter("b1") }),
        ("b2", filter("b2")),
        ("none", filter("nowhere")),
    ];
    let sorts = [VisitSort::Newest, VisitSort::Oldest, VisitSort::Shortest, VisitSort::Farthest];
    let pages = [(0, 100), (0, 3), (3, 3), (9, 3), (100, 5), (0, 0), (2, usize::MAX), (usize::MAX, usize::MAX)];
    for (name, f) in &filters {
        for sort in sorts {
            for (offset, limit) in pages {
                let rows = store.visit_page(f, sort, offset, limit).unwrap();
                let label = format!("visit_page {name} {sort:?} {offset} {limit}");
                if (offset, limit) == (0, 100) {
                    see(label, format!("{rows:?}"));
                } else {
                    see(label, format!("{:?}", keys(&rows)));
                }
            }
        }
        // An export in batches: each continues after the previous one's last visit.
        for batch in [1, 2, 4, usize::MAX] {
            let mut after: Option<VisitAfter> = None;
            let mut all = Vec::new();
            for _ in 0..20 {
                let rows = store.visits_after(f, after.as_ref(), batch).unwrap();
                let Some(last) = rows.last() else { break };
                after = Some((last.at, last.customer_id.clone(), last.visit_id.clone()));
                all.push(keys(&rows));
            }
            see(format!("visits_after {name} {batch}"), format!("{all:?}"));
        }
        for cursor in [(2000, "c2", "v2"), (2000, "c1", "v2"), (3001, "", ""), (0, "z", "z")] {
            let after = (cursor.0, cursor.1.to_string(), cursor.2.to_string());
            let rows = store.visits_after(f, Some(&after), 100).unwrap();
            see(format!("visits_after {name} {cursor:?}"), format!("{:?}", keys(&rows)));
        }
        let rows = store.visits_after(f, None, 0).unwrap();
        see(format!("visits_after {name} none 0"), format!("{rows:?}"));
    }

    for (c, v) in [
        ("c1", "v1"),
        ("c2", "v1"),
        ("c2", "v9"),
        ("c5", "v6"),
        ("cX", "v8"),
        ("c4", "v5"),
        ("c1", "nope"),
        ("nope", "v1"),
    ] {
        see(format!("visit_detail {c} {v}"), format!("{:?}", store.visit_detail(c, v).unwrap()));
        see(format!("visit_photos {c} {v}"), format!("{:?}", store.visit_photos(c, v).unwrap()));
        see(format!("visit_leads {c} {v}"), format!("{:?}", store.visit_leads(c, v).unwrap()));
    }
    for c in ["c1", "c2", "c4", "c5", "c20", "cX", "nope"] {
        see(format!("customer_row {c}"), format!("{:?}", store.customer_row(c).unwrap()));
        see(format!("customer_leads {c}"), format!("{:?}", store.customer_leads(c).unwrap()));
        for limit in [0, 2, 100, usize::MAX] {
            see(format!("customer_visits {c} {limit}"), format!("{:?}", store.customer_visits(c, limit).unwrap()));
        }
    }
    for b in ["b1", "b2", "nowhere"] {
        for (offset, limit) in [(0, 100), (0, 2), (1, 2), (3, 2), (10, 10), (0, 0), (usize::MAX, usize::MAX)] {
            see(
                format!("audit_page {b} {offset} {limit}"),
                format!("{:?}", store.audit_page(b, offset, limit).unwrap()),
            );
        }
        for (first, last) in [(18000, 20000), (19000, 19001), (19000, 19000), (19003, 19010), (19001, 19000)] {
            see(
                format!("visits_per_day {b} {first} {last}"),
                format!("{:?}", store.visits_per_day(b, first, last).unwrap()),
            );
        }
        for (s30, s90) in [(900, 500), (0, 0), (1, 1), (2000, 2000), (990, 100)] {
            see(
                format!("village_coverage {b} {s30} {s90}"),
                format!("{:?}", store.village_coverage(b, s30, s90).unwrap()),
            );
        }
        see(format!("lead_funnel {b}"), format!("{:?}", store.lead_funnel(b).unwrap()));
        for now in [0, 300, 600, 1000] {
            see(format!("overdue_per_manager {b} {now}"), format!("{:?}", store.overdue_per_manager(b, now).unwrap()));
        }
        for m in ["m1", "m2", "m4", "m9", "nobody"] {
            for (from, to) in [(0, 10_000), (2000, 3000), (2000, 3001), (1000, 1000)] {
                see(
                    format!("manager_day {b} {m} {from} {to}"),
                    format!("{:?}", keys(&store.manager_day(b, m, from, to).unwrap())),
                );
            }
        }
        see(format!("manager_day {b} m1 full"), format!("{:?}", store.manager_day(b, "m1", 0, 10_000).unwrap()));
        see(format!("device_status {b}"), format!("{:?}", store.device_status(b).unwrap()));
        see(format!("branch_managers {b}"), format!("{:?}", store.branch_managers(b).unwrap()));
        see(format!("branch_outlets {b}"), format!("{:?}", store.branch_outlets(b).unwrap()));
        see(format!("branch_villages {b}"), format!("{:?}", store.branch_villages(b).unwrap()));
        see(format!("manager_outlets {b}"), format!("{:?}", store.manager_outlets(b).unwrap()));
    }
    seen
}

fn on_sqlite() -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let db = fieldsync_server::store::Db::open(dir.path()).unwrap();
    db.with(|conn| {
        let tx = conn.transaction().unwrap();
        let seen = scenario(&*tx, |sql| tx.execute_batch(sql).unwrap());
        tx.commit().unwrap();
        seen
    })
}

fn get<'a>(seen: &'a [(String, String)], label: &str) -> &'a str {
    &seen.iter().find(|(l, _)| l == label).unwrap_or_else(|| panic!("no {label}")).1
}

#[test]
fn page_queries_behave_the_same_on_both_stores() {
    let pg = PgTest::new();
    let on_pg = pg.write(|store| scenario(store, |sql| store.batch(sql).unwrap()));
    let on_sqlite = on_sqlite();
    assert_eq!(on_pg.len(), on_sqlite.len());
    for ((label, pg), (_, sqlite)) in on_pg.iter().zip(&on_sqlite) {
        assert_eq!(pg, sqlite, "{label}: PostgreSQL (left) and SQLite (right) differ");
    }

    // What both should have seen, so both being wrong the same way fails too.
    let s = &on_sqlite;
    assert_eq!(
        get(s, "visit_page all Newest 0 3"),
        r#"["c2/v9", "c1/v9", "c2/v3"]"#,
        "newest first, ties by customer and visit descending"
    );
    assert_eq!(get(s, "visit_page all Newest 3 3"), r#"["c2/v1", "c1/v2", "cX/v8"]"#);
    assert_eq!(
        get(s, "visit_page all Shortest 0 100").matches("visit_id").count(),
        10,
        "planned visits are never listed"
    );
    assert_eq!(
        get(s, "visit_page all Shortest 2 18446744073709551615"),
        r#"["cX/v8", "c1/v9", "c2/v3", "c1/v1", "c3/v4", "c5/v6", "c2/v9", "c1/v2"]"#,
        "shortest first, NULL durations last, ties newest first"
    );
    assert_eq!(
        get(s, "visit_page all Farthest 0 3"),
        r#"["c2/v1", "c2/v3", "c1/v1"]"#,
        "farthest first, ties newest first"
    );
    assert_eq!(get(s, "visit_page o1 Oldest 0 3"), r#"["c1/v1", "c8/v7", "cX/v8"]"#);
    assert_eq!(get(s, "visit_page bit2 Oldest 0 3"), r#"["c2/v1", "c2/v3"]"#);
    assert_eq!(
        get(s, "visits_after all 4"),
        r#"[["c2/v9", "c1/v9", "c2/v3", "c2/v1"], ["c1/v2", "cX/v8", "c8/v7", "c5/v6"], ["c3/v4", "c1/v1"]]"#
    );
    assert_eq!(
        get(s, "visit_page all Oldest 18446744073709551615 18446744073709551615"),
        r#"["c1/v1", "c3/v4", "c5/v6", "c8/v7", "cX/v8", "c1/v2", "c2/v1", "c2/v3", "c1/v9", "c2/v9"]"#,
        "a limit or offset beyond i64 is none (SQLite reads them negative)"
    );
    assert_eq!(get(s, "visit_photos c1 v1"), r#"["H2", "h1", "h3"]"#);
    assert_eq!(
        get(s, "lead_funnel b1"),
        r#"[("lost", 1, 0), ("negotiating", 2, 9007199254740994), ("open", 3, 100257), ("won", 1, 5000)]"#
    );
    assert_eq!(get(s, "lead_funnel b2"), format!("[(\"open\", 2, {})]", i64::MAX));
    assert_eq!(
        get(s, "overdue_per_manager b1 600"),
        r#"[("Wang", 3), ("李四", 3), ("张三", 2), ("", 1), ("", 1)]"#,
        "by count, ties in owner order descending (none last); the name of the earliest follow-up"
    );
    assert_eq!(get(s, "overdue_per_manager b2 1000"), r#"[("", 3), ("Boss", 1), ("前任", 1)]"#);
    assert_eq!(
        get(s, "village_coverage b1 900 500"),
        "[VillageCoverage { village: \"acre\", customers: 1, visited_30: 0, visited_90: 0 }, \
         VillageCoverage { village: \"北村\", customers: 4, visited_30: 0, visited_90: 1 }, \
         VillageCoverage { village: \"东村\", customers: 2, visited_30: 1, visited_90: 1 }, \
         VillageCoverage { village: \"南村\", customers: 2, visited_30: 1, visited_90: 1 }, \
         VillageCoverage { village: \"西村\", customers: 3, visited_30: 1, visited_90: 2 }, \
         VillageCoverage { village: \"Acre\", customers: 1, visited_30: 1, visited_90: 1 }]"
    );
    assert_eq!(
        get(s, "visits_per_day b1 18000 20000"),
        r#"[("Wang", 18999, 1), ("张三", 19000, 3), ("李四", 19000, 1), ("李四", 19000, 2), ("李四", 19001, 1), ("李四", 19002, 4)]"#
    );
    assert_eq!(
        get(s, "manager_day b1 m1 0 10000"),
        r#"["c1/v1", "c2/v1", "c1/v2", "c2/v3", "c1/v9", "c2/v9"]"#,
        "in time, then visit; equal ones by customer (SQLite's index order)"
    );
    assert_eq!(
        get(s, "audit_page b1 1 2"),
        r#"[AuditRow { at: 110, actor_name: "李四", action: "export", subject: "visits" }, AuditRow { at: 100, actor_name: "张三", action: "review", subject: "c1/v1" }]"#
    );
    assert!(
        get(s, "device_status b1").starts_with("[DeviceStatus { device_id: \"d0\""),
        "{}",
        get(s, "device_status b1")
    );
    assert_eq!(get(s, "branch_outlets b1"), r#"[("o2", "乡镇网点"), ("o1", "城关网点"), ("o3", "城关网点")]"#);
    assert_eq!(get(s, "branch_villages b1"), r#"["Acre", "acre", "东村", "北村", "南村", "西村"]"#);
    assert_eq!(get(s, "manager_outlets b1"), r#"[("m1", "o1"), ("m2", "o2"), ("m4", "o1")]"#);
    assert_eq!(get(s, "customer_row nope"), "None");
    assert_eq!(get(s, "visit_detail nope v1"), "None");
}
