//! package.json parsing never panics.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ferry_inspect::package_json::PackageJson::parse("package.json", text.to_string());
    }
});
