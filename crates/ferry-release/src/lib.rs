//! Content-addressed blob store (BLAKE3), release manifests, verification and garbage
//! collection. This crate knows files and hashes; it knows nothing about HTTP.
//!
//! # On-disk layout
//!
//! ```text
//! $FERRY_HOME/
//!   blobs/                      BlobStore
//!     af/1349b9f5f9a1…3262      one read-only (0444) file per distinct content, named by its
//!                               BLAKE3 hash: 2 hex characters of folder, 62 of file name
//!     .tmp-XXXXXX               a blob being written (renamed into place when complete)
//!   releases/                   ReleaseStore
//!     r1a2b3c4d5e6f.json        one read-only manifest per release, never overwritten
//!     .tmp-XXXXXX               a manifest being written
//! ```
//!
//! Every write goes to a temporary file in the destination's file system, is flushed
//! (`fsync`), made read-only and renamed into place (manifests: linked, so an existing one is
//! never replaced), then the folder is flushed. A name therefore always holds complete
//! content. Hashes and ids are validated before they become paths, so nothing read from the
//! network or from disk can make the stores touch a file outside their folders.
//!
//! # Flow
//!
//! 1. [`scan_dir`] hashes a build's artifact folder into [`FileEntry`]s (nothing stored).
//! 2. [`store_files`] puts the blobs that are not stored yet (remotely: the client asks
//!    [`BlobStore::missing`], then uploads through [`BlobStore::put_bytes`]).
//! 3. [`ReleaseManifest::new`] computes the content-derived [`release_id`];
//!    [`ReleaseStore::save`] validates and records it.
//! 4. [`verify_release`] re-hashes a release's blobs; [`retention`] picks what to keep and
//!    [`gc`] removes the rest.
//!
//! The manifest format is documented in `docs/formats/release-manifest.md`.

mod backend;
mod blob;
mod error;
mod fsutil;
mod gc;
mod hash;
mod manifest;
mod materialize;
pub mod rules;
mod scan;
mod store;

pub use backend::{
    Backend, Base44Backend, Base44Function, MAX_FUNCTION_BYTES, MAX_FUNCTION_FILES, MAX_FUNCTIONS,
    MAX_PROCESSES, PRIVATE_DIR, ProcessEntry, ProcessLimits, ProcessesBackend, UNITS_DIR,
    is_function_name,
};
pub use blob::{BlobStore, Put};
pub use error::ReleaseError;
pub use gc::{DEFAULT_KEEP_LAST, GcStats, gc, retention, verify_release};
pub use hash::BlobHash;
pub use manifest::{
    BuildInfo, FileEntry, MANIFEST_SCHEMA, MANIFEST_VERSION, ReleaseManifest, Routes, SourceRef,
    is_release_id, release_id, release_id_with, validate_path,
};
pub use materialize::{materialize, remove_materialized};
pub use rules::Rules;
pub use scan::{StoreStats, content_type, scan_dir, store_files};
pub use store::{ReleaseListing, ReleaseProblem, ReleaseStore};
