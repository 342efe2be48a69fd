//! [`CampaignStore`] on PostgreSQL, the twin of `store::sqlite::campaigns`: `campaigns`,
//! `campaign_members`, counted against the read models.

use tokio_postgres::Row;

use super::PgStore;
use crate::store::StoreResult;
use crate::store::campaigns::{CampaignCounts, CampaignRow, CampaignStore, MemberFilter};

/// A campaign's columns, in [`row`]'s order (a macro, so statements stay `&'static str`).
macro_rules! columns {
    () => {
        "campaign_id, branch_id, name, product, starts_at, ends_at, filters, created_by, created_at"
    };
}

fn row(r: &Row) -> StoreResult<CampaignRow> {
    Ok(CampaignRow {
        campaign_id: r.try_get(0)?,
        branch_id: r.try_get(1)?,
        name: r.try_get(2)?,
        product: r.try_get(3)?,
        starts_at: r.try_get(4)?,
        ends_at: r.try_get(5)?,
        filters: r.try_get(6)?,
        created_by: r.try_get(7)?,
        created_at: r.try_get(8)?,
    })
}

impl CampaignStore for PgStore<'_> {
    fn save_campaign(&self, c: &CampaignRow, members: &[String]) -> StoreResult<()> {
        self.execute(
            concat!("INSERT INTO campaigns (", columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            &[
                &c.campaign_id,
                &c.branch_id,
                &c.name,
                &c.product,
                &c.starts_at,
                &c.ends_at,
                &c.filters,
                &c.created_by,
                &c.created_at,
            ],
        )?;
        for m in members {
            self.execute(
                "INSERT INTO campaign_members (campaign_id, customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&c.campaign_id, m],
            )?;
        }
        Ok(())
    }

    fn campaigns(&self, branch_id: &str) -> StoreResult<Vec<CampaignRow>> {
        let rows = self.query(
            concat!("SELECT ", columns!(), " FROM campaigns WHERE branch_id = $1 ORDER BY starts_at DESC, campaign_id"),
            &[&branch_id],
        )?;
        rows.iter().map(row).collect()
    }

    fn campaign(&self, campaign_id: &str) -> StoreResult<Option<CampaignRow>> {
        let r =
            self.query_opt(concat!("SELECT ", columns!(), " FROM campaigns WHERE campaign_id = $1"), &[&campaign_id])?;
        r.as_ref().map(row).transpose()
    }

    fn choose_members(&self, branch_id: &str, f: &MemberFilter, limit: u32) -> StoreResult<Vec<String>> {
        // SQLite's LIKE ignores ASCII case: ILIKE. Its `json_each(tags)` over the JSON list of
        // tags: containment of the tag as a JSON string (only a string element equals a text).
        let rows = self.query(
            "SELECT customer_id FROM rm_customers
             WHERE branch_id = $1 AND scope ILIKE 'm:%'
               AND ($2::text IS NULL OR village = $2) AND ($3::text IS NULL OR tier = $3)
               AND ($4::text IS NULL OR lifecycle = $4)
               AND ($6::text IS NULL OR tags::jsonb @> jsonb_build_array($6::text))
             ORDER BY customer_id LIMIT $5",
            &[&branch_id, &f.village, &f.tier, &f.lifecycle, &i64::from(limit), &f.tag],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn campaign_counts(&self, c: &CampaignRow) -> StoreResult<CampaignCounts> {
        let r = self.query_one(
            "SELECT count(*),
                count(*) FILTER (WHERE EXISTS (SELECT 1 FROM rm_visits v WHERE v.customer_id = m.customer_id
                                 AND v.status = 'completed' AND v.at >= $2 AND v.at < $3)),
                count(*) FILTER (WHERE EXISTS (SELECT 1 FROM rm_leads l WHERE l.customer_id = m.customer_id
                                 AND l.product = $4 AND l.created_at >= $2 AND l.created_at < $3)),
                count(*) FILTER (WHERE EXISTS (SELECT 1 FROM rm_leads l WHERE l.customer_id = m.customer_id
                                 AND l.product = $4 AND l.won_at >= $2 AND l.won_at < $3))
             FROM campaign_members m WHERE m.campaign_id = $1",
            &[&c.campaign_id, &c.starts_at, &c.ends_at, &c.product],
        )?;
        Ok(CampaignCounts {
            members: r.try_get(0)?,
            contacted: r.try_get(1)?,
            responded: r.try_get(2)?,
            converted: r.try_get(3)?,
        })
    }
}
