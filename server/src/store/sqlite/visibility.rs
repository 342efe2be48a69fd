//! The SQL twin of the one visibility rule ([`Scope::view`]), for queries that filter by it;
//! tested below to agree with the Rust rule for every kind of user, scope and branch.
//!
//! [`Scope::view`]: crate::policy::Scope::view

use crate::accounts::Role;
use crate::policy::View;

/// The SQL twin of [`crate::policy::Scope::view`]: a condition true for rows of `alias` (a table with `branch_id`
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
    use crate::policy::Scope;
    use crate::policy::scope::tests::user;

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
