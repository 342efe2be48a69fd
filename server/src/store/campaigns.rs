//! Campaigns' part of the store's interface: each campaign, its members, the branch's customers a
//! campaign's filters choose, and how far each campaign got. Written through [`crate::campaigns`].

use super::StoreResult;

/// A campaign as kept.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRow {
    pub campaign_id: String,
    pub branch_id: String,
    pub name: String,
    pub product: String,
    pub starts_at: i64,
    pub ends_at: i64,
    /// The filters that chose the members, as the form had them (for the page).
    pub filters: String,
    pub created_by: String,
    pub created_at: i64,
}

/// What a campaign's filters are: any left `None` matches every customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberFilter {
    pub village: Option<String>,
    pub tier: Option<String>,
    pub lifecycle: Option<String>,
    /// A tag, by hand or by the server's rules.
    pub tag: Option<String>,
}

/// How far a campaign got: members; contacted (a completed visit in the period); responded (a
/// lead for its product opened in the period); converted (such a lead won in the period).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignCounts {
    pub members: i64,
    pub contacted: i64,
    pub responded: i64,
    pub converted: i64,
}

pub trait CampaignStore {
    fn save_campaign(&self, campaign: &CampaignRow, members: &[String]) -> StoreResult<()>;

    /// A branch's campaigns, latest first.
    fn campaigns(&self, branch_id: &str) -> StoreResult<Vec<CampaignRow>>;

    fn campaign(&self, campaign_id: &str) -> StoreResult<Option<CampaignRow>>;

    /// The branch's customers served by a manager that `filter` chooses, up to `limit`.
    fn choose_members(&self, branch_id: &str, filter: &MemberFilter, limit: u32) -> StoreResult<Vec<String>>;

    fn campaign_counts(&self, campaign: &CampaignRow) -> StoreResult<CampaignCounts>;
}
