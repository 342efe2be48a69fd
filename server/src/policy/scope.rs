//! Who sees what: a customer document's scope and the one visibility rule that the document
//! view, the listing, the pull and photo access all use, in Rust and in its SQL twin (tested to
//! agree below).

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

/// The SQL twin of [`Scope::view`]: a condition true for rows of `alias` (a table with `branch_id`
/// and `scope` columns) that `role` sees at least at `at_least`. `user` and `branch` are the SQL
/// parameters holding the user's ID and branch (e.g. `?3`).
pub fn sql_visible(role: Role, at_least: View, alias: &str, user: &str, branch: &str) -> String {
    let scope = format!("{alias}.scope");
    let rule = match (role, at_least) {
        (_, View::None) => "1".to_string(),
        (Role::Supervisor | Role::Admin, _) => format!(
            "({user} IS NOT NULL AND ({scope} IN ('pool', 'closed') OR (substr({scope}, 1, 2) = 'm:' AND length({scope}) > 2)))"
        ),
        (Role::Manager, View::Full) => format!("{scope} = 'm:' || {user}"),
        (Role::Manager, View::Masked) => format!("({scope} = 'm:' || {user} OR {scope} = 'pool')"),
    };
    format!("({alias}.branch_id = {branch} AND {rule})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, branch: &str, role: Role) -> User {
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

    /// The SQL twin gives the same answer as the Rust rule for every kind of user, scope and
    /// branch, including stored scopes that do not parse.
    #[test]
    fn the_sql_twin_agrees_with_the_rust_rule() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE d (id INTEGER PRIMARY KEY, branch_id TEXT, scope TEXT)").unwrap();
        let scopes = ["m:u1", "m:u2", "m:a1", "pool", "closed", "deleted", "m:", "junk"];
        let branches = ["b1", "b2"];
        let mut rows = Vec::new();
        for b in branches {
            for s in scopes {
                conn.execute("INSERT INTO d (branch_id, scope) VALUES (?1, ?2)", [b, s]).unwrap();
                rows.push((conn.last_insert_rowid(), b, s));
            }
        }
        let users = [
            user("u1", "b1", Role::Manager),
            user("u2", "b1", Role::Manager),
            user("u3", "b2", Role::Manager),
            user("s1", "b1", Role::Supervisor),
            user("a1", "b2", Role::Admin),
        ];
        for u in &users {
            for level in [View::Masked, View::Full] {
                let sql = format!("SELECT id FROM d WHERE {} ORDER BY id", sql_visible(u.role, level, "d", "?1", "?2"));
                let got: Vec<i64> = conn
                    .prepare(&sql)
                    .unwrap()
                    .query_map([&u.id, &u.branch_id], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let want: Vec<i64> = rows
                    .iter()
                    .filter(|(_, b, s)| {
                        let v = Scope::from_stored(s).view(u, b);
                        v >= level
                    })
                    .map(|(id, _, _)| *id)
                    .collect();
                assert_eq!(got, want, "user {} at {level:?}", u.id);
            }
        }
    }
}
