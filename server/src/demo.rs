//! A demo branch for newcomers: a branch with an outlet, two managers with generated customers
//! (visits, leads), a supervisor and an admin. Seeding is idempotent: a second start finds the
//! branch and only prints the logins again. The passwords are fixed and printed: demo only.

use fieldsync_core::workload::{self, Book};

use crate::accounts::{self, NewUser, Role};
use crate::store::Db;

pub const BRANCH_NAME: &str = "示范支行（演示）";

pub struct DemoLogin {
    pub username: &'static str,
    pub password: &'static str,
    pub display_name: &'static str,
    pub role: Role,
}

pub const LOGINS: [DemoLogin; 4] = [
    DemoLogin { username: "manager1", password: "demo-manager-1", display_name: "王建国", role: Role::Manager },
    DemoLogin { username: "manager2", password: "demo-manager-2", display_name: "李秀英", role: Role::Manager },
    DemoLogin {
        username: "supervisor", password: "demo-supervisor", display_name: "张主任", role: Role::Supervisor
    },
    DemoLogin { username: "admin", password: "demo-admin-pass", display_name: "系统管理员", role: Role::Admin },
];

/// Seeds the demo branch unless it exists, in one transaction (one fsync, and a crash leaves no
/// half-seeded branch); returns how many customers were written.
pub fn seed(db: &Db, customers_per_manager: usize, now: i64) -> Result<usize, String> {
    db.with(|conn| -> Result<usize, String> {
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        let written = seed_in(&tx, customers_per_manager, now)?;
        tx.commit().map_err(|e| e.to_string())?;
        Ok(written)
    })
}

fn seed_in(conn: &rusqlite::Connection, customers_per_manager: usize, now: i64) -> Result<usize, String> {
    let exists = conn
        .query_row("SELECT 1 FROM branches WHERE name = ?1", [BRANCH_NAME], |_| Ok(()))
        .map(|_| true)
        .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(false) } else { Err(e.to_string()) })?;
    if exists {
        return Ok(0);
    }
    let branch = accounts::create_branch(conn, BRANCH_NAME, now, "demo").map_err(|e| e.to_string())?;
    let outlet = accounts::create_outlet(conn, &branch, "韩桥网点", now, "demo").map_err(|e| e.to_string())?;
    let mut written = 0;
    for (k, login) in LOGINS.iter().enumerate() {
        let new = NewUser {
            branch_id: &branch,
            outlet_id: Some(&outlet),
            username: login.username,
            display_name: login.display_name,
            role: login.role,
            password: login.password,
        };
        let user_id = accounts::create_user(conn, &new, now, "demo").map_err(|e| e.to_string())?;
        if login.role != Role::Manager {
            continue;
        }
        let book =
            Book { manager_id: user_id.clone(), manager_name: login.display_name.to_string(), namespace: k as u64 };
        let actor = book.server_actor();
        for record in workload::generate_branch(customers_per_manager, 1000 + k as u64) {
            let prepared = workload::build_changes(&record, &book, &actor).map_err(|e| e.to_string())?;
            crate::customers::store_server_changes_in(conn, &branch, &prepared.customer_id, &prepared.bytes)
                .map_err(|e| e.to_string())?;
            written += 1;
        }
    }
    Ok(written)
}
