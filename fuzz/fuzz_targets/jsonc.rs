//! JSONC stripping and parsing never panics, and stripping keeps the line count.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let stripped = ferry_inspect::jsonc::strip(text);
        assert_eq!(stripped.lines().count(), text.lines().count());
        let _ = ferry_inspect::jsonc::parse(text);
    }
});
