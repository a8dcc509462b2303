//! `ferry serve`: the server in the foreground.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::ServeArgs;
use crate::failure::{EXIT_FAILED, Failure};

pub fn run(args: &ServeArgs, home: &Path) -> Result<ExitCode, Failure> {
    let failpoint = std::env::var("FERRY_FAILPOINT")
        .ok()
        .and_then(|f| ferry_api::Failpoint::parse(&f));
    let config = ferry_api::ServerConfig {
        home: home.to_path_buf(),
        edge_listen: args.listen.listen.clone(),
        control_listen: args.listen.control_listen.clone(),
        failpoint,
        access_log: args.access_log.clone(),
        tls_listen: args.tls_listen.clone(),
        control_tls: args
            .listen
            .control_tls_cert
            .clone()
            .zip(args.listen.control_tls_key.clone()),
        limits: ferry_edge::Limits {
            max_connections: args.max_connections.max(1),
            header_timeout: std::time::Duration::from_secs_f64(
                args.header_timeout.clamp(0.1, 3600.0),
            ),
        },
    };
    let runtime = super::runtime()?;
    runtime
        .block_on(ferry_api::run(config))
        .map_err(|err| Failure {
            code: if err.code == "already-running" {
                "already-running"
            } else {
                "serve-failed"
            },
            message: err.message,
            hint: err.hint,
            exit: if err.status == 409 {
                crate::failure::EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            },
        })?;
    Ok(ExitCode::SUCCESS)
}
