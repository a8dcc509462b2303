//! The one error a tool answers: the API's `{code, message, hint}`.

use serde::Serialize;
use serde_json::Value;

/// A tool's failure, answered as an MCP tool result with `isError: true`.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ToolError {
    /// Stable kebab-case code (the API's, when the API refused).
    pub code: String,
    /// One line.
    pub message: String,
    /// What to do next.
    pub hint: String,
    /// The HTTP status the API answered, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl ToolError {
    /// A new error.
    pub fn new(code: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        ToolError {
            code: code.into(),
            message: message.into(),
            hint: hint.into(),
            status: None,
        }
    }

    /// Bad tool input.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            "invalid-input",
            message,
            "check the tool's input schema (tools/list)",
        )
    }

    /// The API's error body `{code, message, hint}` with its status.
    pub fn from_api(status: u16, body: &Value) -> Self {
        let error = body;
        let text = |key: &str, default: &str| {
            error[key]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or(default)
                .to_string()
        };
        ToolError {
            code: text("code", "api-error"),
            message: text("message", &format!("the API answered {status}")),
            hint: text("hint", "see the server log"),
            status: Some(status),
        }
    }

    /// The JSON a tool result carries.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
