//! [`CampaignStore`] on SQLite: `campaigns`, `campaign_members` (schema v10), counted against the
//! read models.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::StoreResult;
use crate::store::campaigns::{CampaignCounts, CampaignRow, CampaignStore, MemberFilter};

const COLUMNS: &str = "campaign_id, branch_id, name, product, starts_at, ends_at, filters, created_by, created_at";

fn row(r: &Row) -> rusqlite::Result<CampaignRow> {
    Ok(CampaignRow {
        campaign_id: r.get(0)?,
        branch_id: r.get(1)?,
        name: r.get(2)?,
        product: r.get(3)?,
        starts_at: r.get(4)?,
        ends_at: r.get(5)?,
        filters: r.get(6)?,
        created_by: r.get(7)?,
        created_at: r.get(8)?,
    })
}

impl CampaignStore for Connection {
    fn save_campaign(&self, c: &CampaignRow, members: &[String]) -> StoreResult<()> {
        self.prepare_cached(&format!("INSERT INTO campaigns ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"))?
            .execute(params![
                c.campaign_id,
                c.branch_id,
                c.name,
                c.product,
                c.starts_at,
                c.ends_at,
                c.filters,
                c.created_by,
                c.created_at
            ])?;
        let mut insert =
            self.prepare_cached("INSERT OR IGNORE INTO campaign_members (campaign_id, customer_id) VALUES (?1, ?2)")?;
        for m in members {
            insert.execute(params![c.campaign_id, m])?;
        }
        Ok(())
    }

    fn campaigns(&self, branch_id: &str) -> StoreResult<Vec<CampaignRow>> {
        let mut stmt = self.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM campaigns WHERE branch_id = ?1 ORDER BY starts_at DESC, campaign_id"
        ))?;
        let rows = stmt.query_map([branch_id], row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn campaign(&self, campaign_id: &str) -> StoreResult<Option<CampaignRow>> {
        Ok(self
            .prepare_cached(&format!("SELECT {COLUMNS} FROM campaigns WHERE campaign_id = ?1"))?
            .query_row([campaign_id], row)
            .optional()?)
    }

    fn choose_members(&self, branch_id: &str, f: &MemberFilter, limit: u32) -> StoreResult<Vec<String>> {
        let mut stmt = self.prepare_cached(
            "SELECT customer_id FROM rm_customers
             WHERE branch_id = ?1 AND scope LIKE 'm:%'
               AND (?2 IS NULL OR village = ?2) AND (?3 IS NULL OR tier = ?3) AND (?4 IS NULL OR lifecycle = ?4)
               AND (?6 IS NULL OR EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?6))
             ORDER BY customer_id LIMIT ?5",
        )?;
        let ids = stmt
            .query_map(params![branch_id, f.village, f.tier, f.lifecycle, limit, f.tag], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn campaign_counts(&self, c: &CampaignRow) -> StoreResult<CampaignCounts> {
        Ok(self
            .prepare_cached(
                "SELECT count(*),
                    total(EXISTS (SELECT 1 FROM rm_visits v WHERE v.customer_id = m.customer_id
                                  AND v.status = 'completed' AND v.at >= ?2 AND v.at < ?3)),
                    total(EXISTS (SELECT 1 FROM rm_leads l WHERE l.customer_id = m.customer_id
                                  AND l.product = ?4 AND l.created_at >= ?2 AND l.created_at < ?3)),
                    total(EXISTS (SELECT 1 FROM rm_leads l WHERE l.customer_id = m.customer_id
                                  AND l.product = ?4 AND l.won_at >= ?2 AND l.won_at < ?3))
                 FROM campaign_members m WHERE m.campaign_id = ?1",
            )?
            .query_row(params![c.campaign_id, c.starts_at, c.ends_at, c.product], |r| {
                Ok(CampaignCounts {
                    members: r.get(0)?,
                    contacted: r.get::<_, f64>(1)? as i64,
                    responded: r.get::<_, f64>(2)? as i64,
                    converted: r.get::<_, f64>(3)? as i64,
                })
            })?)
    }
}
