//! After a deploy: the full inspection's findings and verdicts, kept with the release on the
//! server (`PUT /api/v1/apps/{app}/releases/{id}/inspect`) for the dashboard's findings page.
//! Best effort: a failure here is a warning of the deploy, never its failure.

use serde_json::json;

use crate::client::Api;

/// Runs the audit half of the inspection on `source` and sends its findings and verdicts:
/// how many findings were kept, or why none were.
pub(crate) fn keep(
    api: &Api,
    app: &str,
    release: &str,
    source: &mut ferry_source::Source,
) -> Result<usize, String> {
    source
        .read_added_lines()
        .map_err(|e| format!("the inspect report was not kept: {e}"))?;
    let inspection = ferry_inspect::inspect(source.input(ferry_inspect::Scope::Full))
        .map_err(|e| format!("the inspect report was not kept: {e}"))?;
    let profile = &inspection.profile;
    let body = json!({ "findings": profile.findings, "verdicts": profile.verdicts });
    api.json(
        "PUT",
        &format!("/api/v1/apps/{app}/releases/{release}/inspect"),
        Some(&body),
    )
    .map_err(|f| format!("the inspect report was not kept: {}", f.message))?;
    Ok(profile.findings.len())
}
