//! Python units: FastAPI, Flask, Django; pip, uv, poetry, pipenv.

use super::runtime;
use crate::builder::re;
use crate::context::Ctx;
use crate::error::InspectError;
use crate::plan::command;
use crate::profile::{PackageManager, Process, Unit, UnitKind};
use crate::tree::join;

const MANIFESTS: &[&str] = &["requirements.txt", "pyproject.toml", "Pipfile", "manage.py"];

/// Whether `dir` holds a Python project.
pub(super) fn is_project(ctx: &Ctx, dir: &str) -> bool {
    MANIFESTS.iter().any(|m| ctx.tree.has_file(&join(dir, m)))
}

pub(super) fn analyze(ctx: &Ctx, path: &str) -> Result<Option<Unit>, InspectError> {
    let mut deps = String::new();
    for file in ["requirements.txt", "Pipfile"] {
        deps.push_str(
            &ctx.tree
                .read(&join(path, file))
                .unwrap_or_default()
                .to_lowercase(),
        );
    }
    let pyproject_file = join(path, "pyproject.toml");
    if let Some(text) = ctx.tree.read(&pyproject_file) {
        toml::from_str::<toml::Table>(&text).map_err(|err| InspectError::MalformedFile {
            file: pyproject_file.clone(),
            format: "TOML",
            detail: crate::manifest::one_line(&err.to_string()),
        })?;
        deps.push_str(&text.to_lowercase());
    }
    let has = |name: &str| re(&format!(r"(?m)(^|[\s'\x22\[,])({name})\b")).is_match(&deps);
    let (pm, install) = if ctx.tree.has_file(&join(path, "uv.lock")) {
        (PackageManager::Uv, "uv sync --frozen")
    } else if ctx.tree.has_file(&join(path, "poetry.lock")) {
        (
            PackageManager::Poetry,
            "poetry install --only main --no-root",
        )
    } else if ctx.tree.has_file(&join(path, "Pipfile")) {
        (PackageManager::Pipenv, "pipenv install --deploy")
    } else if ctx.tree.has_file(&join(path, "requirements.txt")) {
        (PackageManager::Pip, "pip install -r requirements.txt")
    } else if ctx.tree.has_file(&pyproject_file) {
        (PackageManager::Pip, "pip install .")
    } else {
        (PackageManager::Pip, "")
    };
    let run_prefix = match pm {
        PackageManager::Uv => "uv run ",
        PackageManager::Poetry => "poetry run ",
        PackageManager::Pipenv => "pipenv run ",
        _ => "",
    };
    let django = ctx.tree.has_file(&join(path, "manage.py")) || has("django");
    let (framework, start, why) = if has("fastapi") {
        let (module, var) = entry(ctx, path, "FastAPI").unwrap_or(("main".into(), "app".into()));
        (
            "fastapi",
            Some(format!(
                "{run_prefix}uvicorn {module}:{var} --host 0.0.0.0 --port $PORT"
            )),
            format!("{}: `fastapi`", dep_file(ctx, path)),
        )
    } else if has("flask") {
        let (module, var) = entry(ctx, path, "Flask").unwrap_or(("app".into(), "app".into()));
        (
            "flask",
            Some(format!(
                "{run_prefix}gunicorn {module}:{var} --bind 0.0.0.0:$PORT"
            )),
            format!("{}: `flask`", dep_file(ctx, path)),
        )
    } else if django {
        let project = ctx
            .tree
            .child_dirs(path)
            .find(|d| ctx.tree.has_file(&join(&join(path, d), "wsgi.py")))
            .map(str::to_string);
        if project.is_none() {
            ctx.warn(format!(
                "{}: a Django project without a `wsgi.py`",
                join(path, "manage.py")
            ));
        }
        (
            "django",
            project.map(|p| format!("{run_prefix}gunicorn {p}.wsgi --bind 0.0.0.0:$PORT")),
            format!("{}: Django", dep_file(ctx, path)),
        )
    } else {
        ctx.warn(format!(
            "`{path}`: a Python project without FastAPI, Flask or Django; no start command"
        ));
        (
            "python",
            None,
            format!("{}: Python project", dep_file(ctx, path)),
        )
    };
    let port = runtime::python_port(ctx, path);
    let processes = start
        .map(|s| Process {
            name: "web".into(),
            command: command(s, path),
            port_env: "PORT".into(),
            port,
            health: None,
            limits: Default::default(),
        })
        .into_iter()
        .collect();
    Ok(Some(Unit {
        name: String::new(),
        path: path.into(),
        kind: UnitKind::Server,
        framework: Some(framework.into()),
        package_manager: Some(pm),
        runtime: runtime::python_version(ctx, path),
        install: (!install.is_empty()).then(|| command(install, path)),
        build: None,
        output: ".".into(),
        spa: false,
        processes,
        proxies: Vec::new(),
        evidence: vec![why],
        declared: false,
    }))
}

fn dep_file(ctx: &Ctx, path: &str) -> String {
    ctx.tree
        .first_of(path, MANIFESTS)
        .unwrap_or_else(|| join(path, "requirements.txt"))
}

/// Finds `<var> = FastAPI(` (or Flask) in the unit's top-level `.py` files, or in `app/`.
fn entry(ctx: &Ctx, path: &str, class: &str) -> Option<(String, String)> {
    let pattern = re(&format!(r"(?m)^(\w+)\s*(?::\s*\w+\s*)?=\s*{class}\("));
    let preferred = ["main.py", "app.py", "server.py", "wsgi.py", "asgi.py"];
    let mut files: Vec<(String, String)> = ctx
        .tree
        .child_files(path)
        .filter(|f| f.ends_with(".py"))
        .map(|f| (join(path, f), f.trim_end_matches(".py").to_string()))
        .collect();
    files.extend(
        ctx.tree
            .child_files(&join(path, "app"))
            .filter(|f| f.ends_with(".py"))
            .map(|f| {
                (
                    join(&join(path, "app"), f),
                    format!("app.{}", f.trim_end_matches(".py")),
                )
            }),
    );
    files.sort_by_key(|(file, _)| {
        let name = file.rsplit('/').next().unwrap_or("");
        (
            preferred
                .iter()
                .position(|p| *p == name)
                .unwrap_or(preferred.len()),
            file.clone(),
        )
    });
    files.into_iter().take(100).find_map(|(file, module)| {
        let text = ctx.tree.read(&file)?;
        let caps = pattern.captures(&text)?;
        Some((module, caps[1].to_string()))
    })
}
