//! `wsbolt`: serve, connect to, and load-test WebSocket servers.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod config_file;
mod connect;
mod proxy_flags;
mod report;
mod serve;

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
    Connect(connect::ConnectArgs),
    /// Load-test a WebSocket echo server (messages/s, latency percentiles, handshakes/s).
    Bench(Box<bench::BenchArgs>),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve::run(*args),
        Command::Connect(args) => connect::run(args),
        Command::Bench(args) => bench::run(*args),
    }
}
