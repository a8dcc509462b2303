//! Precompressed variants (brotli, gzip), made once per content at release time and kept
//! beside the blob store in `$FERRY_HOME/variants/<2 hex>/<hash>.br|.gz`. Content-addressed
//! like the blobs, so a variant is computed once for every release that shares the file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ferry_release::{BlobHash, BlobStore, ReleaseManifest};

/// Files smaller than this are not worth compressing.
pub const MIN_SIZE: u64 = 256;
/// Files larger than this get a faster brotli level.
const LARGE: u64 = 1024 * 1024;

/// Which variants exist for one content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Variants {
    /// A `.br` file exists.
    pub br: bool,
    /// A `.gz` file exists.
    pub gzip: bool,
}

/// Variants by content hash, for the files of some releases.
pub type VariantMap = HashMap<BlobHash, Variants>;

/// Whether a content type compresses well.
pub fn compressible(content_type: &str) -> bool {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    ct.starts_with("text/")
        || matches!(
            ct,
            "application/javascript"
                | "application/json"
                | "application/manifest+json"
                | "application/xml"
                | "application/wasm"
                | "image/svg+xml"
                | "application/x-javascript"
        )
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
}

/// Where the variants of content `hash` live.
pub fn variant_path(root: &Path, hash: &BlobHash, ext: &str) -> PathBuf {
    let h = hash.as_str();
    root.join(&h[..2]).join(format!("{h}.{ext}"))
}

/// Makes the missing variants of every compressible file of `manifest`. A variant that does
/// not save at least 5% is recorded as an empty marker file so it is not tried again.
pub fn make(root: &Path, blobs: &BlobStore, manifest: &ReleaseManifest) -> std::io::Result<usize> {
    let mut made = 0;
    // Only what the edge may serve as a file: not a server unit's tree.
    let served = manifest.served_files().map(|(_, e)| e);
    for entry in served {
        if entry.link.is_some() || entry.size < MIN_SIZE || !compressible(&entry.content_type) {
            continue;
        }
        let br = variant_path(root, &entry.hash, "br");
        let gz = variant_path(root, &entry.hash, "gz");
        if br.exists() && gz.exists() {
            continue;
        }
        let Ok(content) = blobs.read(&entry.hash) else {
            continue;
        };
        if let Some(parent) = br.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if !br.exists() {
            let quality = if entry.size > LARGE { 9 } else { 11 };
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, quality, 22);
                w.write_all(&content)?;
            }
            write_variant(&br, &out, content.len())?;
            made += 1;
        }
        if !gz.exists() {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            w.write_all(&content)?;
            write_variant(&gz, &w.finish()?, content.len())?;
            made += 1;
        }
    }
    Ok(made)
}

fn write_variant(path: &Path, bytes: &[u8], original: usize) -> std::io::Result<()> {
    let worth = bytes.len() * 100 <= original * 95;
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temp, if worth { bytes } else { &[] })?;
    std::fs::rename(&temp, path)
}

/// The variants available for the files of `manifests` (empty markers do not count).
pub fn load(root: &Path, manifests: &[&ReleaseManifest]) -> VariantMap {
    let mut map = VariantMap::new();
    for m in manifests {
        let served = m.served_files().map(|(_, e)| e);
        for entry in served {
            if map.contains_key(&entry.hash)
                || !compressible(&entry.content_type)
                || entry.size < MIN_SIZE
            {
                continue;
            }
            let has = |ext| {
                std::fs::metadata(variant_path(root, &entry.hash, ext)).is_ok_and(|m| m.len() > 0)
            };
            let v = Variants {
                br: has("br"),
                gzip: has("gz"),
            };
            if v.br || v.gzip {
                map.insert(entry.hash.clone(), v);
            }
        }
    }
    map
}

/// Removes variants whose content is no longer stored (after garbage collection).
pub fn prune(root: &Path, blobs: &BlobStore) -> std::io::Result<usize> {
    let mut removed = 0;
    let Ok(shards) = std::fs::read_dir(root) else {
        return Ok(0);
    };
    for shard in shards.flatten() {
        let Ok(files) = std::fs::read_dir(shard.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            let stem = name.split('.').next().unwrap_or("");
            let keep = BlobHash::parse(stem).is_ok_and(|h| blobs.has(&h));
            if !keep {
                std::fs::remove_file(file.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// The encoding to answer with, from `Accept-Encoding` and what exists: brotli first.
pub fn negotiate(accept: Option<&str>, available: Variants) -> Option<&'static str> {
    let accept = accept?;
    let accepts = |name: &str| {
        accept.split(',').any(|part| {
            let mut pieces = part.trim().split(';');
            let coding = pieces.next().unwrap_or("").trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case(name) || coding == "*") && q > 0.0
        })
    };
    if available.br && accepts("br") {
        Some("br")
    } else if available.gzip && accepts("gzip") {
        Some("gzip")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_brotli_and_honours_q_zero() {
        let both = Variants {
            br: true,
            gzip: true,
        };
        assert_eq!(negotiate(Some("gzip, deflate, br"), both), Some("br"));
        assert_eq!(negotiate(Some("gzip"), both), Some("gzip"));
        assert_eq!(negotiate(Some("br;q=0, gzip"), both), Some("gzip"));
        assert_eq!(negotiate(Some("identity"), both), None);
        assert_eq!(negotiate(None, both), None);
        assert_eq!(
            negotiate(
                Some("*"),
                Variants {
                    br: false,
                    gzip: true
                }
            ),
            Some("gzip")
        );
        assert_eq!(negotiate(Some("br"), Variants::default()), None);
    }

    #[test]
    fn what_compresses() {
        assert!(compressible("text/html; charset=utf-8"));
        assert!(compressible("application/javascript; charset=utf-8"));
        assert!(compressible("image/svg+xml"));
        assert!(!compressible("image/png"));
        assert!(!compressible("font/woff2"));
    }
}
