//! `ferry login URL` / `ferry logout [URL]`: tokens for remote servers in
//! `$FERRY_HOME/credentials.json` (mode 0600), and which server a command talks to
//! (`--server`/`FERRY_SERVER`, else the local socket).

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::{Cli, Command, LoginArgs, LogoutArgs};
use crate::client::{Api, Remote};
use crate::failure::{EXIT_BAD_INPUT, Failure};
use crate::home::{Credential, env_token, read_credentials, write_credentials};
use crate::output::Output;

/// Records the server this run talks to. Commands that never talk to one ignore
/// `--server`/`FERRY_SERVER`; `up` and `serve`, which run a local server, refuse it.
pub fn select(cli: &Cli, home: &Path) -> Result<(), Failure> {
    let server = cli.server.as_deref().filter(|s| !s.trim().is_empty());
    match (&cli.command, server) {
        (Command::Up(_), Some(url)) => Err(Failure::usage(
            format!(
                "`ferry up` starts and deploys to a local server; it does not run against {url}"
            ),
            format!(
                "deploy to the remote server with `ferry deploy --server {url}` (unset FERRY_SERVER to use `up` locally)"
            ),
        )),
        (Command::Serve(_), Some(url)) => Err(Failure::usage(
            format!("`ferry serve` runs a server here; --server {url} names another one"),
            "drop --server (or unset FERRY_SERVER)",
        )),
        (
            Command::Inspect(_)
            | Command::Plan(_)
            | Command::Db(_)
            | Command::Login(_)
            | Command::Logout(_),
            _,
        ) => Ok(()),
        _ => crate::home::select(home, server),
    }
}

/// `ferry login URL [--token T]`: checks the token against the server, then stores it.
pub fn login(args: &LoginArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let mut remote = Remote::parse(&args.url)?;
    let token = match args.token.as_deref().map(str::trim) {
        Some(t) => t.to_string(),
        None => match env_token() {
            Some(t) => t,
            None => read_token_from_stdin()?,
        },
    };
    let token_id = token
        .strip_prefix("fy_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id.to_string())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            Failure::usage(
                "that is not a ferry token (they look like fy_<id>_<secret>)",
                "create one on the server: `ferry token create NAME --scope deploy`",
            )
        })?;
    let mut creds = read_credentials(home)?;
    if remote.tls {
        // `--ca`/`FERRY_CA`, else the one stored at an earlier login to this server.
        remote.ca = match &args.ca {
            Some(path) => Some(crate::tls::read_ca(path)?),
            None => creds.servers.get(&remote.url).and_then(|c| c.ca.clone()),
        };
    } else if args.ca.is_some() {
        return Err(Failure::usage(
            format!("--ca is for https servers; {} is plain http", remote.url),
            "use https:// (the server's control listener with --control-tls-cert), or drop --ca",
        ));
    } else if !remote.is_private() {
        crate::home::warn_clear(&remote);
    }
    remote.token = Some(token.clone());
    let api = Api::remote(remote.clone());
    // Any authenticated read proves the token; 401/403 come back as the server's one line.
    let apps = api.json("GET", "/api/v1/apps", None)?;
    let status = api
        .json("GET", "/api/v1/status", None)
        .unwrap_or(Value::Null);
    let caller = &status["caller"];
    let org = match caller["org"].as_str() {
        Some(o) => Some(o.to_string()),
        None => api.json("GET", "/api/v1/orgs", None).ok().and_then(|v| {
            v["orgs"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(|o| o.as_str().or_else(|| o["name"].as_str()))
                .map(str::to_string)
        }),
    };
    let scope = caller["scope"].as_str().map(str::to_string);
    let label = caller["label"].as_str().map(str::to_string);
    creds.servers.insert(
        remote.url.clone(),
        Credential {
            token,
            token_id: Some(token_id.clone()),
            label: label.clone(),
            org: org.clone(),
            scope: scope.clone(),
            saved_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            ca: remote.ca.clone(),
        },
    );
    let path = write_credentials(home, &creds)?;
    let app_count = apps["apps"].as_array().map_or(0, Vec::len);
    if out.json {
        out.print_json(&json!({
            "server": remote.url,
            "token_id": token_id,
            "label": label,
            "org": org,
            "scope": scope,
            "apps": app_count,
            "credentials": path,
            "tls": remote.tls,
            "custom_ca": remote.ca.is_some(),
        }));
    } else {
        let who = label.unwrap_or_else(|| format!("token {token_id}"));
        let mut s = format!("logged in to {} as {who}", remote.url);
        let mut facts = Vec::new();
        if let Some(o) = &org {
            facts.push(format!("org {o}"));
        }
        if let Some(sc) = &scope {
            facts.push(format!("scope {sc}"));
        }
        facts.push(format!(
            "{app_count} app{}",
            if app_count == 1 { "" } else { "s" }
        ));
        s.push_str(&format!(" ({})\n", facts.join(", ")));
        s.push_str(&format!(
            "  token saved in {} (0600)\n  use it: ferry deploy --server {}   (or export FERRY_SERVER={})\n",
            path.display(),
            remote.url,
            remote.url
        ));
        out.print(&s);
    }
    Ok(ExitCode::SUCCESS)
}

/// One line from stdin (a prompt on stderr when it is a terminal).
fn read_token_from_stdin() -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("token (from `ferry token create` on the server): ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| Failure {
        code: "io",
        message: format!("cannot read the token from stdin: {e}"),
        hint: "pass it with --token or FERRY_TOKEN".into(),
        exit: EXIT_BAD_INPUT,
    })?;
    let token = line.trim().to_string();
    if token.is_empty() {
        return Err(Failure::usage(
            "no token given",
            "pipe it in (`ferry login URL < token.txt`), or pass --token / FERRY_TOKEN",
        ));
    }
    Ok(token)
}

/// `ferry logout [URL]`: forgets the stored token of a server (it stays valid on the server).
pub fn logout(
    args: &LogoutArgs,
    server: Option<&str>,
    home: &Path,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let mut creds = read_credentials(home)?;
    let url = match args
        .url
        .as_deref()
        .or(server.filter(|s| !s.trim().is_empty()))
    {
        Some(text) => Remote::parse(text)?.url,
        None => match creds.servers.keys().collect::<Vec<_>>().as_slice() {
            [only] => (*only).clone(),
            [] => {
                return Err(Failure::usage(
                    "no server has a stored token",
                    "nothing to forget; `ferry login URL` stores one",
                ));
            }
            many => {
                return Err(Failure::usage(
                    "tokens are stored for several servers; which one?",
                    format!(
                        "name it: `ferry logout URL` (one of: {})",
                        many.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        },
    };
    let removed = creds.servers.remove(&url);
    if removed.is_some() {
        write_credentials(home, &creds)?;
    }
    let token_id = removed.as_ref().and_then(|c| c.token_id.clone());
    if out.json {
        out.print_json(
            &json!({ "server": url, "removed": removed.is_some(), "token_id": token_id }),
        );
    } else if removed.is_some() {
        out.print(&format!(
            "forgot the token for {url}; it stays valid on the server until revoked: ferry token revoke {} --server {url}\n",
            token_id.as_deref().unwrap_or("ID")
        ));
    } else {
        out.print(&format!("no token was stored for {url}\n"));
    }
    Ok(ExitCode::SUCCESS)
}
