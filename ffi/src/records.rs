//! Records the apps see that are not the core's own: pages of a list (uniffi has no generics),
//! the 360 view in lists, filters with the pool told apart from "anyone", and what a sync returns.
//! The domain's records and enums (profile, visit, lead, …) are the core's, exported from there.

use fieldsync_core::domain::{
    Contact, Interaction, Lead, Lifecycle, OwnerChange, RecycleDue, Reminder, Review, Role, ValueTier, Visit,
};
use fieldsync_core::domain::{CustomerKind, Profile};
use fieldsync_core::store::{CustomerFilter, CustomerSummary, DuplicateMatch, LeadSummary, Page, ReminderSummary};

/// Who is signed in on this tablet.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SignedIn {
    pub user_id: String,
    pub display_name: String,
    pub role: Role,
    pub server: String,
}

/// Whose customers a list shows.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum OwnerFilter {
    /// Every customer on the tablet.
    Anyone,
    /// The branch's public pool (公海池): customers without a manager.
    Pool,
    /// One manager's customers.
    Manager { manager_id: String },
}

/// Which customers to list; every filter is optional and they combine.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CustomerQuery {
    #[uniffi(default = None)]
    pub village: Option<String>,
    /// Any of these villages (e.g. the manager's own, `my_villages()`); empty: any.
    #[uniffi(default = [])]
    pub villages: Vec<String>,
    /// A tag, given by hand or by the server's rules (`60后`, `持有贷款`, `高净值`).
    #[uniffi(default = None)]
    pub tag: Option<String>,
    #[uniffi(default = None)]
    pub tier: Option<ValueTier>,
    #[uniffi(default = None)]
    pub lifecycle: Option<Lifecycle>,
    pub owner: OwnerFilter,
    /// What a manager types: part of the name, its pinyin (full `zouyunlan`, initials `zyl`, mixed
    /// `邹y`) or digits anywhere in the phone number; the best matches come first.
    #[uniffi(default = None)]
    pub search: Option<String>,
}

impl From<CustomerQuery> for CustomerFilter {
    fn from(q: CustomerQuery) -> Self {
        CustomerFilter {
            village: q.village,
            villages: q.villages,
            tag: q.tag,
            tier: q.tier,
            lifecycle: q.lifecycle,
            owner: match q.owner {
                OwnerFilter::Anyone => None,
                OwnerFilter::Pool => Some(None),
                OwnerFilter::Manager { manager_id } => Some(Some(manager_id)),
            },
            search: q.search,
        }
    }
}

/// A record for one page of a list (uniffi has no generic records) and its conversion from the
/// core's `Page`.
macro_rules! page_record {
    ($(#[$meta:meta])* $name:ident of $item:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, uniffi::Record)]
        pub struct $name {
            pub items: Vec<$item>,
            /// The cursor of the next page; `None` on the last.
            pub next: Option<String>,
        }

        impl From<Page<$item>> for $name {
            fn from(p: Page<$item>) -> Self {
                $name { items: p.items, next: p.next }
            }
        }
    };
}

page_record!(
    /// A page of customers (masked).
    CustomerPage of CustomerSummary
);
page_record!(
    /// A page of open leads.
    LeadPage of LeadSummary
);
page_record!(
    /// A page of reminders.
    ReminderPage of ReminderSummary
);

/// A supervisor's decision on one of the customer's visits.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VisitReview {
    pub visit_id: String,
    pub review: Review,
}

/// Everything about one customer, unmasked: opening it is a deliberate act.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Customer360 {
    pub customer_id: String,
    pub kind: CustomerKind,
    pub profile: Profile,
    pub created_by: String,
    pub created_at: i64,
    /// The responsible manager; `None` while the customer sits in the public pool.
    pub owner_id: Option<String>,
    pub owner_name: Option<String>,
    pub tier: Option<ValueTier>,
    /// The date of the asset snapshot the tier comes from.
    pub tier_as_of: Option<i64>,
    pub lifecycle: Option<Lifecycle>,
    /// When the server last computed the stage.
    pub lifecycle_as_of: Option<i64>,
    pub contacts: Vec<Contact>,
    /// Newest first.
    pub visits: Vec<Visit>,
    pub leads: Vec<Lead>,
    /// Open ones first, by due date.
    pub reminders: Vec<Reminder>,
    /// Newest first.
    pub interactions: Vec<Interaction>,
    /// Newest visit first.
    pub reviews: Vec<VisitReview>,
    /// Changes of owner (from, to, why, by whom, when), newest first.
    pub owner_history: Vec<OwnerChange>,
    /// Kept with its manager whatever the pool's recycle rules say.
    pub locked: bool,
    /// Tags the server's rules give (tier, stage, age band, products held), beside the profile's.
    pub auto_tags: Vec<String>,
    /// When the customer returns to the public pool if nothing happens first (`None`: no rule
    /// returns it, or the rules have not arrived yet).
    pub recycle: Option<RecycleDue>,
    /// Other customers on this tablet with the same ID number or phone (查重).
    pub duplicates: Vec<DuplicateMatch>,
}

impl From<fieldsync_core::store::Customer360> for Customer360 {
    fn from(v: fieldsync_core::store::Customer360) -> Self {
        let file = v.file;
        Customer360 {
            customer_id: file.id,
            kind: file.profile.kind,
            profile: file.profile,
            created_by: file.created_by,
            created_at: file.created_at,
            owner_id: file.server.owner.manager_id,
            owner_name: file.server.owner.manager_name,
            tier: file.server.value_tier,
            tier_as_of: file.server.tier_as_of,
            lifecycle: file.server.lifecycle,
            lifecycle_as_of: file.server.lifecycle_as_of,
            contacts: v.contacts,
            visits: v.visits,
            leads: v.leads,
            reminders: v.reminders,
            interactions: v.interactions,
            reviews: v.reviews.into_iter().map(|(visit_id, review)| VisitReview { visit_id, review }).collect(),
            owner_history: v.owner_history,
            locked: file.server.locked,
            auto_tags: file.server.auto_tags.0.iter().cloned().collect(),
            recycle: v.recycle,
            duplicates: v.duplicates,
        }
    }
}

/// A change the server refused, kept on the tablet with the reason (Chinese first).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RefusedChange {
    pub customer_id: String,
    pub at: i64,
    pub code: String,
    pub message_zh: String,
    pub message_en: String,
}

impl From<fieldsync_core::store::QuarantinedChange> for RefusedChange {
    fn from(q: fieldsync_core::store::QuarantinedChange) -> Self {
        RefusedChange {
            customer_id: q.customer_id,
            at: q.at,
            code: q.code,
            message_zh: q.message_zh,
            message_en: q.message_en,
        }
    }
}

/// How a sync runs.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncSettings {
    /// The tablet's local day `[start, end)` in UTC ms: a first sync brings today's planned
    /// customers first.
    #[uniffi(default = None)]
    pub today_start_ms: Option<i64>,
    #[uniffi(default = None)]
    pub today_end_ms: Option<i64>,
}
