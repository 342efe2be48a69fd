//! Who sees what: a customer document's scope and the one visibility rule that the document
//! view, the listing, the pull and photo access all use. Its SQL twin, for queries that filter
//! by it, is the store's (`store::sqlite::visibility`), tested there to agree with this one.

use std::fmt;

use crate::accounts::{Role, User};

/// Where a customer document lives within its branch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Served by one manager (the user ID).
    Owned(String),
    /// The branch's public pool (公海池): managers see a masked entry.
    Pool,
    /// The relationship ended: supervisors keep it, managers lose it.
    Closed,
    /// Deleted by an administrator: nobody sees it; the log keeps its history.
    Deleted,
}

/// How much of a document a user may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum View {
    None,
    /// A pool customer, as a manager sees it: a masked entry.
    Masked,
    Full,
}

impl Scope {
    /// The stored form: `m:<manager>`, `pool`, `closed` or `deleted`. Anything else is `None`
    /// (and is treated as deleted by the callers: visible to nobody).
    pub fn parse(stored: &str) -> Option<Scope> {
        match stored {
            "pool" => Some(Scope::Pool),
            "closed" => Some(Scope::Closed),
            "deleted" => Some(Scope::Deleted),
            other => other.strip_prefix("m:").filter(|m| !m.is_empty()).map(|m| Scope::Owned(m.to_string())),
        }
    }

    /// Parses a stored scope; an unreadable one is visible to nobody.
    pub fn from_stored(stored: &str) -> Scope {
        Scope::parse(stored).unwrap_or(Scope::Deleted)
    }

    /// What `user` sees of a document of `branch_id` in this scope: the one visibility rule.
    pub fn view(&self, user: &User, branch_id: &str) -> View {
        if user.branch_id != branch_id {
            return View::None;
        }
        match (user.role, self) {
            (_, Scope::Deleted) => View::None,
            (Role::Supervisor | Role::Admin, _) => View::Full,
            (Role::Manager, Scope::Owned(m)) if *m == user.id => View::Full,
            (Role::Manager, Scope::Pool) => View::Masked,
            (Role::Manager, _) => View::None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Owned(m) => write!(f, "m:{m}"),
            Scope::Pool => f.write_str("pool"),
            Scope::Closed => f.write_str("closed"),
            Scope::Deleted => f.write_str("deleted"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A user for the visibility tests (here and beside the SQL twin).
    pub(crate) fn user(id: &str, branch: &str, role: Role) -> User {
        User {
            id: id.into(),
            branch_id: branch.into(),
            outlet_id: None,
            username: id.into(),
            display_name: id.into(),
            role,
        }
    }

    #[test]
    fn stored_scopes_round_trip_and_junk_is_seen_by_nobody() {
        for s in [Scope::Owned("u1".into()), Scope::Pool, Scope::Closed, Scope::Deleted] {
            assert_eq!(Scope::parse(&s.to_string()), Some(s));
        }
        for junk in ["", "m:", "M:u1", "owner", "pool "] {
            assert_eq!(Scope::parse(junk), None);
            let sup = user("s", "b1", Role::Supervisor);
            assert_eq!(Scope::from_stored(junk).view(&sup, "b1"), View::None);
        }
    }
}
