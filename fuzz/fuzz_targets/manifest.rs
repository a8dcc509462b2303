//! `ferry.toml` parsing never panics; errors are always single-line.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(err) = ferry_inspect::Manifest::parse(text)
    {
        assert!(!err.to_string().contains('\n'), "{err}");
    }
});
