//! The `ferry://` resources: `ferry://apps/{app}/profile` (the app's summary: source folder,
//! live release, URL, env names) and `ferry://apps/{app}/releases/latest`.

use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::{Value, json};

use crate::ToolError;
use crate::server::{Context, Ferry};

const JSON: &str = "application/json";

/// The templates (`resources/templates/list`).
pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("ferry://apps/{app}/profile", "app-profile")
            .with_title("App profile")
            .with_description(
                "An app's summary: its source folder, live release, URL, and env variable names (never values).",
            )
            .with_mime_type(JSON),
        ResourceTemplate::new("ferry://apps/{app}/releases/latest", "latest-release")
            .with_title("Latest release")
            .with_description("An app's newest release and whether it is live, with the live one.")
            .with_mime_type(JSON),
    ]
}

/// One of each per app the caller sees (`resources/list`).
pub async fn list(ferry: &Ferry, cx: &Context) -> Result<Vec<Resource>, ToolError> {
    let status = cx.get(ferry, "/api/v1/status").await?;
    let mut out = Vec::new();
    for app in status["apps"].as_array().into_iter().flatten() {
        let Some(name) = app["name"].as_str() else {
            continue;
        };
        out.push(
            Resource::new(
                format!("ferry://apps/{name}/profile"),
                format!("{name} profile"),
            )
            .with_mime_type(JSON),
        );
        out.push(
            Resource::new(
                format!("ferry://apps/{name}/releases/latest"),
                format!("{name} latest release"),
            )
            .with_mime_type(JSON),
        );
    }
    Ok(out)
}

/// `resources/read`.
pub async fn read(ferry: &Ferry, cx: &Context, uri: &str) -> Result<ReadResourceResult, ToolError> {
    let unknown = || {
        ToolError::new(
            "unknown-resource",
            format!("no resource `{uri}`"),
            "see resources/list and resources/templates/list",
        )
    };
    let rest = uri.strip_prefix("ferry://apps/").ok_or_else(unknown)?;
    let (app, what) = rest.split_once('/').ok_or_else(unknown)?;
    let app = crate::tools::app_name(app)?;
    let doc = match what {
        "profile" => profile(ferry, cx, app).await?,
        "releases/latest" => latest(ferry, cx, app).await?,
        _ => return Err(unknown()),
    };
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type(JSON),
    ]))
}

async fn profile(ferry: &Ferry, cx: &Context, app: &str) -> Result<Value, ToolError> {
    // The releases call answers 404 for an app the caller may not see.
    let releases = cx
        .get(ferry, &format!("/api/v1/apps/{app}/releases"))
        .await?;
    let status = cx.get(ferry, "/api/v1/status").await?;
    let summary = status["apps"]
        .as_array()
        .and_then(|apps| apps.iter().find(|a| a["name"] == app).cloned())
        .unwrap_or(Value::Null);
    let env = cx.get(ferry, &format!("/api/v1/apps/{app}/env")).await?;
    let names: Vec<Value> = env["vars"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| json!({ "name": v["name"], "scope": v["scope"] }))
        .collect();
    Ok(json!({
        "app": app,
        "source_path": summary["source_path"],
        "url": summary["url"],
        "live": releases["live"],
        "releases": releases["releases"].as_array().map_or(0, Vec::len),
        "env": names,
    }))
}

async fn latest(ferry: &Ferry, cx: &Context, app: &str) -> Result<Value, ToolError> {
    let doc = cx
        .get(ferry, &format!("/api/v1/apps/{app}/releases"))
        .await?;
    let newest = doc["releases"]
        .as_array()
        .and_then(|r| r.iter().max_by_key(|x| x["created_at"].as_u64()).cloned())
        .unwrap_or(Value::Null);
    Ok(json!({ "app": app, "latest": newest, "live": doc["live"] }))
}
