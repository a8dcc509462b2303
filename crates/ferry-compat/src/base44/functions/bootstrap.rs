//! The module each function's Deno process runs: it replaces `Deno.serve` so that the entry's
//! own `Deno.serve(handler)` (any of its three call forms) binds `127.0.0.1:$PORT`, the port
//! ferry chose, quietly; answers ferry's health check at [`HEALTH_PATH`] without calling the
//! function; then imports the entry module named by [`ENTRY_ENV`] (a `file://` URL), whose
//! top level calls `Deno.serve`.

/// The bootstrap's file name, written beside the function's folders.
pub const BOOTSTRAP_FILE: &str = "_ferry_bootstrap.mjs";

/// The variable holding the entry module's `file://` URL.
pub const ENTRY_ENV: &str = "FERRY_FUNCTION_ENTRY";

/// The path of the health check the bootstrap answers itself (204). ferry forwards callers to
/// `/api/apps/…` paths only, so no caller reaches it.
pub const HEALTH_PATH: &str = "/.ferry/function-health";

/// The bootstrap module's source.
pub fn bootstrap_module() -> String {
    format!(
        r#"// Written by ferry: runs a Base44 backend function on the port ferry chose.
const port = Number(Deno.env.get("PORT"));
const entry = Deno.env.get("{ENTRY_ENV}");
if (!Number.isInteger(port) || port <= 0 || !entry) {{
  throw new Error("ferry: PORT and {ENTRY_ENV} must be set");
}}
const serve = Deno.serve.bind(Deno);
let served = false;
Deno.serve = (first, second) => {{
  let options = {{}};
  let handler;
  if (typeof first === "function") {{
    handler = first;
  }} else if (typeof second === "function") {{
    options = first ?? {{}};
    handler = second;
  }} else {{
    options = first ?? {{}};
    handler = options.handler;
  }}
  if (typeof handler !== "function") {{
    throw new TypeError("Deno.serve needs a handler");
  }}
  if (served) {{
    throw new Error("ferry runs one Deno.serve per function");
  }}
  served = true;
  const answer = (req, info) => {{
    if (new URL(req.url).pathname === "{HEALTH_PATH}") {{
      return new Response(null, {{ status: 204 }});
    }}
    return handler(req, info);
  }};
  return serve({{
    ...options,
    handler: answer,
    port,
    hostname: "127.0.0.1",
    onListen() {{}},
  }});
}};
await import(entry);
if (!served) {{
  console.error("ferry: the function's entry module never called Deno.serve(handler)");
  Deno.exit(70);
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_binds_loopback_and_answers_health() {
        let m = bootstrap_module();
        assert!(m.contains(r#"hostname: "127.0.0.1""#));
        assert!(m.contains(HEALTH_PATH));
        assert!(m.contains(ENTRY_ENV));
        assert!(m.contains("await import(entry)"));
    }
}
