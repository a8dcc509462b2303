//! Where Base44 records come from: the live entities API ([`super::live`]) or an export folder
//! ([`super::export`]), behind one [`RecordSource`].

use serde_json::{Map, Value};

use super::Base44Error;
use super::export::Export;
use super::live::Live;

/// One record, as the source gives it.
pub type Record = Map<String, Value>;

/// What a source says about its entities.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The entities to pull, in order.
    pub entities: Vec<String>,
    /// Schema files found with the source, as (file name, JSONC text).
    pub schemas: Vec<(String, String)>,
    /// Where the schemas came from (`entity-schemas API`, a folder), when any.
    pub schemas_from: Option<String>,
}

/// A page of records and the bytes they took at the source.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The records, in the source's stable order.
    pub records: Vec<Record>,
    /// Bytes read (the JSON of the page, or the share of the file).
    pub bytes: u64,
    /// Whether this is the entity's last page.
    pub last: bool,
}

/// A source of records.
pub enum RecordSource {
    /// The live API.
    Live(Live),
    /// An export folder.
    Export(Export),
}

impl RecordSource {
    /// The entities (and schemas) the source offers.
    pub async fn catalog(&self) -> Result<Catalog, Base44Error> {
        match self {
            RecordSource::Live(live) => live.catalog().await,
            RecordSource::Export(export) => export.catalog(),
        }
    }

    /// Records `offset..offset + limit` of `entity` (fewer on the last page).
    pub async fn page(&self, entity: &str, offset: u64, limit: usize) -> Result<Page, Base44Error> {
        match self {
            RecordSource::Live(live) => live.page(entity, offset, limit).await,
            RecordSource::Export(export) => export.page(entity, offset, limit),
        }
    }

    /// How many records a page holds: the API's 500, or a few thousand from a file.
    pub fn page_size(&self) -> usize {
        match self {
            RecordSource::Live(_) => super::live::PAGE,
            RecordSource::Export(_) => super::export::PAGE,
        }
    }

    /// The host the live source's own file URLs are on (`host` without port).
    pub fn own_host(&self) -> Option<String> {
        match self {
            RecordSource::Live(live) => live.host(),
            RecordSource::Export(_) => None,
        }
    }
}
