//! The `ferry` binary: parses arguments, runs one subcommand, prints errors once.

mod cli;
mod client;
mod commands;
mod failure;
mod home;
mod output;
mod progress;
mod render;
mod tls;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    let out = output::Output::new(cli.json).json_lines(commands::json_lines(&cli));
    match commands::run(&cli, &out) {
        Ok(code) => code,
        Err(failure) => failure.report(&out),
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(output::color_enabled())
        .without_time()
        .init();
}
