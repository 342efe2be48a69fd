//! `fieldsync-server serve --data DIR --listen ADDR` and `fieldsync-server admin --data DIR ...`

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fieldsync_server::accounts::{self, NewUser, Role};
use fieldsync_server::routes::now_ms;
use fieldsync_server::store::Db;
use fieldsync_server::{Config, serve};

/// mimalloc: a sync burst allocates and frees from many threads at once (documents, frames,
/// rows), where glibc's allocator spends ~12 % of the instructions and keeps returning memory to
/// the kernel; with it the sync benchmark's server apply uses ~6 % less CPU (medians of five runs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "fieldsync-server", version, about = "fieldsync branch sync server / 网点同步服务器")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (first start creates the data folder and its store).
    Serve(Config),
    /// Administrative commands on the store (run on the server machine).
    Admin {
        #[arg(long, env = "FIELDSYNC_DATA", default_value = "./fieldsync-data")]
        data: PathBuf,
        #[command(subcommand)]
        action: Admin,
    },
}

#[derive(Subcommand)]
enum Admin {
    /// Create a branch; prints its ID.
    CreateBranch {
        #[arg(long)]
        name: String,
    },
    /// Create an outlet (网点) of a branch; prints its ID.
    CreateOutlet {
        #[arg(long)]
        branch: String,
        #[arg(long)]
        name: String,
    },
    /// Create a user; the password is read from standard input (never from the command line).
    CreateUser {
        #[arg(long)]
        branch: String,
        #[arg(long)]
        outlet: Option<String>,
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        /// manager, supervisor or admin
        #[arg(long, value_parser = ["manager", "supervisor", "admin"])]
        role: String,
        /// An admin of the head office, who acts in every branch (admins only).
        #[arg(long)]
        head_office: bool,
    },
    /// Revoke a device: it is refused from now on and wipes its data at its next contact.
    RevokeDevice {
        #[arg(long)]
        device: String,
    },
    /// Release a device (lost, or handed to a colleague): its token ends and another user of its
    /// branch may sign in on it.
    ReleaseDevice {
        #[arg(long)]
        device: String,
    },
    /// Delete a customer of a branch: it leaves every device at their next sync (the history stays
    /// in the server's log).
    DeleteCustomer {
        #[arg(long)]
        branch: String,
        #[arg(long)]
        customer: String,
    },
    /// Rebuild the supervisor pages' read models from the documents (in one transaction; the
    /// server may keep serving: syncs wait for it).
    RebuildReadModels,
    /// Set a branch's evidence thresholds and judge its visits again with them.
    SetEvidenceRules {
        #[arg(long)]
        branch: String,
        /// Check-in farther than this from the customer's location (metres).
        #[arg(long, default_value_t = 500)]
        far_m: i64,
        /// A visit shorter than this (seconds).
        #[arg(long, default_value_t = 300)]
        short_s: i64,
        /// Travel from the previous visit faster than this (km/h).
        #[arg(long, default_value_t = 120)]
        max_kmh: i64,
        /// A device clock farther than this from the server's (seconds).
        #[arg(long, default_value_t = 600)]
        clock_s: i64,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(config) => run_server(config),
        Command::Admin { data, action } => match admin(&data, action) {
            Ok(out) => {
                println!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("fieldsync-server admin: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run_server(config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fieldsync-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve::run(config, serve::shutdown_signal(), |addr| {
        // A machine-readable line on stdout, so scripts and tests learn a port-0 address.
        println!("fieldsync-server listening on http://{addr}");
    }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldsync-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn admin(data: &std::path::Path, action: Admin) -> Result<String, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(data)?;
    let db = Db::open(data)?;
    let now = now_ms();
    let out = match action {
        Admin::CreateBranch { name } => db.write_blocking(|s| accounts::create_branch(s, &name, now, "admin-cli"))?,
        Admin::CreateOutlet { branch, name } => {
            db.write_blocking(|s| accounts::create_outlet(s, &branch, &name, now, "admin-cli"))?
        }
        Admin::CreateUser { branch, outlet, username, name, role, head_office } => {
            let role = Role::from_code(&role).ok_or(accounts::AccountError::Invalid { field: "role" })?;
            if head_office && role != Role::Admin {
                return Err(accounts::AccountError::Invalid { field: "head_office" }.into());
            }
            // Read before the write transaction starts: the store is never locked while waiting.
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|_| accounts::AccountError::Invalid { field: "password" })?;
            let new = NewUser {
                branch_id: &branch,
                outlet_id: outlet.as_deref(),
                username: &username,
                display_name: &name,
                role,
                password: password.trim_end_matches(['\r', '\n']),
            };
            db.write_blocking(|s| {
                let id = accounts::create_user(s, &new, now, "admin-cli")?;
                if head_office {
                    accounts::set_head_office(s, &id, true, now, "admin-cli")?;
                }
                Ok::<_, accounts::AccountError>(id)
            })?
        }
        Admin::ReleaseDevice { device } => {
            db.write_blocking(|s| accounts::release_device(s, &device, None, now))?;
            format!("released {device}")
        }
        Admin::RevokeDevice { device } => {
            db.write_blocking(|s| accounts::revoke_device(s, &device, None, now))?;
            format!("revoked {device}")
        }
        Admin::DeleteCustomer { branch, customer } => {
            db.write_blocking(|s| {
                fieldsync_server::customers::delete_customer(s, &branch, &customer, "admin-cli", now).map_err(|e| {
                    match e {
                        fieldsync_server::customers::PushError::Store(e) => accounts::AccountError::Store(e),
                        _ => accounts::AccountError::NotFound { what: "customer" },
                    }
                })
            })?;
            format!("deleted {customer}")
        }
        Admin::RebuildReadModels => {
            let customers = db.write_blocking(fieldsync_server::read_model::rebuild)?;
            format!("rebuilt the read models of {customers} customers")
        }
        Admin::SetEvidenceRules { branch, far_m, short_s, max_kmh, clock_s } => {
            let rules = fieldsync_server::read_model::evidence::Rules { far_m, short_s, max_kmh, clock_s };
            let field = rules.validate().err();
            if let Some(field) = field {
                return Err(format!("--{} is out of range", field.replace('_', "-")).into());
            }
            db.write_blocking(|s| {
                if !s.branch_exists(&branch)? {
                    return Err(accounts::AccountError::NotFound { what: "branch" });
                }
                fieldsync_server::read_model::set_rules(s, &branch, &rules)?;
                accounts::audit(s, now, "admin-cli", "branch.evidence_rules", &branch)
            })?;
            format!("evidence thresholds of {branch} set")
        }
    };
    Ok(out)
}
