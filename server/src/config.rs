//! Settings, from flags or the environment (flags win).

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Folder holding the server's store; created on first start.
    #[arg(long, env = "FIELDSYNC_DATA", default_value = "./fieldsync-data")]
    pub data: PathBuf,

    /// Address to listen on. Port 0 picks a free port (printed at start).
    #[arg(long, env = "FIELDSYNC_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Seed a demo branch (managers, a supervisor, customers with visits and leads) on first
    /// start and print its logins.
    #[arg(long)]
    pub demo: bool,

    /// Customers per demo manager.
    #[arg(long, default_value_t = 200, requires = "demo")]
    pub demo_customers: usize,

    /// Seconds between sweeps that return neglected customers to their branch's pool (0: never;
    /// `admin sweep-pool` runs one by hand).
    #[arg(long, env = "FIELDSYNC_POOL_SWEEP_S", default_value_t = 600)]
    pub pool_sweep_s: u64,
}
