//! Why a write was refused: a stable code and a reason in Simplified Chinese and English, for the
//! device's quarantine list and the JSON endpoints. Never a value from the document.

use super::write::{Entity, Op};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The customer is served by another manager (or sits in the pool, where only claims go).
    NotYourCustomer,
    /// The customer is closed: read-only but for a supervisor's decisions.
    Closed,
    /// A field only the branch server decides.
    ServerDecided(&'static str),
    /// Another person's visit.
    OthersVisit,
    /// A visit a supervisor approved.
    ApprovedVisit,
    /// A record whose author or signature is not the writer.
    ForgedAuthor,
    /// An owner that is not an active manager of the branch.
    UnknownOwner,
    /// Changes made under an automerge actor that is not the pushing device's.
    ForeignActor,
    /// A tablet offered back, after the store was restored from a backup, history made elsewhere
    /// (the server or another tablet) that the store lost: only its author can give it back.
    LostHistory,
    /// Anything else the table does not allow this writer.
    NotAllowed { entity: Entity, op: Op },
    /// A value that fails validation (the field, never the value).
    Invalid(String),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotYourCustomer => "not_your_customer",
            Refusal::Closed => "customer_closed",
            Refusal::ServerDecided(_) => "server_decided",
            Refusal::OthersVisit => "others_visit",
            Refusal::ApprovedVisit => "approved_visit",
            Refusal::ForgedAuthor => "forged_author",
            Refusal::UnknownOwner => "unknown_owner",
            Refusal::ForeignActor => "foreign_actor",
            Refusal::LostHistory => "lost_history",
            Refusal::NotAllowed { .. } => "not_allowed",
            Refusal::Invalid(_) => "invalid",
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            Refusal::NotYourCustomer => "该客户不属于您，无法修改".into(),
            Refusal::Closed => "该客户已关闭，不能修改".into(),
            Refusal::ServerDecided(field) => format!("{field} 只能由网点服务器决定"),
            Refusal::OthersVisit => "不能修改他人的走访记录".into(),
            Refusal::ApprovedVisit => "已审核通过的走访记录不能修改".into(),
            Refusal::ForgedAuthor => "记录的创建人或签名与登录用户不符".into(),
            Refusal::UnknownOwner => "负责人必须是本支行在职的客户经理".into(),
            Refusal::ForeignActor => "变更不是由本设备产生的".into(),
            Refusal::LostHistory => "服务器从备份恢复后缺少该客户在别处产生的记录，本机的相关修改已另存".into(),
            Refusal::NotAllowed { entity, op } => format!("您无权{}{}", op.zh(), entity.zh()),
            Refusal::Invalid(field) => format!("{field} 不符合要求"),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            Refusal::NotYourCustomer => "this customer is not yours to change".into(),
            Refusal::Closed => "this customer is closed and cannot be changed".into(),
            Refusal::ServerDecided(field) => format!("{field} is decided by the branch server"),
            Refusal::OthersVisit => "another person's visit cannot be changed".into(),
            Refusal::ApprovedVisit => "an approved visit cannot be changed".into(),
            Refusal::ForgedAuthor => "the record's author or signature is not the signed-in user".into(),
            Refusal::UnknownOwner => "the owner must be an active manager of this branch".into(),
            Refusal::ForeignActor => "the changes were not made on this device".into(),
            Refusal::LostHistory => {
                "the server, restored from a backup, lacks this customer's history made elsewhere; this tablet's changes that depend on it were set aside".into()
            }
            Refusal::NotAllowed { entity, op } => format!("you may not {} {}", op.en(), entity.en()),
            Refusal::Invalid(field) => format!("{field} is invalid"),
        }
    }
}
