//! A development server for the Base44-compatible backend, until `ferry serve` mounts it:
//! it migrates an app's `base44/entities` into a database and serves
//! `ferry_compat::base44::api::router` over HTTP, with ferry's own access tokens and an
//! outbox that appends every mail to a JSON-lines file. The Node acceptance suite in
//! `tests/base44-sdk` runs against it.
//!
//! ```text
//! cargo run -p ferry-compat --example base44_serve -- \
//!     --entities DIR --db sqlite:///abs/app.db|postgres://… --listen 127.0.0.1:PORT \
//!     --app-id ID --outbox FILE.jsonl [--verify-email on|off] [--app-url URL] \
//!     [--app-name NAME] [--quiet]
//! cargo run -p ferry-compat --example base44_serve -- admin EMAIL --db URL [--entities DIR]
//! ```
//!
//! `serve` (the default) prints `listening on http://ADDR` on stdout once the socket is bound
//! (`--listen 127.0.0.1:0` picks a free port) and logs one line per request on stderr (with
//! the cause of every 500). `--verify-email` defaults to `on`: sign-up is confirmed by a code
//! mailed to the outbox. The signing key is random for each start, so tokens do not survive
//! a restart. `admin EMAIL` makes that user an admin (a plain `UPDATE` of `User.role`); the
//! running server reads the role again on every request, so it applies at once.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use ferry_compat::base44::api::{AppState, AuthConfig, InternalError, realtime_router, router};
use ferry_compat::base44::auth::mail::{Mail, MailError, Outbox};
use ferry_compat::base44::auth::token::{SigningKey, generate_key};
use ferry_compat::base44::model::{Dialect, USER_ENTITY};
use ferry_compat::base44::query::{Sql, SqlValue};
use ferry_compat::base44::schema::load_entities;
use ferry_compat::base44::store::Db;
use serde_json::json;

type Error = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "usage:
  base44_serve [serve] --entities DIR --db URL --listen ADDR --app-id ID --outbox FILE
               [--verify-email on|off] [--app-url URL] [--app-name NAME] [--quiet]
  base44_serve admin --db URL [--entities DIR] EMAIL";

/// The command line, parsed by hand (no argument-parsing dependency for one example).
#[derive(Debug, Default)]
struct Args {
    command: String,
    email: Option<String>,
    entities: Option<PathBuf>,
    db: Option<String>,
    listen: Option<String>,
    app_id: Option<String>,
    outbox: Option<PathBuf>,
    verify_email: bool,
    app_url: Option<String>,
    app_name: String,
    quiet: bool,
}

fn parse_args(mut raw: impl Iterator<Item = String>) -> Result<Args, Error> {
    let mut args = Args {
        command: "serve".into(),
        verify_email: true,
        app_name: "Base44 SDK suite".into(),
        ..Args::default()
    };
    let mut positional = 0;
    while let Some(arg) = raw.next() {
        let mut value = || {
            raw.next()
                .ok_or_else(|| Error::from(format!("{arg} needs a value\n{USAGE}")))
        };
        match arg.as_str() {
            "--entities" => args.entities = Some(PathBuf::from(value()?)),
            "--db" => args.db = Some(value()?),
            "--listen" => args.listen = Some(value()?),
            "--app-id" => args.app_id = Some(value()?),
            "--outbox" => args.outbox = Some(PathBuf::from(value()?)),
            "--app-url" => args.app_url = Some(value()?),
            "--app-name" => args.app_name = value()?,
            "--verify-email" => {
                args.verify_email = match value()?.as_str() {
                    "on" | "true" | "1" => true,
                    "off" | "false" | "0" => false,
                    other => return Err(format!("--verify-email on|off, not {other}").into()),
                }
            }
            "--quiet" => args.quiet = true,
            "-h" | "--help" => return Err(USAGE.into()),
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag:?}\n{USAGE}").into());
            }
            // Positionals: the command first, then (for `admin`) the email, which may also
            // come after the options (`ADMIN_CMD "$email"`).
            _ => {
                match (positional, args.command.as_str(), arg.as_str()) {
                    (0, _, "serve" | "admin") => args.command = arg.clone(),
                    (_, "admin", _) if args.email.is_none() => args.email = Some(arg.clone()),
                    _ => return Err(format!("unexpected argument {arg:?}\n{USAGE}").into()),
                }
                positional += 1;
            }
        }
    }
    Ok(args)
}

fn required<T: Clone>(value: &Option<T>, flag: &str) -> Result<T, Error> {
    value
        .clone()
        .ok_or_else(|| format!("{flag} is required\n{USAGE}").into())
}

/// Appends every mail, as one JSON object per line, to a file (created when missing).
struct FileOutbox {
    file: Mutex<File>,
}

impl FileOutbox {
    fn open(path: &PathBuf) -> Result<FileOutbox, Error> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FileOutbox {
            file: Mutex::new(file),
        })
    }
}

impl Outbox for FileOutbox {
    fn send(&self, mail: Mail) -> Result<(), MailError> {
        let sent_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let mut line = json!({
            "to": mail.to,
            "subject": mail.subject,
            "text": mail.text,
            "sent_at_ms": sent_at,
        })
        .to_string();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| MailError::Queue {
                detail: format!("outbox file: {e}"),
            })
    }
}

/// Logs `METHOD path status` per request on stderr, and the cause of a 500.
async fn log_requests(req: Request, next: Next) -> Response {
    let line = format!("{} {}", req.method(), req.uri());
    let response = next.run(req).await;
    let cause = response
        .extensions()
        .get::<InternalError>()
        .map(|e| format!(" ({})", e.0))
        .unwrap_or_default();
    eprintln!("{line} -> {}{cause}", response.status().as_u16());
    response
}

async fn serve(args: Args) -> Result<(), Error> {
    let entities_dir = required(&args.entities, "--entities")?;
    let url = required(&args.db, "--db")?;
    let listen: SocketAddr = required(&args.listen, "--listen")?.parse()?;
    let app_id = required(&args.app_id, "--app-id")?;
    let outbox = required(&args.outbox, "--outbox")?;

    let entities = load_entities(&entities_dir)?;
    let db = Db::open(&url).await?;
    let applied = db.migrate(entities).await?;
    let entities = applied.into_iter().map(|a| a.entity).collect();

    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let app_url = args
        .app_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let key = SigningKey::from_bytes(&generate_key()?)?;
    let mut config = AuthConfig::new(
        key,
        args.app_name.clone(),
        app_url,
        Arc::new(FileOutbox::open(&outbox)?),
    );
    config.verify_email = args.verify_email;
    let state = Arc::new(AppState::new(app_id, db, entities, Some(config)));
    // The entities API and, at the origin's root, the realtime socket.io endpoint.
    let mut app = router(state.clone()).merge(realtime_router(state));
    if !args.quiet {
        app = app.layer(middleware::from_fn(log_requests));
    }

    println!("listening on http://{bound}");
    std::io::stdout().flush()?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// `admin EMAIL`: sets `role = 'admin'` on that user's row (found without regard to case).
async fn admin(args: Args) -> Result<(), Error> {
    let email = required(&args.email, "EMAIL")?;
    let url = required(&args.db, "--db")?;
    let db = Db::open(&url).await?;
    let applied = db.applied().await?;
    let table = match applied.iter().find(|a| a.entity.name == USER_ENTITY) {
        Some(a) => a.entity.table.clone(),
        None => match &args.entities {
            Some(dir) => load_entities(dir)?
                .into_iter()
                .find(|e| e.name == USER_ENTITY)
                .map(|e| e.table)
                .ok_or("no User entity")?,
            None => return Err("nothing deployed in this database yet".into()),
        },
    };
    let table = table.replace('"', "\"\"");
    let text = match db.dialect() {
        Dialect::Postgres => {
            format!("UPDATE \"{table}\" SET role = 'admin' WHERE lower(email) = lower($1::text)")
        }
        Dialect::Sqlite => {
            format!("UPDATE \"{table}\" SET role = 'admin' WHERE lower(email) = lower(?1)")
        }
    };
    let changed = db
        .execute(&Sql {
            text,
            params: vec![SqlValue::Text(email.clone())],
        })
        .await?;
    if changed == 0 {
        return Err(format!("no user with email {email}").into());
    }
    println!("{email} is now an admin");
    Ok(())
}

#[tokio::main]
async fn main() {
    let result = match parse_args(std::env::args().skip(1)) {
        Ok(args) if args.command == "admin" => admin(args).await,
        Ok(args) => serve(args).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("base44_serve: {e}");
        std::process::exit(1);
    }
}
