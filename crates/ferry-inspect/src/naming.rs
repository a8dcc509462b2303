//! App and unit names.

/// Package names the builders' templates ship with; they say nothing about the app.
pub const TEMPLATE_NAMES: &[&str] = &[
    "vite_react_shadcn_ts",
    "vite-react-typescript-starter",
    "base44-app",
    "my-v0-project",
    "rest-express",
    "workspace",
    "frontend",
];

/// Makes `text` a slug: lowercase ASCII letters, digits and single `-`, at most 63 characters.
/// Returns `app` when nothing usable is left.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim_start_matches('@').chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.trim_end_matches('-').chars().take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "app".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs() {
        assert_eq!(slug("My Cool App!"), "my-cool-app");
        assert_eq!(slug("@acme/web"), "acme-web");
        assert_eq!(slug("vite_react_shadcn_ts"), "vite-react-shadcn-ts");
        assert_eq!(slug("---"), "app");
        assert_eq!(slug("é"), "app");
        assert_eq!(slug(&"a".repeat(100)).len(), 63);
    }
}
