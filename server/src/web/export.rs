//! The visit log's export: the list's filters as CSV that Excel opens with its Chinese intact
//! (UTF-8 with a byte-order mark), streamed in batches as the store reads them, so 100,000 rows
//! cost a batch of memory and leave the readers to other requests between batches.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use fieldsync_core::domain::{VisitPurpose, VisitStatus};

use super::error::WebError;
use super::format;
use super::i18n::Lang;
use super::session::Viewer;
use super::visits::{ListQuery, flag_label, review_label};
use crate::accounts::AccountError;
use crate::read_model::evidence::Flag;
use crate::routes::AppState;
use crate::store::pages::VisitListRow;

/// Rows read per batch (one read transaction each).
const BATCH: usize = 2_000;

/// What Excel would run as a formula is written as text.
pub(super) fn cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    }
}

fn header(lang: Lang) -> Vec<&'static str> {
    match lang {
        Lang::Zh => vec![
            "走访编号",
            "时间",
            "客户",
            "村/网格",
            "客户经理",
            "目的",
            "状态",
            "时长（分钟）",
            "签到距离（米）",
            "费用（元）",
            "照片",
            "疑点",
            "审核",
            "审核意见",
            "走访记录",
        ],
        Lang::En => vec![
            "visit",
            "when",
            "customer",
            "village",
            "manager",
            "purpose",
            "status",
            "duration (min)",
            "check-in distance (m)",
            "costs (CNY)",
            "photos",
            "flags",
            "review",
            "review comment",
            "notes",
        ],
    }
}

fn record(r: &VisitListRow, viewer: &Viewer) -> Vec<String> {
    let lang = viewer.lang;
    let flags: Vec<&str> = Flag::in_bits(r.flags).map(|f| flag_label(f, lang)).collect();
    let review = review_label(&r.review, lang);
    vec![
        r.visit_id.clone(),
        format::datetime(r.at, &viewer.tz),
        cell(&r.customer_name),
        cell(&r.village),
        cell(&r.manager_name),
        lang.label(&r.purpose, VisitPurpose::from_code(&r.purpose).map(|p| p.label_zh())),
        lang.label(&r.status, VisitStatus::from_code(&r.status).map(|s| s.label_zh())),
        r.duration_s.map(|s| (s / 60).to_string()).unwrap_or_default(),
        r.distance_m.map(|m| format!("{m:.0}")).unwrap_or_default(),
        format::money(r.cost_fen).replace(',', ""),
        r.photos.to_string(),
        flags.join(" "),
        review,
        cell(r.review_comment.as_deref().unwrap_or_default()),
        cell(&r.notes),
    ]
}

fn csv_bytes(rows: &[Vec<String>]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    for row in rows {
        // Writing into memory fails only on a bug; such a row is left out rather than the export.
        let _ = writer.write_record(row);
    }
    writer.into_inner().unwrap_or_default()
}

pub async fn visits_csv(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let q = ListQuery::parse(raw.as_deref());
    let filter = q.filter(&viewer);
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let mut first = vec![0xEF, 0xBB, 0xBF];
    first.extend(csv_bytes(&[header(viewer.lang).into_iter().map(String::from).collect()]));
    let lang = viewer.lang;
    tokio::spawn(async move {
        if tx.send(first).await.is_err() {
            return;
        }
        let mut after: Option<crate::store::pages::VisitAfter> = None;
        loop {
            let (f, a) = (filter.clone(), after.clone());
            let batch = state.db.read(move |s| Ok::<_, AccountError>(s.visits_after(&f, a.as_ref(), BATCH)?)).await;
            let Ok(batch) = batch else {
                // The download ends short; the browser shows it failed (no trailing success).
                tracing::error!("a visit export failed while reading");
                return;
            };
            let Some(last) = batch.last() else { return };
            after = Some((last.at, last.customer_id.clone(), last.visit_id.clone()));
            let rows: Vec<Vec<String>> = batch.iter().map(|r| record(r, &viewer)).collect();
            if tx.send(csv_bytes(&rows)).await.is_err() {
                return; // the browser went away
            }
            if batch.len() < BATCH {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    let name = match lang {
        Lang::Zh => "attachment; filename=\"visits.csv\"; filename*=UTF-8''%E8%B5%B0%E8%AE%BF%E8%AE%B0%E5%BD%95.csv",
        Lang::En => "attachment; filename=\"visits.csv\"",
    };
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, name)],
        Body::from_stream(stream),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_excel_would_run_is_text() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+86 138"), "'+86 138");
        assert_eq!(cell("张三"), "张三");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn fields_with_commas_quotes_and_lines_stay_one_cell() {
        let bytes = csv_bytes(&[vec!["a,b".into(), "say \"hi\"".into(), "two\nlines".into()]]);
        assert_eq!(String::from_utf8(bytes).unwrap(), "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n");
    }
}
