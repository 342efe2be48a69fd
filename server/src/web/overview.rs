//! The branch at a glance: visits per manager per day and per week, village coverage, the leads
//! funnel with its amounts, overdue follow-ups per manager, a manager's day as a route of
//! check-ins, and each device's last sync. The figures come from the read models; the charts are
//! drawn in the browser by the vendored Apache ECharts from a JSON block the page carries (each
//! chart has its table beside it, for print and for a browser without script).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use fieldsync_core::domain::{LeadStage, Measures};
use serde::{Deserialize, Serialize};

use super::error::WebError;
use super::format;
use super::i18n::{Lang, Texts};
use super::session::Viewer;
use super::visits::Choice;
use crate::accounts::AccountError;
use crate::routes::{AppState, now_ms};
use crate::store::pages::{DeviceStatus, VillageCoverage};

const DAY_MS: i64 = 86_400_000;
/// Days in the daily chart, weeks in the weekly one, villages in the coverage chart.
const DAYS: i64 = 30;
const WEEKS: i64 = 12;
const VILLAGES: usize = 30;

/// A stacked bar chart's data: categories along the axis, one series per name.
#[derive(Debug, Serialize, PartialEq)]
pub struct Bars {
    pub categories: Vec<String>,
    pub series: Vec<Series>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// One check-in of a manager's day, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Stop {
    pub time: String,
    pub customer: String,
    pub lat: f64,
    pub lng: f64,
    pub flagged: bool,
    pub customer_id: String,
    pub visit_id: String,
}

/// Everything the charts draw, as the page's JSON block carries it.
#[derive(Debug, Serialize)]
struct Charts {
    daily: Bars,
    weekly: Bars,
    coverage: Bars,
    funnel: Bars,
    overdue: Bars,
    route: Vec<Stop>,
}

/// Counts per (manager, day) into bars over `days` consecutive days from `first_day`, grouped
/// `group` days to a bar (1: days, 7: weeks).
pub fn per_manager(
    counts: &[(String, i64, i64)],
    first_day: i64,
    days: i64,
    group: i64,
    label: impl Fn(i64) -> String,
) -> Bars {
    let slots = (days / group) as usize;
    let mut managers: Vec<String> = counts.iter().map(|(m, _, _)| m.clone()).collect();
    managers.sort();
    managers.dedup();
    let series = managers
        .iter()
        .map(|m| {
            let mut values = vec![0.0; slots];
            for (_, day, n) in counts.iter().filter(|(name, _, _)| name == m) {
                let slot = (day - first_day) / group;
                if (0..slots as i64).contains(&slot) {
                    values[slot as usize] += *n as f64;
                }
            }
            Series { name: m.clone(), values }
        })
        .collect();
    Bars { categories: (0..slots as i64).map(|s| label(first_day + s * group)).collect(), series }
}

#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    #[serde(default)]
    manager: String,
    #[serde(default)]
    date: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    v: &'a Viewer,
    charts_json: String,
    coverage: Vec<VillageCoverage>,
    funnel: Vec<(String, i64, String)>,
    overdue: Vec<(String, i64)>,
    devices: Vec<DeviceLine>,
    managers: Vec<Choice>,
    date: String,
    route: Vec<Stop>,
    daily_total: String,
    /// This month against its targets: each manager's, each outlet's, then the branch's.
    month: String,
    targets: Vec<TargetLine>,
}

/// One row of the month's targets: done / target for each measure.
pub struct TargetLine {
    pub who: String,
    pub visits: String,
    pub new_customers: String,
    pub leads_won: String,
    pub amount_won: String,
}

fn target_line(who: String, target: &Measures, done: &Measures) -> TargetLine {
    let of = |d: i64, t: i64| if t > 0 { format!("{d} / {t}") } else { d.to_string() };
    TargetLine {
        who,
        visits: of(done.visits, target.visits),
        new_customers: of(done.new_customers, target.new_customers),
        leads_won: of(done.leads_won, target.leads_won),
        amount_won: if target.amount_won_fen > 0 {
            format!("{} / {}", format::money(done.amount_won_fen), format::money(target.amount_won_fen))
        } else {
            format::money(done.amount_won_fen)
        },
    }
}

pub struct DeviceLine {
    pub device: String,
    pub user: String,
    pub last_sync: String,
    pub app_version: String,
    pub refused_last: i64,
    pub refused_total: i64,
    pub revoked: bool,
    pub stale: bool,
}

/// JSON for a `<script type="application/json">` block: nothing in it can end the block.
fn json_block(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "{}".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, WebError> {
    let lang = viewer.lang;
    let t = viewer.t();
    let tz = viewer.tz.clone();
    let now = now_ms();
    let offset_ms = jiff::Timestamp::from_millisecond(now)
        .map(|ts| tz.to_offset(ts).seconds() as i64 * 1000)
        .unwrap_or(8 * 3600 * 1000);
    let today = crate::read_model::days::local_day(now, &tz).0;
    // Weeks start on Monday: day 0 (1970-01-01) was a Thursday.
    let this_monday = today - (today + 3).rem_euclid(7);
    let first_week_day = this_monday - (WEEKS - 1) * 7;
    let first_day = today - (DAYS - 1);
    let day_ms = move |day: i64| day * DAY_MS - offset_ms;
    // The route: the chosen manager's chosen day (by default the first manager, today).
    let route_day = format::day_start(q.date.trim(), &tz).map_or(today, |ms| (ms + offset_ms).div_euclid(DAY_MS));
    let branch = viewer.branch_id.clone();
    let chosen = (!q.manager.is_empty() && q.manager.len() <= 64).then(|| q.manager.clone());
    // Three reads at once, each on its own reader (a dashboard needs no single snapshot).
    let (b1, b2, b3) = (branch.clone(), branch.clone(), branch);
    let visits =
        state.db.read(move |s| Ok::<_, AccountError>(s.visits_per_day(&b1, first_week_day.min(first_day), today)?));
    let figures = state.db.read(move |s| {
        Ok::<_, AccountError>((
            (s.village_coverage(&b2, now - 30 * DAY_MS, now - 90 * DAY_MS)?, s.territories(&b2)?),
            s.lead_funnel(&b2)?,
            s.overdue_per_manager(&b2, now)?,
        ))
    });
    let first_of_month = jiff::Timestamp::from_millisecond(now)
        .map(|t| t.to_zoned(tz.clone()).date().first_of_month())
        .unwrap_or(jiff::civil::date(1970, 1, 1));
    let people = state.db.read(move |s| {
        let month = crate::targets::branch_month(s, &b3, first_of_month)?;
        let managers = s.branch_managers(&b3)?;
        let manager = chosen.or_else(|| managers.first().map(|(id, _)| id.clone())).unwrap_or_default();
        let day = s.manager_day(&b3, &manager, day_ms(route_day), day_ms(route_day + 1))?;
        Ok::<_, AccountError>((day, s.device_status(&b3)?, managers, manager, month))
    });
    let (counts, ((coverage, territories), funnel, overdue), (day, devices, managers, manager, month)) =
        tokio::try_join!(visits, figures, people).map_err(|e| WebError::from_app(lang, e))?;
    let date_of = |day: i64| format::date(day_ms(day) + offset_ms / 2, &tz);
    let daily = per_manager(&counts, first_day, DAYS, 1, |d| date_of(d).get(5..).unwrap_or_default().to_string());
    let weekly =
        per_manager(&counts, first_week_day, WEEKS * 7, 7, |d| date_of(d).get(5..).unwrap_or_default().to_string());
    let daily_total = daily.series.iter().flat_map(|s| &s.values).sum::<f64>() as i64;
    let coverage: Vec<VillageCoverage> = coverage.into_iter().take(VILLAGES).collect();
    let coverage_bars = Bars {
        // Each village with the managers responsible for it (its territory), when it has them.
        categories: coverage
            .iter()
            .map(|c| {
                let names: Vec<&str> = territories
                    .iter()
                    .filter(|t| t.village == c.village)
                    .flat_map(|t| &t.manager_ids)
                    .filter_map(|id| managers.iter().find(|(m, _)| m == id).map(|(_, name)| name.as_str()))
                    .collect();
                if names.is_empty() { c.village.clone() } else { format!("{}（{}）", c.village, names.join("、")) }
            })
            .collect(),
        series: vec![
            Series { name: t.visited_30.into(), values: coverage.iter().map(|c| c.visited_30 as f64).collect() },
            Series {
                name: t.visited_90_only.into(),
                values: coverage.iter().map(|c| (c.visited_90 - c.visited_30) as f64).collect(),
            },
            Series {
                name: t.not_visited.into(),
                values: coverage.iter().map(|c| (c.customers - c.visited_90) as f64).collect(),
            },
        ],
    };
    let stage_label = |s: LeadStage| lang.label(s.code(), Some(s.label_zh()));
    let funnel: Vec<(String, i64, i64)> = LeadStage::ALL
        .iter()
        .map(|&stage| {
            let (n, fen) = funnel.iter().find(|(code, _, _)| code == stage.code()).map_or((0, 0), |(_, n, f)| (*n, *f));
            (stage_label(stage), n, fen)
        })
        .collect();
    let funnel_bars = Bars {
        categories: funnel.iter().map(|(s, _, _)| s.clone()).collect(),
        series: vec![
            Series { name: t.leads_count.into(), values: funnel.iter().map(|(_, n, _)| *n as f64).collect() },
            Series {
                name: t.amount_10k.into(),
                values: funnel.iter().map(|(_, _, fen)| (*fen as f64 / 1_000_000.0).round()).collect(),
            },
        ],
    };
    let overdue_bars = Bars {
        categories: overdue.iter().map(|(m, _)| if m.is_empty() { t.pool.to_string() } else { m.clone() }).collect(),
        series: vec![Series { name: t.overdue.into(), values: overdue.iter().map(|(_, n)| *n as f64).collect() }],
    };
    let route: Vec<Stop> = day
        .iter()
        .filter_map(|v| {
            let (lat, lng) = v.in_lat.zip(v.in_lng)?;
            Some(Stop {
                time: format::time(v.at, &tz),
                customer: v.customer_name.clone(),
                lat,
                lng,
                flagged: v.flags != 0,
                customer_id: v.customer_id.clone(),
                visit_id: v.visit_id.clone(),
            })
        })
        .collect();
    let charts = Charts {
        daily,
        weekly,
        coverage: coverage_bars,
        funnel: funnel_bars,
        overdue: overdue_bars,
        route: route.clone(),
    };
    let html = OverviewPage {
        t,
        lang: lang.html(),
        v: &viewer,
        charts_json: json_block(&charts),
        coverage,
        funnel: funnel.into_iter().map(|(s, n, fen)| (s, n, format::money(fen))).collect(),
        overdue,
        devices: devices.into_iter().map(|d| device_line(d, now, &viewer)).collect(),
        managers: managers
            .into_iter()
            .map(|(id, name)| Choice { selected: id == manager, value: id, label: name })
            .collect(),
        date: date_of(route_day),
        route,
        daily_total: t.total_visits_n(daily_total),
        month: first_of_month.strftime("%Y-%m").to_string(),
        targets: month
            .managers
            .iter()
            .map(|l| target_line(l.name.clone(), &l.target, &l.done))
            .chain(
                month
                    .outlets
                    .iter()
                    .map(|l| target_line(format!("{}（{}）", l.name, t.outlet_total), &l.target, &l.done)),
            )
            .chain(month.branch.iter().map(|l| target_line(t.whole_branch.to_string(), &l.target, &l.done)))
            .collect(),
    }
    .render()
    .map_err(|_| WebError::Internal(lang))?;
    Ok(Html(html).into_response())
}

/// A device that has not synced for this long is shown as behind.
const STALE_MS: i64 = 3 * DAY_MS;

fn device_line(d: DeviceStatus, now: i64, viewer: &Viewer) -> DeviceLine {
    let never = match viewer.lang {
        Lang::Zh => "从未同步",
        Lang::En => "never",
    };
    DeviceLine {
        device: d.device_id,
        user: d.user_name,
        last_sync: d.last_sync_at.map_or_else(|| never.to_string(), |at| format::datetime(at, &viewer.tz)),
        app_version: d.app_version.unwrap_or_default(),
        refused_last: d.refused_last,
        refused_total: d.refused_total,
        revoked: d.revoked,
        stale: d.last_sync_at.is_none_or(|at| now - at > STALE_MS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fall_in_their_day_and_week() {
        let counts = vec![
            ("王".to_string(), 100, 2),
            ("王".to_string(), 106, 1),
            ("李".to_string(), 103, 4),
            ("李".to_string(), 99, 9),
        ];
        let days = per_manager(&counts, 100, 7, 1, |d| d.to_string());
        assert_eq!(days.categories, vec!["100", "101", "102", "103", "104", "105", "106"]);
        assert_eq!(days.series[0], Series { name: "李".into(), values: vec![0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0] });
        assert_eq!(days.series[1].values, vec![2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let weeks = per_manager(&counts, 100, 14, 7, |d| d.to_string());
        assert_eq!(weeks.categories, vec!["100", "107"]);
        assert_eq!(weeks.series[1].values, vec![3.0, 0.0]);
    }

    #[test]
    fn the_json_block_cannot_end_its_script() {
        let block = json_block(&vec!["</script><script>alert(1)</script>", "a & b"]);
        assert!(!block.contains('<') && !block.contains('>') && !block.contains('&'));
        let back: Vec<String> = serde_json::from_str(&block).unwrap();
        assert_eq!(back[0], "</script><script>alert(1)</script>");
    }
}
