//! `fieldsync-server serve --data DIR --listen ADDR` and `fieldsync-server admin --data DIR ...`

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fieldsync_server::accounts::{self, NewUser, Role};
use fieldsync_server::config::ServeArgs;
use fieldsync_server::customers::PushError;
use fieldsync_server::routes::now_ms;
use fieldsync_server::serve;
use fieldsync_server::stages::ImportReport;
use fieldsync_server::store::Store;
use fieldsync_server::store::{Database, Db};

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
    Serve(ServeArgs),
    /// Administrative commands on the store (run on the server machine).
    Admin {
        #[arg(long, env = "FIELDSYNC_DATA", default_value = "./fieldsync-data")]
        data: PathBuf,
        /// The key file of an encrypted store (as `serve --key-file`).
        #[arg(long, env = "FIELDSYNC_KEY_FILE")]
        key_file: Option<PathBuf>,
        /// The PostgreSQL database the instances share (as `serve --database`).
        #[arg(long, env = "FIELDSYNC_DATABASE_URL", hide_env_values = true)]
        database: Option<String>,
        /// A CA (PEM) for TLS to PostgreSQL (as `serve --database-ca`).
        #[arg(long, env = "FIELDSYNC_DATABASE_CA")]
        database_ca: Option<PathBuf>,
        #[command(subcommand)]
        action: Admin,
    },
    /// Move a branch's embedded SQLite store into a new, empty PostgreSQL database (stop the
    /// server first); every document is compared afterwards. Photos stay in the data folder.
    MigrateStore {
        /// The data folder holding the SQLite store.
        #[arg(long)]
        from: PathBuf,
        #[arg(long, env = "FIELDSYNC_KEY_FILE")]
        key_file: Option<PathBuf>,
        /// The PostgreSQL database to move it into (empty).
        #[arg(long, env = "FIELDSYNC_DATABASE_URL", hide_env_values = true)]
        to: String,
        /// A CA (PEM) for TLS to PostgreSQL (as `serve --database-ca`).
        #[arg(long, env = "FIELDSYNC_DATABASE_CA")]
        database_ca: Option<PathBuf>,
    },
    /// Take a consistent copy of the store and its photos into one file, while the server serves.
    Backup {
        #[arg(long, env = "FIELDSYNC_DATA", default_value = "./fieldsync-data")]
        data: PathBuf,
        #[arg(long, env = "FIELDSYNC_KEY_FILE")]
        key_file: Option<PathBuf>,
        /// The backup file to write (written whole or not at all).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into a new (or empty) data folder; then start the server on it.
    Restore {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, env = "FIELDSYNC_KEY_FILE")]
        key_file: Option<PathBuf>,
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
    /// Set a branch's public-pool rules (0 turns a rule off); tablets get them at their next
    /// sync, and every customer's due date follows them.
    SetPoolRules {
        #[arg(long)]
        branch: String,
        /// Days without a completed visit or an interaction before a customer returns to the pool.
        #[arg(long, default_value_t = 90)]
        recycle_after_days: u32,
        /// Days without lead progress (for a customer with open leads).
        #[arg(long, default_value_t = 60)]
        recycle_without_lead_progress_days: u32,
        /// Days of warning on the tablet.
        #[arg(long, default_value_t = 7)]
        warn_days: u32,
        /// An open lead at this stage or later keeps the customer (new, contacted, qualified,
        /// proposal; "none": no exemption).
        #[arg(long, default_value = "proposal")]
        exempt_lead_stage: String,
        /// Claims a manager may win per day.
        #[arg(long, default_value_t = 5)]
        daily_claim_cap: u32,
        /// Customers a manager may serve.
        #[arg(long, default_value_t = 500)]
        max_owned: u32,
        /// Days before a former owner may claim a customer again.
        #[arg(long, default_value_t = 30)]
        claim_cooldown_days: u32,
    },
    /// Return the customers due back in their branch's pool now (the server does it every few
    /// minutes on its own); `--at` sweeps as of another time (RFC 3339, e.g. 2026-12-01T09:00:00+08:00).
    SweepPool {
        #[arg(long)]
        at: Option<String>,
    },
    /// Move every customer of one manager to another manager, or to the pool (a manager who
    /// leaves the bank). Each move is recorded on the customer.
    Reassign {
        #[arg(long)]
        branch: String,
        #[arg(long)]
        from: String,
        /// A manager's user ID, or "pool".
        #[arg(long)]
        to: String,
    },
    /// Import the core banking system's financial-asset file (CSV: id_number,as_of,assets_yuan)
    /// into a branch; customers' value tiers follow. Each refused line is reported.
    ImportAssets {
        #[arg(long)]
        branch: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Import the core banking system's product events (CSV: id_number,kind,date,product,
    /// amount_yuan; kind maturity, dividend or repayment) into a branch: each becomes a reminder
    /// on the customer's tablet. Each refused line is reported.
    ImportProductEvents {
        #[arg(long)]
        branch: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Write the birthday reminders that are due (the server does it every few minutes on its
    /// own); `--at` as of another time (RFC 3339).
    SweepReminders {
        #[arg(long)]
        at: Option<String>,
    },
    /// Add or replace a product of a branch's catalog; tablets get it at their next sync.
    CatalogPut {
        #[arg(long)]
        branch: String,
        /// The branch's own ID for the product (letters, digits, - and _), e.g. dep-3y.
        #[arg(long)]
        id: String,
        /// deposit, loan, wealth, card, insurance, payment or other
        #[arg(long)]
        kind: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        term: String,
        /// The annual rate in basis points (275 for 2.75 %).
        #[arg(long)]
        rate_bp: Option<u32>,
        #[arg(long, default_value = "")]
        description: String,
        /// The brochure (a PDF or an image, up to 8 MiB).
        #[arg(long)]
        brochure: Option<PathBuf>,
    },
    /// Set a village's outlet and the managers responsible for it (none: the village has no
    /// territory); their tablets' lists and pool views follow it from their next sync.
    SetTerritory {
        #[arg(long)]
        branch: String,
        #[arg(long)]
        village: String,
        #[arg(long)]
        outlet: Option<String>,
        /// Managers' user IDs, comma-separated.
        #[arg(long, value_delimiter = ',')]
        managers: Vec<String>,
    },
    /// Set a month's target: the branch's, split evenly among its managers, or (with
    /// `--manager`) one manager's after the split.
    SetTarget {
        #[arg(long)]
        branch: String,
        /// The month, e.g. 2026-12.
        #[arg(long)]
        month: String,
        #[arg(long)]
        manager: Option<String>,
        #[arg(long, default_value_t = 0)]
        visits: i64,
        #[arg(long, default_value_t = 0)]
        new_customers: i64,
        #[arg(long, default_value_t = 0)]
        leads_won: i64,
        #[arg(long, default_value_t = 0)]
        amount_won_yuan: i64,
    },
    /// Withdraw a product of a branch's catalog.
    CatalogRemove {
        #[arg(long)]
        branch: String,
        #[arg(long)]
        id: String,
    },
    /// Set a branch's tier thresholds (yuan), dormancy period and the days its managers have to
    /// handle a complaint; every customer follows.
    SetCustomerRules {
        #[arg(long)]
        branch: String,
        #[arg(long, default_value_t = 300_000)]
        high_yuan: i64,
        #[arg(long, default_value_t = 50_000)]
        medium_yuan: i64,
        #[arg(long, default_value_t = 180)]
        dormant_after_days: u32,
        #[arg(long, default_value_t = fieldsync_core::domain::DEFAULT_COMPLAINT_DAYS)]
        complaint_days: u32,
    },
    /// Compute the lifecycle stages that are due (the server does it every few minutes on its
    /// own); `--at` as of another time (RFC 3339).
    SweepStages {
        #[arg(long)]
        at: Option<String>,
    },
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
    // Logs on standard error: lines for a person at a terminal, JSON lines for journald and log
    // collectors otherwise.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info".into())
                // tokio-postgres logs statements' parameters (phone and ID numbers among them) at
                // debug level: never, whatever RUST_LOG asks.
                .add_directive("tokio_postgres=warn".parse().expect("a directive")),
        )
        .with_writer(std::io::stderr);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        logs.init();
    } else {
        logs.json().flatten_event(true).init();
    }
    match Cli::parse().command {
        Command::Serve(args) => run_server(args),
        Command::Admin { data, key_file, database, database_ca, action } => {
            report("admin", admin(&data, key_file.as_deref(), database.as_deref(), database_ca.as_deref(), action))
        }
        Command::MigrateStore { from, key_file, to, database_ca } => {
            report("migrate-store", migrate_store(&from, key_file.as_deref(), &to, database_ca.as_deref()))
        }
        Command::Backup { data, key_file, to } => report("backup", backup(&data, key_file.as_deref(), &to)),
        Command::Restore { from, data, key_file } => report("restore", restore(&from, &data, key_file.as_deref())),
    }
}

fn run_server(args: ServeArgs) -> ExitCode {
    let config = match args.resolve() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("fieldsync-server: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        if let Some(files) = &config.tls
            && let Err(e) = fieldsync_server::tls::Tls::load(files)
        {
            eprintln!("fieldsync-server: {e}");
            return ExitCode::from(2);
        }
        println!("configuration OK: {}://{} serving {}", config.scheme(), config.listen, config.data.display());
        return ExitCode::SUCCESS;
    }
    let scheme = config.scheme();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fieldsync-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve::run(config, serve::shutdown_signal(), |addr| {
        // A machine-readable line on stdout, so scripts and tests learn a port-0 address.
        println!("fieldsync-server listening on {scheme}://{addr}");
    }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldsync-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads an import file and runs `run` on it in parts of at most `MAX_IMPORT_LINES` lines, each
/// in its own transaction with its audit row (the writer is never held for the whole file), then
/// writes the report: counts, then each refused line (number and reason, never its values).
fn import(
    db: &Database,
    branch: &str,
    file: &std::path::Path,
    action: &str,
    now: i64,
    run: impl Fn(&dyn Store, &str, &[u8]) -> Result<ImportReport, PushError>,
) -> Result<String, Box<dyn std::error::Error>> {
    const MAX_FILE: u64 = 256 * 1024 * 1024;
    if std::fs::metadata(file)?.len() > MAX_FILE {
        return Err("the file is larger than an import takes (256 MiB)".into());
    }
    let text = std::fs::read(file)?;
    let mut lines = text.split(|b| *b == b'\n');
    let header = lines.next().unwrap_or_default().to_vec();
    let body: Vec<&[u8]> = lines.collect();
    let mut total = ImportReport::default();
    for (part, chunk) in body.chunks(fieldsync_server::stages::MAX_IMPORT_LINES as usize).enumerate() {
        let mut bytes = header.clone();
        for line in chunk {
            bytes.push(b'\n');
            bytes.extend_from_slice(line);
        }
        let report = db.write_blocking(|s| {
            if !s.branch_exists(branch)? {
                return Err(PushError::NotFound);
            }
            let report = run(s, branch, &bytes)?;
            accounts::audit(s, now, "admin-cli", action, branch)?;
            Ok(report)
        })?;
        let offset = (part * fieldsync_server::stages::MAX_IMPORT_LINES as usize) as u64;
        total.imported += report.imported;
        total.unchanged += report.unchanged;
        total.rejected.extend(report.rejected.into_iter().map(|mut r| {
            r.line += offset;
            r
        }));
    }
    let mut out =
        format!("imported {} lines, {} unchanged, {} refused", total.imported, total.unchanged, total.rejected.len());
    for r in &total.rejected {
        out.push_str(&format!("\nline {}: {} / {}", r.line, r.message_zh, r.message_en));
    }
    Ok(out)
}

/// `--at` as UTC ms (now when not given).
fn parse_at(at: Option<String>, now: i64) -> Result<i64, &'static str> {
    match at {
        None => Ok(now),
        Some(text) => text
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|_| "--at is not an RFC 3339 time such as 2026-12-01T09:00:00+08:00"),
    }
}

/// Prints what a command did, or why it failed (then exits 1).
fn report(command: &str, result: Result<String, Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fieldsync-server {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn key(
    file: Option<&std::path::Path>,
) -> Result<Option<fieldsync_server::store::StoreKey>, Box<dyn std::error::Error>> {
    Ok(file.map(fieldsync_server::store::StoreKey::from_file).transpose()?)
}

fn backup(
    data: &std::path::Path,
    key_file: Option<&std::path::Path>,
    to: &std::path::Path,
) -> Result<String, Box<dyn std::error::Error>> {
    let key = key(key_file)?;
    let now = now_ms();
    let done = fieldsync_server::backup::backup(data, to, now, key.as_ref())?;
    // The time of the last good backup, for the metrics.
    let db = Db::open_keyed(data, key.as_ref())?;
    db.write_blocking(|s| s.set_last_backup_at(now))?;
    Ok(format!(
        "backup written to {}: store {} bytes, {} photos, {} bytes in all",
        to.display(),
        done.db_bytes,
        done.photos,
        done.file_bytes
    ))
}

fn restore(
    from: &std::path::Path,
    data: &std::path::Path,
    key_file: Option<&std::path::Path>,
) -> Result<String, Box<dyn std::error::Error>> {
    let key = key(key_file)?;
    let done = fieldsync_server::backup::restore(from, data, key.as_ref())?;
    Ok(format!(
        "restored into {} (schema {}, {} photos); start the server on it",
        data.display(),
        done.schema,
        done.photos
    ))
}

fn migrate_store(
    from: &std::path::Path,
    key_file: Option<&std::path::Path>,
    to: &str,
    ca: Option<&std::path::Path>,
) -> Result<String, Box<dyn std::error::Error>> {
    let key = key(key_file)?;
    if !from.join("server.db").is_file() {
        return Err(format!("{} holds no fieldsync store (server.db)", from.display()).into());
    }
    fieldsync_server::config::DatabaseUrl::parse(to)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let done = runtime.block_on(fieldsync_server::migrate_store::migrate_store(from, key.as_ref(), to, ca))?;
    Ok(format!(
        "moved {} rows: {} documents and {} changes, each compared with its source; start the servers with --database and --data {}",
        done.rows,
        done.documents,
        done.changes,
        from.display()
    ))
}

fn admin(
    data: &std::path::Path,
    key_file: Option<&std::path::Path>,
    database: Option<&str>,
    database_ca: Option<&std::path::Path>,
    action: Admin,
) -> Result<String, Box<dyn std::error::Error>> {
    let key = key(key_file)?;
    if let Some(url) = database {
        fieldsync_server::config::DatabaseUrl::parse(url)?;
    } else {
        std::fs::create_dir_all(data)?;
    }
    // The runtime PostgreSQL's connections live on, for as long as the command runs.
    let runtime = tokio::runtime::Runtime::new()?;
    let db = runtime.block_on(Database::open(data, key.as_ref(), database, database_ca))?;
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
        Admin::SetPoolRules {
            branch,
            recycle_after_days,
            recycle_without_lead_progress_days,
            warn_days,
            exempt_lead_stage,
            daily_claim_cap,
            max_owned,
            claim_cooldown_days,
        } => {
            let on = |n: u32| (n > 0).then_some(n);
            let exempt_lead_stage = match exempt_lead_stage.as_str() {
                "none" => None,
                code => Some(
                    fieldsync_core::domain::LeadStage::from_code(code)
                        .filter(|s| s.is_open())
                        .ok_or("--exempt-lead-stage is not an open lead stage")?,
                ),
            };
            let rules = fieldsync_core::domain::PoolRules {
                recycle_after_days: on(recycle_after_days),
                recycle_without_lead_progress_days: on(recycle_without_lead_progress_days),
                warn_days,
                exempt_lead_stage,
                daily_claim_cap: on(daily_claim_cap),
                max_owned: on(max_owned),
                claim_cooldown_days: on(claim_cooldown_days),
            };
            if let Err(field) = rules.validate() {
                return Err(format!("--{} is out of range", field.replace('_', "-")).into());
            }
            db.write_blocking(|s| {
                if !s.branch_exists(&branch)? {
                    return Err(fieldsync_server::customers::PushError::NotFound);
                }
                fieldsync_server::pool::set_rules(s, &branch, &rules, now)?;
                accounts::audit(s, now, "admin-cli", "branch.pool_rules", &branch)?;
                Ok(())
            })
            .map_err(|e| match e {
                fieldsync_server::customers::PushError::NotFound => "no such branch".to_string(),
                e => e.to_string(),
            })?;
            format!("pool rules of {branch} set")
        }
        Admin::SweepPool { at } => {
            let returned = fieldsync_server::sweeps::ALL[0].run_all_blocking(&db, parse_at(at, now)?)?;
            format!("{returned} customers returned to the pool")
        }
        Admin::Reassign { branch, from, to } => {
            let moved = db.write_blocking(|s| fieldsync_server::pool::reassign_all(s, &branch, &from, &to, now))?;
            format!("{moved} customers moved from {from} to {to}")
        }
        Admin::ImportAssets { branch, file } => import(&db, &branch, &file, "import.assets", now, |s, b, bytes| {
            fieldsync_server::stages::import_assets(s, b, bytes, now)
        })?,
        Admin::ImportProductEvents { branch, file } => {
            import(&db, &branch, &file, "import.product_events", now, |s, b, bytes| {
                fieldsync_server::reminders::import_events(s, b, bytes, now)
            })?
        }
        Admin::CatalogPut { branch, id, kind, name, term, rate_bp, description, brochure } => {
            let kind = fieldsync_core::domain::Product::from_code(&kind).ok_or("--kind is not a product kind")?;
            let bytes = brochure.map(std::fs::read).transpose()?;
            let product = fieldsync_core::domain::CatalogProduct {
                id: id.clone(),
                kind,
                name,
                term,
                rate_bp,
                description,
                brochure: None,
            };
            db.write_blocking(|s| {
                if !s.branch_exists(&branch)? {
                    return Err(PushError::NotFound);
                }
                fieldsync_server::catalog::put(s, &branch, product, bytes.as_deref(), now)?;
                accounts::audit(s, now, "admin-cli", "catalog.put", &id)?;
                Ok(())
            })?;
            format!("catalog product {id} of {branch} saved")
        }
        Admin::SetTerritory { branch, village, outlet, managers } => {
            let territory = fieldsync_core::domain::Territory {
                village: village.clone(),
                outlet_id: outlet,
                manager_ids: managers.into_iter().filter(|m| !m.is_empty()).collect(),
            };
            db.write_blocking(|s| {
                if !s.branch_exists(&branch)? {
                    return Err(PushError::NotFound);
                }
                fieldsync_server::territories::set(s, &branch, territory, now)?;
                accounts::audit(s, now, "admin-cli", "branch.territory", &branch)?;
                Ok(())
            })?;
            format!("territory {village} of {branch} set")
        }
        Admin::SetTarget { branch, month, manager, visits, new_customers, leads_won, amount_won_yuan } => {
            let target = fieldsync_core::domain::Measures {
                visits,
                new_customers,
                leads_won,
                amount_won_fen: amount_won_yuan.saturating_mul(100),
            };
            let done = db.write_blocking(|s| {
                if !s.branch_exists(&branch)? {
                    return Err(PushError::NotFound);
                }
                let n = match &manager {
                    Some(m) => {
                        fieldsync_server::targets::set_manager_target(s, &branch, &month, m, &target).map(|()| 1)?
                    }
                    None => fieldsync_server::targets::set_branch_target(s, &branch, &month, &target)?,
                };
                accounts::audit(s, now, "admin-cli", "branch.target", &branch)?;
                Ok(n)
            })?;
            format!("target of {month} set for {done} managers")
        }
        Admin::CatalogRemove { branch, id } => {
            db.write_blocking(|s| {
                fieldsync_server::catalog::remove(s, &branch, &id, now)?;
                accounts::audit(s, now, "admin-cli", "catalog.remove", &id)?;
                Ok::<_, PushError>(())
            })?;
            format!("catalog product {id} of {branch} withdrawn")
        }
        Admin::SweepReminders { at } => {
            let written = fieldsync_server::sweeps::ALL[2].run_all_blocking(&db, parse_at(at, now)?)?;
            format!("{written} birthday reminders written")
        }
        Admin::SetCustomerRules { branch, high_yuan, medium_yuan, dormant_after_days, complaint_days } => {
            let rules = fieldsync_core::domain::CustomerRules {
                high_fen: high_yuan.saturating_mul(100),
                medium_fen: medium_yuan.saturating_mul(100),
                dormant_after_days,
                complaint_days,
            };
            if let Err(field) = rules.validate() {
                return Err(format!("--{} is out of range", field.replace("_fen", "_yuan").replace('_', "-")).into());
            }
            let changed = db.write_blocking(|s| {
                if !s.branch_exists(&branch)? {
                    return Err(fieldsync_server::customers::PushError::NotFound);
                }
                let changed = fieldsync_server::stages::set_rules(s, &branch, &rules, now)?;
                accounts::audit(s, now, "admin-cli", "branch.customer_rules", &branch)?;
                Ok(changed)
            })?;
            format!("customer rules of {branch} set; {changed} customers changed")
        }
        Admin::SweepStages { at } => {
            let changed = fieldsync_server::sweeps::ALL[1].run_all_blocking(&db, parse_at(at, now)?)?;
            format!("{changed} customers' stages changed")
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
