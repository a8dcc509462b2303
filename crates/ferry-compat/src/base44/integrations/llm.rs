//! The OpenAI-compatible endpoint `Core.InvokeLLM`, `Core.GenerateImage` and
//! `Core.ExtractDataFromUploadedFile` go through: `POST {base}/chat/completions` and
//! `POST {base}/images/generations`, where `{base}` is the configured URL (`/v1` appended
//! when it has no path).

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::http::{self, HttpError, redact};

/// How long one LLM call may take.
pub const LLM_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest answer read from the endpoint (generated images come base64-encoded).
pub const MAX_LLM_ANSWER: usize = 32 << 20;

/// The endpoint an app's owner configured (`FERRY_LLM_URL`, `FERRY_LLM_API_KEY`,
/// `FERRY_LLM_MODEL`, `FERRY_LLM_IMAGE_MODEL`).
#[derive(Clone, PartialEq, Eq)]
pub struct LlmConfig {
    /// The base URL: `http://host:port` (then `/v1` is added) or one with a path such as
    /// `https://api.example.com/v1`.
    pub url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// The chat model; omitted from requests when unset (single-model servers).
    pub model: Option<String>,
    /// The image model; omitted when unset.
    pub image_model: Option<String>,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("url", &redact(&self.url))
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("model", &self.model)
            .field("image_model", &self.image_model)
            .finish()
    }
}

/// Why an LLM call gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The endpoint could not be reached or read.
    #[error("the LLM endpoint: {0}")]
    Http(#[from] HttpError),
    /// The endpoint answered with an error status.
    #[error("the LLM endpoint answered {status}: {message}")]
    Status {
        /// Its HTTP status.
        status: u16,
        /// Its error message (`error.message`), shortened.
        message: String,
    },
    /// The answer is not what an OpenAI-compatible endpoint sends.
    #[error("the LLM endpoint's answer is not understood: {0}")]
    BadAnswer(String),
    /// The model's text is not JSON of the type the schema asks for.
    #[error(
        "the model's answer is not JSON matching the schema (a top-level {expected}): {detail}"
    )]
    NotMatching {
        /// The schema's top-level type.
        expected: String,
        /// What was wrong.
        detail: String,
    },
}

impl LlmError {
    /// A stable code for the API's error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            LlmError::Http(_) => "llm-unreachable",
            LlmError::Status { .. } => "llm-error",
            LlmError::BadAnswer(_) => "llm-bad-answer",
            LlmError::NotMatching { .. } => "llm-bad-json",
        }
    }
}

impl LlmConfig {
    /// `{base}/{rel}` with `/v1` added to a base without a path.
    pub fn endpoint(&self, rel: &str) -> String {
        let mut base = self.url.trim().trim_end_matches('/').to_string();
        for suffix in ["/chat/completions", "/images/generations"] {
            if let Some(stripped) = base.strip_suffix(suffix) {
                base = stripped.to_string();
            }
        }
        let has_path = base
            .split_once("://")
            .is_some_and(|(_, rest)| rest.contains('/'));
        if has_path {
            format!("{base}/{rel}")
        } else {
            format!("{base}/v1/{rel}")
        }
    }

    async fn post(&self, rel: &str, body: &Value) -> Result<Value, LlmError> {
        let mut headers = Vec::new();
        if let Some(key) = self.api_key.as_deref().filter(|k| !k.is_empty()) {
            headers.push((::http::header::AUTHORIZATION, format!("Bearer {key}")));
        }
        let bytes = serde_json::to_vec(body).map_err(|e| LlmError::BadAnswer(e.to_string()))?;
        let answer = http::send(
            ::http::Method::POST,
            &self.endpoint(rel),
            &headers,
            Some(("application/json", bytes)),
            LLM_TIMEOUT,
            MAX_LLM_ANSWER,
        )
        .await?;
        let value: Option<Value> = serde_json::from_slice(&answer.body).ok();
        if !(200..300).contains(&answer.status) {
            let message = value
                .as_ref()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .or_else(|| v.get("error"))
                        .or_else(|| v.get("message"))
                })
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).into_owned());
            return Err(LlmError::Status {
                status: answer.status,
                message: message.chars().take(300).collect(),
            });
        }
        value.ok_or_else(|| LlmError::BadAnswer("not JSON".into()))
    }

    /// One chat completion of a user message made of `content` (a string, or OpenAI content
    /// parts); with `schema`, asks for JSON matching it and answers the parsed value (checked
    /// against the schema's top-level type), else the model's text as a JSON string.
    pub async fn chat(&self, content: Value, schema: Option<&Value>) -> Result<Value, LlmError> {
        let mut body = Map::new();
        if let Some(model) = &self.model {
            body.insert("model".into(), json!(model));
        }
        body.insert(
            "messages".into(),
            json!([{"role": "user", "content": content}]),
        );
        if let Some(schema) = schema {
            body.insert(
                "response_format".into(),
                json!({
                    "type": "json_schema",
                    "json_schema": {"name": schema_name(schema), "schema": schema, "strict": false},
                }),
            );
        }
        let answer = self.post("chat/completions", &Value::Object(body)).await?;
        let text = answer
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| LlmError::BadAnswer("no choices[0].message.content".into()))?;
        match schema {
            None => Ok(Value::String(text.to_string())),
            Some(schema) => parse_against(text, schema),
        }
    }

    /// One generated image (PNG or whatever the endpoint makes) for `prompt`.
    pub async fn image(&self, prompt: &str) -> Result<Vec<u8>, LlmError> {
        use base64::Engine as _;
        let mut body = Map::new();
        if let Some(model) = &self.image_model {
            body.insert("model".into(), json!(model));
        }
        body.insert("prompt".into(), json!(prompt));
        body.insert("n".into(), json!(1));
        body.insert("response_format".into(), json!("b64_json"));
        let answer = self
            .post("images/generations", &Value::Object(body))
            .await?;
        if let Some(b64) = answer.pointer("/data/0/b64_json").and_then(Value::as_str) {
            return base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| LlmError::BadAnswer(format!("data[0].b64_json: {e}")));
        }
        if let Some(url) = answer.pointer("/data/0/url").and_then(Value::as_str) {
            let image = http::send(
                ::http::Method::GET,
                url,
                &[],
                None,
                LLM_TIMEOUT,
                MAX_LLM_ANSWER,
            )
            .await?;
            if !(200..300).contains(&image.status) {
                return Err(LlmError::Status {
                    status: image.status,
                    message: format!("downloading {}", redact(url)),
                });
            }
            return Ok(image.body.to_vec());
        }
        Err(LlmError::BadAnswer(
            "no data[0].b64_json or data[0].url".into(),
        ))
    }
}

/// The `json_schema.name` OpenAI wants (`[a-zA-Z0-9_-]{1,64}`): the schema's `title`,
/// cleaned, else `response`.
fn schema_name(schema: &Value) -> String {
    let name: String = schema
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.trim_matches('_').is_empty() {
        "response".into()
    } else {
        name
    }
}

/// The model's `text` parsed as JSON (inside a ```json fence or not) and checked against the
/// schema's top-level `type`.
pub fn parse_against(text: &str, schema: &Value) -> Result<Value, LlmError> {
    let expected = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
        .to_string();
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|t| t.strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    let value: Value = serde_json::from_str(inner).map_err(|e| LlmError::NotMatching {
        expected: expected.clone(),
        detail: format!("not JSON ({e})"),
    })?;
    let ok = match expected.as_str() {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    };
    if ok {
        Ok(value)
    } else {
        Err(LlmError::NotMatching {
            detail: format!("got {}", type_name(&value)),
            expected,
        })
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> LlmConfig {
        LlmConfig {
            url: url.into(),
            api_key: None,
            model: None,
            image_model: None,
        }
    }

    #[test]
    fn endpoints() {
        let c = |u: &str| config(u).endpoint("chat/completions");
        assert_eq!(
            c("http://127.0.0.1:9"),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(
            c("http://127.0.0.1:9/"),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(
            c("https://api.x.com/v1"),
            "https://api.x.com/v1/chat/completions"
        );
        assert_eq!(
            c("https://api.x.com/v1/chat/completions"),
            "https://api.x.com/v1/chat/completions"
        );
        assert_eq!(
            c("http://h/openai/v1/"),
            "http://h/openai/v1/chat/completions"
        );
    }

    #[test]
    fn answers_are_checked_against_the_schema_type() {
        let object = json!({"type": "object"});
        assert_eq!(
            parse_against("{\"a\":1}", &object).expect("ok"),
            json!({"a": 1})
        );
        assert_eq!(
            parse_against("```json\n{\"a\":1}\n```", &object).expect("fenced"),
            json!({"a": 1})
        );
        assert!(matches!(
            parse_against("[1]", &object),
            Err(LlmError::NotMatching { .. })
        ));
        assert!(matches!(
            parse_against("sure! {", &object),
            Err(LlmError::NotMatching { .. })
        ));
        assert_eq!(
            parse_against("[1]", &json!({"type": "array"})).expect("array"),
            json!([1])
        );
        assert_eq!(schema_name(&json!({"title": "My result!"})), "My_result_");
        assert_eq!(schema_name(&json!({})), "response");
    }

    #[test]
    fn the_key_is_never_shown() {
        let mut c = config("http://u:p@h/v1");
        c.api_key = Some("sk-secret".into());
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("sk-secret") && !shown.contains("u:p"),
            "{shown}"
        );
    }
}
