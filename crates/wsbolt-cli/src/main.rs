//! `wsbolt`: serve, connect to, and load-test WebSocket servers.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod bench;
mod config_file;
mod connect;
mod proxy_flags;
mod report;
mod serve;
mod tls_flags;

#[derive(Parser)]
#[command(name = "wsbolt", version, about = "WebSocket server, client and load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the WebSocket server: /echo, /chat, /broadcast, handler programs, demo pages, /metrics.
    Serve(Box<serve::ServeArgs>),
    /// Connect to a WebSocket server: stdin lines go out, messages are printed.
    Connect(Box<connect::ConnectArgs>),
    /// Load-test a WebSocket echo server (messages/s, latency percentiles, handshakes/s).
    Bench(Box<bench::BenchArgs>),
    /// Print a shell completion script: `wsbolt completions bash > /etc/bash_completion.d/wsbolt`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff): `wsbolt man > wsbolt.1 && man ./wsbolt.1`;
    /// `wsbolt man serve` for one command's page (wsbolt-serve(1)).
    Man {
        /// serve, connect or bench; none for wsbolt(1).
        command: Option<String>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve::run(*args),
        Command::Connect(args) => connect::run(*args),
        Command::Bench(args) => bench::run(*args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "wsbolt", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man { command } => man(command.as_deref()),
    }
}

/// `wsbolt man [COMMAND]`: wsbolt(1), or wsbolt-COMMAND(1).
fn man(command: Option<&str>) -> ExitCode {
    let cmd = Cli::command();
    let page = match command {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) if !matches!(name, "completions" | "man") => sub.clone().display_name(format!("wsbolt-{name}")),
            _ => {
                eprintln!("wsbolt man: no page for {name:?} (serve, connect or bench)");
                return ExitCode::from(2);
            }
        },
    };
    match clap_mangen::Man::new(page).render(&mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsbolt man: {e}");
            ExitCode::FAILURE
        }
    }
}
