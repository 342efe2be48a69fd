//! Marketing campaigns (营销活动): a supervisor picks a product, a period and the customers by
//! filters (village, tier, lifecycle stage); each member gets a task (a reminder of the campaign)
//! on their manager's tablet, offline from the next sync; the campaign's page counts who was
//! contacted, who responded (a lead for the product) and who converted (that lead won).

use fieldsync_core::domain::{Action, Product, Reminder, ReminderKind};

use crate::accounts::{Role, User};
use crate::customers::{self, PushError};
use crate::policy::{Refusal, Scope};
use crate::store::Store;
use crate::store::campaigns::{CampaignRow, MemberFilter};

/// The most members one campaign takes (each gets a task written into their document).
pub const MAX_MEMBERS: u32 = 2_000;

/// What a supervisor asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCampaign {
    pub name: String,
    pub product: Product,
    pub starts_at: i64,
    pub ends_at: i64,
    pub filter: MemberFilter,
}

/// Creates a campaign in `by`'s branch and gives each member customer its task, in the caller's
/// transaction. Returns the campaign's ID and how many members it has.
pub fn create(store: &dyn Store, by: &User, new: &NewCampaign, now: i64) -> Result<(String, usize), PushError> {
    if by.role == Role::Manager {
        return Err(PushError::Refused(Refusal::NotAllowed {
            entity: crate::policy::write::Entity::Reminder,
            op: crate::policy::write::Op::Add,
        }));
    }
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 40 || name.chars().any(char::is_control) {
        return Err(PushError::Refused(Refusal::Invalid("campaign.name".into())));
    }
    if new.ends_at <= new.starts_at || new.ends_at - new.starts_at > 366 * 86_400_000 {
        return Err(PushError::Refused(Refusal::Invalid("campaign.period".into())));
    }
    let members = store.choose_members(&by.branch_id, &new.filter, MAX_MEMBERS + 1)?;
    if members.len() > MAX_MEMBERS as usize {
        return Err(PushError::TooLarge(crate::limits::Limit::Items));
    }
    let campaign_id = fieldsync_core::ids::new_id();
    let filters = serde_json::json!({
        "village": new.filter.village, "tier": new.filter.tier, "lifecycle": new.filter.lifecycle,
        "tag": new.filter.tag,
    })
    .to_string();
    store.save_campaign(
        &CampaignRow {
            campaign_id: campaign_id.clone(),
            branch_id: by.branch_id.clone(),
            name: name.to_string(),
            product: new.product.code().to_string(),
            starts_at: new.starts_at,
            ends_at: new.ends_at,
            filters,
            created_by: by.id.clone(),
            created_at: now,
        },
        &members,
    )?;
    let actor = store.server_actor()?;
    let note = format!("营销活动：{name}（{}）/ campaign", new.product.label_zh());
    for customer_id in &members {
        let Some(meta) = store.document(customer_id)?.filter(|m| matches!(m.scope, Scope::Owned(_))) else { continue };
        let Some(mut doc) = customers::load(store, customer_id, &actor)? else { continue };
        let reminder = Reminder {
            id: format!("campaign-{campaign_id}"),
            kind: ReminderKind::Campaign,
            due_at: new.starts_at,
            note: note.clone(),
            done_at: None,
        };
        let changes = customers::server_change(&mut doc, &Action::AddReminder { reminder }, &by.id, now)?;
        customers::commit_server_changes(store, &by.branch_id, &doc, &meta.scope, &changes)?;
    }
    crate::accounts::audit(store, now, &by.id, "campaign.create", &campaign_id)?;
    Ok((campaign_id, members.len()))
}
