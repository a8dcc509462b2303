//! `ferry db slots`: ferry's logical replication slots on a source (lag, in use, publication),
//! and `--drop NAME` to remove one with its publication.

use std::fmt::Write as _;
use std::process::ExitCode;

use ferry_data::endpoint::redact;
use ferry_data::follow::SlotInfo;
use ferry_data::{DataError, Endpoint};
use serde_json::json;

use super::render::human;
use super::{runtime, shell_quote};
use crate::cli::SlotsArgs;
use crate::failure::Failure;
use crate::output::Output;

/// Runs `ferry db slots`.
pub fn run(args: &SlotsArgs, out: &Output) -> Result<ExitCode, Failure> {
    let source = Endpoint::parse_source(&args.from)?;
    let runtime = runtime()?;
    if let Some(name) = &args.drop {
        let dropped =
            runtime.block_on(async { ferry_data::follow::drop_slot(&source, name).await })?;
        if !dropped {
            return Err(DataError::SlotConflict {
                slot: name.clone(),
                reason: "does not exist on this source (nor its publication)".into(),
            }
            .into());
        }
        if out.json {
            out.print_json(&json!({ "dropped": name }));
        } else {
            out.print(&format!(
                "dropped slot and publication {name}; the source no longer keeps WAL for it\n"
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let slots = runtime.block_on(async { ferry_data::follow::slots(&source).await })?;
    if out.json {
        out.print_json(&json!({ "slots": slots }));
    } else {
        out.print(&render(&slots, &args.from));
    }
    Ok(ExitCode::SUCCESS)
}

/// The slot table, and how to drop one.
pub fn render(slots: &[SlotInfo], from: &str) -> String {
    if slots.is_empty() {
        return "no ferry slots on this source\n".into();
    }
    let width = slots
        .iter()
        .map(|s| s.slot.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut s = format!(
        "{:<width$}  {:>10}  {:<16}  {:<10}  {:<12}  PUBLICATION\n",
        "SLOT", "LAG", "ACTIVE", "WAL", "DATABASE"
    );
    for slot in slots {
        let lag = slot.lag_bytes.map_or_else(|| "—".into(), human);
        let active = match (slot.active, slot.active_pid) {
            (true, Some(pid)) => format!("yes (pid {pid})"),
            (true, None) => "yes".into(),
            (false, _) => "no".into(),
        };
        let _ = writeln!(
            s,
            "{:<width$}  {lag:>10}  {active:<16}  {:<10}  {:<12}  {}",
            slot.slot,
            slot.wal_status.as_deref().unwrap_or("—"),
            slot.database.as_deref().unwrap_or("—"),
            slot.publication.as_deref().unwrap_or("—"),
        );
    }
    if let Some(idle) = slots.iter().find(|s| !s.active) {
        let _ = writeln!(
            s,
            "an idle slot keeps WAL on the source until it is followed again or dropped: \
             ferry db slots --from {} --drop {}",
            shell_quote(&redact(from)),
            idle.slot
        );
    }
    s
}
