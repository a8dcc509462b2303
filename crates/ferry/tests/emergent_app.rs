//! The Emergent layout end to end: `examples/emergent-app` (a FastAPI backend in `backend/`, a
//! React front end in `frontend/` calling `${REACT_APP_BACKEND_URL}/api`) deployed by the real
//! binary to a real server as one release — the front end's files at `/`, `/api` proxied to
//! uvicorn running from a relocated virtualenv, the backend's tree never served as files.
//! Needs node/npm (the npm registry) and python3 with venv (PyPI).

mod common;

use std::path::Path;
use std::process::Command;

use common::{Env, need_node};
use serde_json::Value;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == "node_modules" || name == "dist" || name == ".venv" || name == "__pycache__" {
            continue;
        }
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).expect("copy");
        }
    }
}

#[test]
fn an_emergent_app_serves_its_front_end_and_proxies_api_to_fastapi() {
    need_node();
    let venv = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .status();
    assert!(
        venv.is_ok_and(|s| s.success()),
        "the Emergent test needs python3 with venv and ensurepip"
    );
    let env = Env::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/emergent-app");
    copy_tree(&example, &env.app);
    let mut server = env.serve();
    server.host = "app.localhost".into();

    let v1 = env.deploy().expect("the Emergent app deploys");
    let v1_id = v1["release_id"].as_str().expect("id").to_string();
    let warnings = v1["warnings"].to_string();
    assert!(
        warnings.contains("REACT_APP_BACKEND_URL"),
        "the front end is pointed at its own origin: {warnings}"
    );

    // The front end, from the release's files; a client route falls back to the page.
    let (status, release, page) = server.get("/");
    assert_eq!(status, 200, "{page}");
    assert_eq!(release.as_deref(), Some(v1_id.as_str()));
    assert!(page.contains("<div id=\"root\">"), "{page}");
    let asset = page
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page loads its bundle")
        .to_string();
    let (status, _, bundle) = server.get(&asset);
    assert_eq!(status, 200);
    assert!(
        !bundle.contains("emergentagent.com"),
        "the committed .env's preview host is not baked in"
    );
    assert!(bundle.contains("/api"), "the bundle calls /api");
    let (status, _, fallback) = server.get("/schedule/today");
    assert_eq!((status, fallback == page), (200, true));

    // `/api` goes to uvicorn, run from the virtualenv the build made.
    let (status, release, body) = server.get("/api/");
    assert_eq!(status, 200, "{body}");
    assert_eq!(release.as_deref(), Some(v1_id.as_str()));
    let hello: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(hello["message"], "Hello from Riverside Gym");
    let (status, _, created) = server.request(
        "POST",
        "/api/classes",
        Some((
            "application/json",
            r#"{"title":"Spin","coach":"Cy","spots":9}"#,
        )),
    );
    assert_eq!(status, 200, "{created}");
    let (_, _, list) = server.get("/api/classes");
    let list: Value = serde_json::from_str(&list).expect("json");
    let titles: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| c["title"].as_str())
        .collect();
    assert_eq!(titles, ["Morning yoga", "Kettlebells", "Spin"]);
    let (status, _, _) = server.request("POST", "/api/classes", Some(("application/json", "{}")));
    assert_eq!(
        status, 422,
        "FastAPI's validation answers through the proxy"
    );

    // The backend's tree is in the release but never served as a file.
    for path in [
        "/_ferry/units/backend/server.py",
        "/_ferry/units/backend/.env",
        "/%5Fferry/units/backend/requirements.txt",
    ] {
        let (status, _, body) = server.get(path);
        assert_eq!(status, 404, "{path}: {body}");
    }

    // ps: the backend's process, named after its unit, healthy.
    let (code, ps, err) = env.ferry(&["ps", "--json", "--app", "app"]);
    assert_eq!(code, 0, "{err}");
    let rows = ps["processes"].as_array().expect("processes");
    assert!(
        rows.iter().any(|p| p["name"] == "backend.web"
            && p["status"] == "healthy"
            && p["release"].as_str() == Some(v1_id.as_str())),
        "{ps}"
    );

    // A runtime variable reaches the backend; an unchanged virtualenv costs nothing again.
    let (code, _, err) = env.ferry(&["env", "set", "--app", "app", "GYM_NAME=Harbour Gym"]);
    assert_eq!(code, 0, "{err}");
    let v2 = env.deploy().expect("v2 deploys");
    assert_ne!(v2["release_id"], v1["release_id"]);
    let (_, _, body) = server.get("/api/");
    let hello: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(hello["message"], "Hello from Harbour Gym");
    let new_bytes = v2["new_bytes"].as_u64().expect("new_bytes");
    let bytes = v2["bytes"].as_u64().expect("bytes");
    assert!(
        new_bytes * 20 < bytes,
        "a rebuilt virtualenv stores (almost) nothing new: {new_bytes} of {bytes} bytes"
    );

    let (code, _, err) = env.ferry(&["down"]);
    assert_eq!(code, 0, "{err}");
}
