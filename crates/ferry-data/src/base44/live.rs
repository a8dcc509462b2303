//! The live source: Base44's entities API (or any server speaking it, such as ferry's own),
//! paged the way Base44's CLI does (`data pull`): `GET {api}/api/apps/{id}/entities/{Name}
//! ?limit=500&skip=N`, with `X-App-Id`, `Authorization: Bearer <token>` and, for dev data,
//! `X-Data-Env: dev`. Pages are sorted by `created_date` then `id` for a stable order; a
//! server that refuses the two-key sort is asked for `created_date` alone.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use ferry_compat::base44::integrations::http::{self as client, HttpError};
use http::header::{AUTHORIZATION, HeaderName};
use serde_json::Value;

use super::Base44Error;
use super::source::{Catalog, Page, Record};

/// Records per page (Base44's CLI uses 500).
pub const PAGE: usize = 500;

/// The time one page may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The largest page body read (256 MiB).
const MAX_PAGE_BYTES: usize = 256 << 20;

/// The sort orders tried, stable first.
const SORTS: [&str; 2] = ["created_date,id", "created_date"];

/// A live Base44 app.
pub struct Live {
    api: String,
    app_id: String,
    token: String,
    dev: bool,
    schemas_dir: Option<PathBuf>,
    named: Vec<String>,
    /// The index in [`SORTS`] the server accepts.
    sort: Mutex<usize>,
}

impl Live {
    /// The app `app_id` at `api` (`https://base44.app`), read with `token`; `dev` selects the
    /// dev data; `schemas_dir` and `named` are the fallbacks when the API has no schema
    /// catalog.
    pub fn new(
        api: &str,
        app_id: &str,
        token: &str,
        dev: bool,
        schemas_dir: Option<PathBuf>,
        named: Vec<String>,
    ) -> Live {
        Live {
            api: api.trim_end_matches('/').to_string(),
            app_id: app_id.to_string(),
            token: token.to_string(),
            dev,
            schemas_dir,
            named,
            sort: Mutex::new(0),
        }
    }

    /// The API's host name (file URLs on it are the app's own uploads).
    pub fn host(&self) -> Option<String> {
        let rest = self.api.split_once("://")?.1;
        let authority = rest.split('/').next()?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next()?.to_string(),
            None => authority.split(':').next()?.to_string(),
        };
        Some(host.to_ascii_lowercase())
    }

    fn headers(&self) -> Vec<(HeaderName, String)> {
        let mut headers = vec![
            (HeaderName::from_static("x-app-id"), self.app_id.clone()),
            (AUTHORIZATION, format!("Bearer {}", self.token)),
        ];
        if self.dev {
            headers.push((HeaderName::from_static("x-data-env"), "dev".into()));
        }
        headers
    }

    async fn get(&self, path_and_query: &str) -> Result<(u16, bytes::Bytes), Base44Error> {
        let url = format!("{}/api/apps/{}/{path_and_query}", self.api, self.app_id);
        let shown = client::redact(&url);
        let answer = client::send(
            http::Method::GET,
            &url,
            &self.headers(),
            None,
            TIMEOUT,
            MAX_PAGE_BYTES,
        )
        .await
        .map_err(|e| match e {
            HttpError::BadUrl(_) => Base44Error::BadSource(format!(
                "the Base44 API URL `{}` is not http(s)://host",
                client::redact(&self.api)
            )),
            other => Base44Error::Unreachable {
                url: shown.clone(),
                detail: other.to_string(),
            },
        })?;
        if matches!(answer.status, 401 | 403) {
            return Err(Base44Error::Unauthorized {
                url: shown,
                status: answer.status,
            });
        }
        Ok((answer.status, answer.body))
    }

    /// The entities and schemas: the API's `entity-schemas` when it answers, else the
    /// `--schemas` folder, else the entities named with `--entity`.
    pub async fn catalog(&self) -> Result<Catalog, Base44Error> {
        let (status, body) = self.get("entity-schemas").await?;
        let mut catalog = Catalog::default();
        if status == 200
            && let Ok(doc) = serde_json::from_slice::<Value>(&body)
        {
            let schemas: Vec<(String, Value)> = match doc {
                Value::Object(mut map) => {
                    let inner = map
                        .remove("entityNameToSchema")
                        .or_else(|| map.remove("entities"));
                    match inner {
                        Some(Value::Object(m)) => m.into_iter().collect(),
                        Some(Value::Array(items)) => named_items(items),
                        _ => map.into_iter().collect(),
                    }
                }
                Value::Array(items) => named_items(items),
                _ => Vec::new(),
            };
            for (name, mut schema) in schemas {
                if let Value::Object(obj) = &mut schema {
                    obj.entry("name")
                        .or_insert_with(|| Value::String(name.clone()));
                }
                catalog.entities.push(name.clone());
                catalog
                    .schemas
                    .push((format!("{name}.json"), schema.to_string()));
            }
            if !catalog.entities.is_empty() {
                catalog.schemas_from = Some("the entity-schemas API".into());
            }
        }
        if catalog.entities.is_empty()
            && let Some(dir) = &self.schemas_dir
        {
            catalog = folder_catalog(dir)?;
        }
        if !self.named.is_empty() {
            if catalog.entities.is_empty() {
                catalog.entities = self.named.clone();
            } else {
                for name in &self.named {
                    if !catalog.entities.contains(name) && name != "User" {
                        return Err(Base44Error::UnknownEntity {
                            name: name.clone(),
                            known: catalog.entities.join(", "),
                        });
                    }
                }
                catalog.entities = self.named.clone();
            }
        }
        let Some(first) = catalog.entities.first() else {
            return Err(Base44Error::NoEntities(
                "the API offers no entity-schemas catalog".into(),
            ));
        };
        // The token and the app are checked before anything is written to the target.
        self.page(first, 0, 1).await?;
        Ok(catalog)
    }

    /// One page of `entity`.
    pub async fn page(&self, entity: &str, offset: u64, limit: usize) -> Result<Page, Base44Error> {
        loop {
            let sort_at = *self.sort.lock().map_err(|_| poisoned())?;
            let query = format!(
                "entities/{entity}?limit={limit}&skip={offset}&sort={}",
                SORTS[sort_at].replace(',', "%2C")
            );
            let (status, body) = self.get(&query).await?;
            if status == 400 && sort_at + 1 < SORTS.len() {
                *self.sort.lock().map_err(|_| poisoned())? = sort_at + 1;
                continue;
            }
            let url = client::redact(&format!(
                "{}/api/apps/{}/entities/{entity}",
                self.api, self.app_id
            ));
            if status != 200 {
                let text = String::from_utf8_lossy(&body);
                return Err(Base44Error::Http {
                    url,
                    status,
                    detail: text.chars().take(200).collect(),
                });
            }
            let records = parse_page(&body).map_err(|detail| Base44Error::Http {
                url,
                status,
                detail,
            })?;
            return Ok(Page {
                last: records.len() < limit,
                records,
                bytes: body.len() as u64,
            });
        }
    }
}

fn poisoned() -> Base44Error {
    Base44Error::Checkpoint("a lock was poisoned".into())
}

/// Schemas given as a list of objects with `name`.
fn named_items(items: Vec<Value>) -> Vec<(String, Value)> {
    items
        .into_iter()
        .filter_map(|item| {
            let name = item.get("name")?.as_str()?.to_string();
            Some((name, item))
        })
        .collect()
}

/// A page body: a JSON array of records (or `{items|data|records: [...]}`).
fn parse_page(body: &[u8]) -> Result<Vec<Record>, String> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| format!("the page is not JSON: {e}"))?;
    let items = match doc {
        Value::Array(items) => items,
        Value::Object(mut map) => match ["items", "data", "records"]
            .iter()
            .find_map(|k| map.remove(*k))
        {
            Some(Value::Array(items)) => items,
            _ => return Err("the page is not a JSON array of records".into()),
        },
        _ => return Err("the page is not a JSON array of records".into()),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(map) => Ok(map),
            _ => Err(format!(
                "item {i} of the page is not a record (JSON object)"
            )),
        })
        .collect()
}

/// The schema files of a `base44/entities` folder, as a catalog (the built-in `User` only when
/// the folder has a `User` schema).
pub fn folder_catalog(dir: &Path) -> Result<Catalog, Base44Error> {
    let io = |e: std::io::Error| Base44Error::Io {
        path: dir.to_path_buf(),
        detail: e.to_string(),
    };
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.starts_with('.') && (name.ends_with(".jsonc") || name.ends_with(".json")) {
            names.push(name);
        }
    }
    names.sort();
    let mut catalog = Catalog {
        schemas_from: Some(dir.display().to_string()),
        ..Catalog::default()
    };
    for name in names {
        let path = dir.join(&name);
        let text = std::fs::read_to_string(&path).map_err(|e| Base44Error::Io {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let entity = ferry_compat::base44::schema::parse_entity(&name, &text)?;
        catalog.entities.push(entity.name);
        catalog.schemas.push((name, text));
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_the_api() {
        let live = |api: &str| Live::new(api, "a", "t", false, None, Vec::new());
        assert_eq!(
            live("https://base44.app").host().as_deref(),
            Some("base44.app")
        );
        assert_eq!(
            live("http://127.0.0.1:8080/").host().as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(live("http://[::1]:80").host().as_deref(), Some("::1"));
    }

    #[test]
    fn pages_are_arrays_of_objects() {
        assert_eq!(parse_page(b"[{\"id\":\"a\"}]").map(|r| r.len()), Ok(1));
        assert_eq!(parse_page(b"{\"items\":[]}").map(|r| r.len()), Ok(0));
        assert!(parse_page(b"[1]").is_err());
        assert!(parse_page(b"<html>").is_err());
    }
}
