//! `fieldsync-server serve --data DIR --listen ADDR`

use clap::{Parser, Subcommand};
use fieldsync_server::{Config, serve};

#[derive(Parser)]
#[command(name = "fieldsync-server", version, about = "fieldsync branch sync server / 网点同步服务器")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (first start creates the data folder).
    Serve(Config),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fieldsync-server: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let Command::Serve(config) = cli.command;
    let result = runtime.block_on(serve::run(config, serve::shutdown_signal(), |addr| {
        // A machine-readable line on stdout, so scripts and tests learn a port-0 address.
        println!("fieldsync-server listening on http://{addr}");
    }));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldsync-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
