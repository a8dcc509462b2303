//! Hostile inputs, generated at test time so that no nasty file lives in the repository.

use std::fs;
use std::io::Write;
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

fn writer(path: &Path) -> ZipWriter<fs::File> {
    ZipWriter::new(fs::File::create(path).expect("create zip"))
}

fn stored() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
}

fn add(zip: &mut ZipWriter<fs::File>, name: &str, body: &[u8], options: SimpleFileOptions) {
    zip.start_file(name, options).expect("start entry");
    zip.write_all(body).expect("write entry");
}

/// A small, valid export: a Vite app in a top-level folder.
pub fn valid_zip(path: &Path) {
    let mut zip = writer(path);
    add(&mut zip, "my-export/package.json", br#"{"name":"zipped-app","scripts":{"build":"vite build"},"devDependencies":{"vite":"^5.4.0"}}"#, stored());
    add(
        &mut zip,
        "my-export/index.html",
        b"<!doctype html><div id=root></div>",
        stored(),
    );
    zip.finish().expect("finish");
}

/// An entry that climbs out of the extraction folder (`../../evil-zip-slip.txt`).
pub fn zip_slip(path: &Path) {
    let mut zip = writer(path);
    add(&mut zip, "package.json", b"{}", stored());
    add(&mut zip, "../../evil-zip-slip.txt", b"owned", stored());
    zip.finish().expect("finish");
}

/// An entry with an absolute path.
pub fn absolute_path(path: &Path, target: &Path) {
    let mut zip = writer(path);
    add(&mut zip, "package.json", b"{}", stored());
    add(&mut zip, &target.display().to_string(), b"owned", stored());
    zip.finish().expect("finish");
}

/// A symbolic link pointing outside the archive, then a file written through it.
pub fn symlink_escape(path: &Path) {
    let mut zip = writer(path);
    add(&mut zip, "package.json", b"{}", stored());
    zip.add_symlink("escape", "../../../../../../tmp", stored())
        .expect("symlink");
    add(&mut zip, "escape/evil-through-link.txt", b"owned", stored());
    zip.finish().expect("finish");
}

/// One highly compressible entry of `mib` MiB of zeros.
pub fn zip_bomb(path: &Path, mib: usize) {
    let mut zip = writer(path);
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    zip.start_file("zeros.bin", options).expect("start");
    let chunk = vec![0u8; 1024 * 1024];
    for _ in 0..mib {
        zip.write_all(&chunk).expect("write");
    }
    zip.finish().expect("finish");
}

/// An entry marked encrypted (the general-purpose flag's bit 0 set in both headers).
pub fn encrypted(path: &Path) {
    let mut zip = writer(path);
    add(&mut zip, "secret.txt", b"not really encrypted", stored());
    zip.finish().expect("finish");
    let mut bytes = fs::read(path).expect("read zip");
    patch_flag(&mut bytes, b"PK\x03\x04", 6);
    patch_flag(&mut bytes, b"PK\x01\x02", 8);
    fs::write(path, bytes).expect("write zip");
}

fn patch_flag(bytes: &mut [u8], signature: &[u8], offset: usize) {
    let at = bytes
        .windows(4)
        .position(|w| w == signature)
        .expect("header present");
    bytes[at + offset] |= 1;
}

/// An entry whose name is Latin-1 (`caf\xe9.txt`), not UTF-8.
pub fn non_utf8_name(path: &Path) {
    let mut zip = writer(path);
    add(&mut zip, "package.json", b"{}", stored());
    add(&mut zip, "cafQ.txt", b"latin-1", stored());
    zip.finish().expect("finish");
    let mut bytes = fs::read(path).expect("read zip");
    let mut i = 0;
    while i + 4 <= bytes.len() {
        if &bytes[i..i + 4] == b"cafQ" {
            bytes[i + 3] = 0xE9;
        }
        i += 1;
    }
    fs::write(path, bytes).expect("write zip");
}

/// A file that is not a zip at all but is named like one (a truncated download).
pub fn truncated_zip(path: &Path) {
    valid_zip(path);
    let bytes = fs::read(path).expect("read");
    fs::write(path, &bytes[..bytes.len() / 2]).expect("write");
}

/// A folder holding a file whose name is not UTF-8.
#[cfg(unix)]
pub fn non_utf8_folder(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    fs::create_dir_all(dir.join("src")).expect("mkdir");
    fs::write(dir.join("package.json"), b"{}").expect("write");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    fs::write(dir.join("src").join(name), b"x").expect("write");
}

/// A Vite app whose `file` holds `body` (for malformed-manifest cases).
pub fn app_with(dir: &Path, file: &str, body: &str) {
    fs::create_dir_all(dir).expect("mkdir");
    fs::write(
        dir.join("package.json"),
        r#"{"name":"hostile","scripts":{"build":"vite build"},"devDependencies":{"vite":"^5.4.0"}}"#,
    )
    .expect("write");
    let target = dir.join(file);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(target, body).expect("write");
}
