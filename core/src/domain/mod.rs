//! The domain: typed customer files, their validation and the actions that change them.
//! Nothing here touches storage; the same rules run on tablets and on the server.

mod codes;

pub mod action;
pub mod activity;
pub mod birthday;
pub mod catalog;
pub mod contact;
pub mod customer;
pub mod error;
pub mod file;
pub mod idcard;
pub mod lead;
pub mod packed;
pub mod phone;
pub mod pool;
pub mod server;
pub mod stage;
pub mod targets;
pub mod territory;
pub mod text;
pub mod visit;

pub use action::{Action, Ctx, NewLead, Role, Touched};
pub use activity::{DEFAULT_COMPLAINT_DAYS, Interaction, InteractionKind, Reminder, ReminderKind};
pub use catalog::CatalogProduct;
pub use contact::{Contact, Relation};
pub use customer::{Birthday, CustomerKind, CustomerSource, Gender, GeoPoint, Profile, Tags, china_today};
pub use error::{Problem, ValidationError, record_kind_zh};
pub use file::{CustomerFile, SCHEMA_VERSION};
pub use lead::{Lead, LeadSource, LeadStage, Product, StageChange};
pub use pool::{PoolRules, RecycleBasis, RecycleCause, RecycleDue, recycle_due};
pub use server::{
    Intent, IntentKind, IntentOutcome, Lifecycle, Owner, OwnerChange, OwnerChangeReason, Review, ReviewDecision,
    ServerFields, ValueTier,
};
pub use stage::{CustomerRules, dormant_at, lifecycle_of};
pub use targets::{Measures, MonthProgress};
pub use territory::Territory;
pub use visit::{Channel, CheckPoint, Costs, LocationProvider, Visit, VisitDetails, VisitPurpose, VisitStatus};
