//! What one request may cost, and what a document may weigh. Each limit answers with its own
//! code, so a device knows what to split or drop.

/// Items of all kinds (pushed documents, claims, fetches, reconciliation messages) per request.
pub const MAX_ITEMS: usize = 2_000;
/// Pool claims per request: each loads its customer's document under the writer lock, and a
/// manager claims a few customers at a time.
pub const MAX_CLAIMS: usize = 100;
/// Customers one bulk reassignment names (each is a write under the writer lock).
pub const MAX_BULK: usize = 1_000;
/// Changes per request, across documents, counting repeats.
pub const MAX_CHANGES: usize = 5_000;
/// Operations per request, across changes.
pub const MAX_OPS: usize = 200_000;
/// A request body once inflated (a tablet pushes at most 2 MiB of changes per request).
pub const MAX_INFLATED: usize = 8 * 1024 * 1024;
/// A request body as sent.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// A customer document's changes, saved: far above any real customer (a few dozen visits weigh
/// tens of KB), low enough that one customer cannot make every load of it slow.
pub const MAX_DOCUMENT: usize = 4 * 1024 * 1024;
/// Time to send the request headers; a connection that is slower is dropped.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Time for a whole request, body included, and its answer.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Items,
    Changes,
    Operations,
    Inflated,
    Document,
}

impl Limit {
    pub fn code(self) -> &'static str {
        match self {
            Limit::Items => "too_many_items",
            Limit::Changes => "too_many_changes",
            Limit::Operations => "too_many_operations",
            Limit::Inflated => "too_large",
            Limit::Document => "document_too_large",
        }
    }

    pub fn message_zh(self) -> &'static str {
        match self {
            Limit::Items => "一次同步的条目过多，请分批同步",
            Limit::Changes => "一次同步的变更过多，请分批同步",
            Limit::Operations => "一次同步的操作过多，请分批同步",
            Limit::Inflated => "同步数据过大，请分批同步",
            Limit::Document => "该客户档案已超过大小上限",
        }
    }

    pub fn message_en(self) -> &'static str {
        match self {
            Limit::Items => "too many items in one sync request; send them in several",
            Limit::Changes => "too many changes in one sync request; send them in several",
            Limit::Operations => "too many operations in one sync request; send them in several",
            Limit::Inflated => "the sync request is too large; send it in several",
            Limit::Document => "this customer's document is over the size limit",
        }
    }
}
