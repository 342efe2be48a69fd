//! A demo branch for newcomers: a branch with an outlet, two managers with generated customers
//! (visits, leads), a supervisor and an admin. Seeding is idempotent: a second start finds the
//! branch and only prints the logins again. The passwords are fixed and printed: demo only.

use fieldsync_core::workload::{self, Book};

use crate::accounts::{self, NewUser, Role};
use crate::store::{Db, Store};

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

/// Why the demo branch could not be seeded.
pub type SeedError = Box<dyn std::error::Error + Send + Sync>;

/// Seeds the demo branch unless it exists, in one transaction (one fsync, and a crash leaves no
/// half-seeded branch); returns how many customers were written.
pub fn seed(db: &Db, customers_per_manager: usize, now: i64) -> Result<usize, SeedError> {
    db.write_blocking(|store| seed_in(store, customers_per_manager, now))
}

fn seed_in(store: &dyn Store, customers_per_manager: usize, now: i64) -> Result<usize, SeedError> {
    if store.branch_named(BRANCH_NAME)? {
        return Ok(0);
    }
    let branch = accounts::create_branch(store, BRANCH_NAME, now, "demo")?;
    let outlet = accounts::create_outlet(store, &branch, "韩桥网点", now, "demo")?;
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
        let user_id = accounts::create_user(store, &new, now, "demo")?;
        if login.role != Role::Manager {
            continue;
        }
        let book =
            Book { manager_id: user_id.clone(), manager_name: login.display_name.to_string(), namespace: k as u64 };
        let actor = book.server_actor();
        for record in workload::generate_branch(customers_per_manager, 1000 + k as u64) {
            let prepared = workload::build_changes(&record, &book, &actor)?;
            crate::customers::store_server_changes(store, &branch, &prepared.customer_id, &prepared.bytes)?;
            written += 1;
        }
    }
    Ok(written)
}
