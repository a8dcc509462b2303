//! Command-line arguments (clap derive). No logic here.

use clap::{Args, Parser, Subcommand};

/// Move an app out of an AI app builder onto infrastructure you own.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, propagate_version = true)]
pub struct Cli {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// More logging on stderr (-v info, -vv debug); `FERRY_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// ferry's state folder (database, blobs, releases, logs).
    #[arg(long, global = true, env = "FERRY_HOME", value_name = "DIR")]
    pub home: Option<std::path::PathBuf>,

    /// The ferry server to talk to: `https://HOST:PORT` (its control listener), with the token
    /// `ferry login` stored or `FERRY_TOKEN`; default: the local server (`$FERRY_HOME/ferry.sock`).
    #[arg(long, global = true, env = "FERRY_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Say what an app is and what is unsafe: builder, units, services, env, secrets, findings.
    Inspect(InspectArgs),
    /// Print the resolved build plan of each unit (or one, with --unit).
    Plan(PlanArgs),
    /// Inspect, register, build and deploy an app; starts the local server if none runs.
    Up(UpArgs),
    /// Stop the local server (the live releases are served again on the next start).
    Down,
    /// Build a unit locally (cached: an unchanged app is not rebuilt).
    Build(BuildArgs),
    /// Build, store and activate a new release, then probe it.
    Deploy(BuildArgs),
    /// List an app's releases (or verify one: `ferry releases verify [ID]`).
    Releases(ReleasesArgs),
    /// Make the previous (or the named) release live again: a pointer move, no rebuild.
    Rollback(SwitchArgs),
    /// Make a recorded release live: a pointer move, no rebuild.
    Promote(SwitchArgs),
    /// What the local server runs.
    Status,
    /// An app's processes: release (live or warm), status, pid, port, restarts, uptime, memory.
    Ps(PsArgs),
    /// Print a process's log (secrets masked); --follow keeps printing new lines.
    Logs(LogsArgs),
    /// An app's secrets and env: set (encrypted; --build/--runtime), list (never values), unset.
    Env(EnvArgs),
    /// Remove releases and blobs no kept release needs (keeps the last 20 per app).
    Gc,
    /// Run the server in the foreground: edge + control API.
    Serve(ServeArgs),
    /// Move and verify data: copy a Postgres/Supabase database into one you own.
    Db(DbArgs),
    /// Show the mail a Base44 app sent (sign-up codes, resets, invitations) and its delivery.
    Outbox(OutboxArgs),
    /// Base44 apps served by ferry: manage their users.
    Base44(Base44Args),
    /// Store a token for a remote server (checked first; `$FERRY_HOME/credentials.json`, 0600).
    Login(LoginArgs),
    /// Forget the token stored for a server.
    Logout(LogoutArgs),
    /// Organisations: `create NAME` (the server's owner), `list`.
    Org(OrgArgs),
    /// Users of an organisation: `add NAME --role developer`.
    User(UserArgs),
    /// API tokens for the HTTP API and remote use: `create` (shown once), `list`, `revoke`.
    Token(TokenArgs),
    /// The audit log: who changed what, when and from where; `--verify` checks its chain.
    Audit(AuditArgs),
    /// Serve MCP on stdin/stdout for AI agents (Claude, Cursor, VS Code): the local server's
    /// operations as tools (docs/mcp.md).
    Mcp,
    /// A one-time link (2 minutes) that signs a browser into the web dashboard as the server's
    /// owner, who also sees data jobs (on the server machine; docs/dashboard.md).
    Dashboard,
}

/// Arguments of `ferry org`.
#[derive(Debug, Args)]
pub struct OrgArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: OrgAction,
}

/// `ferry org` subcommands.
#[derive(Debug, Subcommand)]
pub enum OrgAction {
    /// Create an organisation (with its `production` environment).
    Create {
        /// Its name: lowercase letters, digits and `-`.
        name: String,
    },
    /// List the organisations you see.
    List,
}

/// Arguments of `ferry user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: UserAction,
}

/// `ferry user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add a user to an organisation.
    Add {
        /// The user's name: lowercase letters, digits and `-`.
        name: String,
        /// owner, admin, developer (deploys) or viewer (reads).
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// The organisation (default: yours, or `default` on the server's socket).
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
    },
}

/// Arguments of `ferry token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TokenAction,
}

/// `ferry token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Issue a token; it is printed once and only its hash is kept.
    Create {
        /// A label for it (`ci`, `laptop`).
        name: String,
        /// read, deploy or admin.
        #[arg(long, value_name = "SCOPE", default_value = "deploy")]
        scope: String,
        /// Only this app of the organisation.
        #[arg(long, value_name = "NAME")]
        app: Option<String>,
        /// The organisation (default: yours, or `default` on the server's socket).
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        /// Act as this user (the token never exceeds the user's role).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Expire after N days.
        #[arg(long, value_name = "N")]
        expires_in_days: Option<u32>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its id.
    Revoke {
        /// The token's id (`ferry token list`).
        id: String,
    },
}

/// Arguments of `ferry audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this app's entries.
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,

    /// Only entries since: a duration (`30m`, `24h`, `7d`), a date (`2026-11-01`) or unix ms.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,

    /// Only the last N entries.
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,

    /// Check the whole chain instead: any edited, inserted or deleted entry is found and the
    /// first bad one named (exit 1).
    #[arg(long)]
    pub verify: bool,

    /// Export as JSON lines (one entry per line).
    #[arg(long)]
    pub jsonl: bool,
}

/// Arguments of `ferry login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server's control listener: `https://HOST:PORT` (or `http://` on a private network).
    #[arg(value_name = "URL")]
    pub url: String,

    /// A PEM certificate (a private CA's, or the server's self-signed one) to trust for this
    /// server besides the system's web roots; stored with the token (default: `FERRY_CA`).
    #[arg(long, env = "FERRY_CA", value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,

    /// The token (default: `FERRY_TOKEN`, else one line read from stdin, which keeps it out of
    /// the process list and the shell history).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// Arguments of `ferry logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The server (default: `--server`/`FERRY_SERVER`, else the only one stored).
    #[arg(value_name = "URL")]
    pub url: Option<String>,
}

/// Arguments of `ferry outbox`.
#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// The app (default: from ./ferry.toml or the only app).
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,

    /// Show only the last N messages.
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
}

/// Arguments of `ferry ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// The app (default: from ./ferry.toml or the only app).
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
}

/// Arguments of `ferry logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The app (default: from ./ferry.toml or the only app).
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,

    /// The process (default: the release's first).
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,

    /// The release (default: the live one).
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,

    /// How many of the last lines to print.
    #[arg(long, default_value_t = 200, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub lines: u32,

    /// Keep printing new lines until Ctrl-C (with --json: one JSON object per line).
    #[arg(short, long)]
    pub follow: bool,
}

/// Arguments of `ferry base44`.
#[derive(Debug, Args)]
pub struct Base44Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Base44Action,

    /// The app (default: from ./ferry.toml or the only app).
    #[arg(long, global = true, value_name = "NAME")]
    pub app: Option<String>,
}

/// `ferry base44` actions.
#[derive(Debug, Subcommand)]
pub enum Base44Action {
    /// Make a user an admin (nobody becomes one by signing up), or take it back with --revoke.
    Admin {
        /// The user's email.
        email: String,
        /// Make the user a plain `user` again.
        #[arg(long)]
        revoke: bool,
    },
    /// Mail a set-password link to users without a password (migrated from Base44, which
    /// exports no password hashes); a rerun skips pending invitations unless --resend.
    Invite {
        /// The users' emails (or --all).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        emails: Vec<String>,
        /// Every user without a password.
        #[arg(long)]
        all: bool,
        /// Send again to users whose invitation (valid 7 days) is still pending.
        #[arg(long)]
        resend: bool,
        /// Send nothing; show who would get a link.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Where the server listens.
#[derive(Debug, Args, Clone)]
pub struct ListenArgs {
    /// Edge (app traffic) address.
    #[arg(
        long,
        env = "FERRY_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: String,

    /// Control listener address (`/healthz`, `/metrics`).
    #[arg(
        long,
        env = "FERRY_CONTROL_LISTEN",
        default_value = "127.0.0.1:8081",
        value_name = "ADDR"
    )]
    pub control_listen: String,

    /// Serve the control listener (`/api/v1`, dashboard, MCP) over TLS with this PEM
    /// certificate chain, leaf first (reloaded when it changes); clients use `https://`.
    #[arg(
        long,
        env = "FERRY_CONTROL_TLS_CERT",
        value_name = "FILE",
        requires = "control_tls_key"
    )]
    pub control_tls_cert: Option<std::path::PathBuf>,

    /// The private key (PEM) of `--control-tls-cert`.
    #[arg(
        long,
        env = "FERRY_CONTROL_TLS_KEY",
        value_name = "FILE",
        requires = "control_tls_cert"
    )]
    pub control_tls_key: Option<std::path::PathBuf>,
}

/// Arguments of `ferry serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Addresses.
    #[command(flatten)]
    pub listen: ListenArgs,

    /// Write an access log (JSON lines) to this file, or `-` for stderr.
    #[arg(long, env = "FERRY_ACCESS_LOG", value_name = "PATH")]
    pub access_log: Option<std::path::PathBuf>,

    /// Also serve HTTPS (HTTP/2 and HTTP/1.1) here, with certificates from
    /// `$FERRY_HOME/tls/<host>/cert.pem` + `key.pem` (reloaded when they change).
    #[arg(long, env = "FERRY_TLS_LISTEN", value_name = "ADDR")]
    pub tls_listen: Option<String>,

    /// Most simultaneous connections per listener (more are closed at once).
    #[arg(
        long,
        env = "FERRY_MAX_CONNECTIONS",
        default_value_t = 10_000,
        value_name = "N"
    )]
    pub max_connections: usize,

    /// Seconds a client has to send its request headers (slowloris protection).
    #[arg(
        long,
        env = "FERRY_HEADER_TIMEOUT",
        default_value_t = 10.0,
        value_name = "SECS"
    )]
    pub header_timeout: f64,
}

/// Arguments of `ferry build` and `ferry deploy`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The app's folder.
    #[arg(default_value = ".")]
    pub path: String,

    /// The static unit to build (default: the first static unit).
    #[arg(long, value_name = "NAME")]
    pub unit: Option<String>,

    /// Ignore the build cache.
    #[arg(long)]
    pub no_cache: bool,

    /// Addresses used if a server has to be started.
    #[command(flatten)]
    pub listen: ListenArgs,
}

/// Arguments of `ferry up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Build and deploy options.
    #[command(flatten)]
    pub build: BuildArgs,
}

/// Arguments of `ferry releases`.
#[derive(Debug, Args)]
pub struct ReleasesArgs {
    /// `verify [ID]`: check every blob of a release (default: the live one).
    #[arg(value_name = "verify [ID]", num_args = 0..=2)]
    pub action: Vec<String>,

    /// The app (default: from ./ferry.toml or the only app).
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
}

/// Arguments of `ferry rollback` and `ferry promote`.
#[derive(Debug, Args)]
pub struct SwitchArgs {
    /// The release to make live (rollback default: the previous live one).
    pub release: Option<String>,

    /// The app (default: from ./ferry.toml or the only app).
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,

    /// Run it with the current env values instead of the env it was deployed with (re-freezes
    /// the release's env first).
    #[arg(long)]
    pub env_current: bool,
}

/// Arguments of `ferry env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: EnvAction,

    /// The app (default: from ./ferry.toml or the only app).
    #[arg(long, global = true, value_name = "NAME")]
    pub app: Option<String>,

    /// The environment.
    #[arg(
        long = "env",
        global = true,
        value_name = "ENV",
        default_value = "production"
    )]
    pub environment: String,
}

/// `ferry env` actions.
#[derive(Debug, Subcommand)]
pub enum EnvAction {
    /// Set `NAME=VALUE…` (`NAME=-` or `NAME` alone reads the value from stdin); the build and
    /// the processes see it unless --build or --runtime says otherwise.
    Set {
        /// `NAME=VALUE`, `NAME=-` or `NAME`.
        #[arg(required = true, value_name = "NAME=VALUE")]
        assignments: Vec<String>,

        /// Only the build sees it (never the running processes).
        #[arg(long, conflicts_with = "runtime")]
        build: bool,

        /// Only the running processes see it (it never leaves the server).
        #[arg(long)]
        runtime: bool,
    },
    /// List the variables: name, scope, fingerprint, last change (never the values).
    List,
    /// Remove variables.
    Unset {
        /// The names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Replace the master key and re-encrypt every value (the server's owner, on its socket).
    RotateKey,
}

/// Where the app is.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// A folder, a .zip export, or a git repository (URL, git@host:path, file://…).
    pub source: String,

    /// Seconds `git clone` may take.
    #[arg(
        long,
        default_value_t = 300,
        value_name = "SECS",
        env = "FERRY_GIT_TIMEOUT"
    )]
    pub git_timeout: u64,
}

/// Arguments of `ferry inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Where the app is.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Exit with 1 when a finding is at or above this severity (for CI).
    #[arg(long, value_name = "SEVERITY", value_enum)]
    pub fail_on: Option<FailOn>,

    /// Write the detected facts to `ferry.toml` in the app's folder (never overwrites one).
    #[arg(long)]
    pub write: bool,

    /// Show every finding (the text report folds repeats after five).
    #[arg(long)]
    pub all: bool,
}

/// Severities `--fail-on` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Any finding.
    Info,
    /// Low and above.
    Low,
    /// Medium and above.
    Medium,
    /// High and above.
    High,
    /// Critical only.
    Critical,
}

/// Arguments of `ferry plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Where the app is.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Only this unit (by name).
    #[arg(long, value_name = "NAME")]
    pub unit: Option<String>,
}

/// Arguments of `ferry db`.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: DbAction,
}

/// `ferry db` actions.
#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Copy a Postgres database (Supabase, Neon, Replit…) into Postgres or SQLite, resumably.
    #[command(after_long_help = DB_JSON_HELP)]
    Pull(PullArgs),
    /// Compare two databases inside both (counts, checksums, then the differing keys); exit 1
    /// when they differ.
    #[command(after_long_help = DB_JSON_HELP)]
    Verify(VerifyArgs),
    /// Keep a copy in sync: apply the source's changes (logical replication) until stopped
    /// (Ctrl-C, SIGTERM) or, with --until-caught-up, until no change is left; resumable.
    #[command(after_long_help = FOLLOW_JSON_HELP)]
    Follow(FollowArgs),
    /// Finish a move: wait for zero lag, set the target's sequences, verify, print the steps
    /// left for the owner, then drop the source's slot and publication.
    #[command(after_long_help = CUTOVER_JSON_HELP)]
    Cutover(CutoverArgs),
    /// List ferry's replication slots on a source (lag, active, publication), or drop one.
    Slots(SlotsArgs),
    /// List recent pulls, verifies and follows, or show one (per-table progress, committed
    /// chunks, a follow's lag).
    Jobs(JobsArgs),
}

/// How `--json` output of `db pull` and `db verify` looks (shown by `--help`).
pub const DB_JSON_HELP: &str = "\
With --json, stdout carries JSON lines: one object per event as it happens
(`{\"event\":\"job\"|\"phase\"|\"table_start\"|\"progress\"|\"chunk\"|\"table_done\"|\"note\",…}`),
then one last line: `{\"report\":{…}}`, or `{\"error\":{\"code\",\"message\",\"hint\",\"exit\"}}` on failure.
Exit codes: 0 done (verify: equal), 1 failed (verify: different), 2 bad input.";

/// How `--json` output of `db follow` looks (shown by `--help`).
pub const FOLLOW_JSON_HELP: &str = "\
With --json, stdout carries JSON lines: one object per event as it happens
(`{\"event\":\"job\"|\"phase\"|\"lag\"|\"note\",…}`; a `lag` event carries the bytes and
seconds the target is behind and the changes applied so far), then one last line:
`{\"report\":{…}}` when it stops (Ctrl-C, SIGTERM, --until-caught-up), or
`{\"error\":{\"code\",\"message\",\"hint\",\"exit\"}}` on failure.
Exit codes: 0 stopped cleanly (resumable: rerun the same command), 1 failed (a schema change
on the source, a target error), 2 bad input (wal_level, privileges, a slot in the way).";

/// How `--json` output of `db cutover` looks (shown by `--help`).
pub const CUTOVER_JSON_HELP: &str = "\
With --json, stdout carries JSON lines: events as they happen, then one last line:
`{\"report\":{…,\"steps\":[…]}}` (the verify's tables, the sequences set, the slot dropped,
the steps left for the owner), or `{\"error\":{…}}`.
Exit codes: 0 moved (equal, slot dropped), 1 failed (lag not zero in time, tables differ: the
slot is kept so the follow can go on), 2 bad input.";

/// Which data `db pull` and `db verify` cover, and how many connections they use.
#[derive(Debug, Args)]
pub struct DbScopeArgs {
    /// Only this schema (repeatable; default: every user schema, Supabase's internal ones
    /// skipped and reported).
    #[arg(long = "schema", value_name = "SCHEMA")]
    pub schemas: Vec<String>,

    /// Only this table, `schema.table` or `table` in `public` (repeatable).
    #[arg(long = "table", value_name = "TABLE")]
    pub tables: Vec<String>,

    /// Parallel connections to the source (default: the CPU count, between 2 and 8).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
}

/// Arguments of `ferry db pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The source: `postgres://user:password@host:port/db[?sslmode=require]`, a Base44 app
    /// `base44://APP_ID` (with --token), or a Base44 export folder `base44-export:DIR`.
    #[arg(long, value_name = "URL")]
    pub from: String,

    /// The target: `postgres://…` or `sqlite:///path/file.db` (default: an SQLite file under
    /// `$FERRY_HOME/data/`, named after the source database; for Base44, the --app's
    /// database).
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,

    /// Scope and parallelism.
    #[command(flatten)]
    pub scope: DbScopeArgs,

    /// Replace tables the target already holds.
    #[arg(long)]
    pub force: bool,

    /// Start over instead of resuming an unfinished pull of the same source, target and
    /// selection.
    #[arg(long)]
    pub fresh: bool,

    /// Size of a copy chunk in MiB (default 1024): the unit of parallelism within a table and
    /// of resume. A table that fits in one chunk is loaded with COPY FREEZE (much faster
    /// index builds and key checks afterwards). Fixed at the first run of a job.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub chunk_mb: Option<u32>,

    /// Keep the copy in sync afterwards: a replication slot is created on the source before the
    /// copy's snapshot, then the changes made since are applied as `ferry db follow` does (needs
    /// `wal_level=logical` on the source and a Postgres target).
    #[arg(long)]
    pub follow: bool,

    /// With --follow: stop once the target has caught up instead of following until stopped.
    #[arg(long, requires = "follow")]
    pub until_caught_up: bool,

    /// Base44 data and files into an app's database (`--from base44://APP_ID` or
    /// `base44-export:DIR`; docs/base44.md, "Moving your data").
    #[command(flatten)]
    pub base44: Base44PullArgs,
}

/// The options of `ferry db pull --from base44://APP_ID` and `--from base44-export:DIR`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Base44 sources")]
pub struct Base44PullArgs {
    /// The app's API token (default: `FERRY_BASE44_TOKEN`; `-` reads one line from stdin).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Which data of a live app: `prod` (default) or `dev` (`X-Data-Env`).
    #[arg(long, value_name = "ENV", value_parser = ["prod", "dev"])]
    pub data_env: Option<String>,

    /// The API's base URL (default: `FERRY_BASE44_API_URL`, else https://base44.app).
    #[arg(long, value_name = "URL")]
    pub base44_url: Option<String>,

    /// Entity schemas (a `base44/entities` folder) for a source that has none; entities
    /// without one get a schema inferred from their records.
    #[arg(long = "schemas", value_name = "DIR")]
    pub entity_schemas: Option<std::path::PathBuf>,

    /// Write the inferred schemas here (`<Name>.jsonc`), to review and commit.
    #[arg(long, value_name = "DIR")]
    pub write_schemas: Option<std::path::PathBuf>,

    /// The ferry app the records are for: its database when --to is not given
    /// (`$FERRY_HOME/data/<app>/base44.sqlite3`), and its file store for the files hosted by
    /// Base44 that records point to.
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,

    /// Only this entity (repeatable; default: every entity of the source).
    #[arg(long = "entity", value_name = "NAME")]
    pub entities: Vec<String>,
}

/// Arguments of `ferry db follow`.
#[derive(Debug, Args)]
pub struct FollowArgs {
    /// The source: `postgres://…` with `wal_level=logical` and a role with REPLICATION.
    #[arg(long, value_name = "URL")]
    pub from: String,

    /// The copy to keep in sync: `postgres://…` (made by `ferry db pull`).
    #[arg(long, value_name = "URL")]
    pub to: String,

    /// Scope (as given to the pull).
    #[command(flatten)]
    pub scope: DbScopeArgs,

    /// Stop once the target has caught up (no change left) instead of following until
    /// stopped.
    #[arg(long)]
    pub until_caught_up: bool,
}

/// Arguments of `ferry db cutover`.
#[derive(Debug, Args)]
pub struct CutoverArgs {
    /// The source being followed: `postgres://…`.
    #[arg(long, value_name = "URL")]
    pub from: String,

    /// The copy: `postgres://…`.
    #[arg(long, value_name = "URL")]
    pub to: String,

    /// Scope (as given to the pull and the follow).
    #[command(flatten)]
    pub scope: DbScopeArgs,

    /// How long to wait for zero lag: `90s`, `5m`, `1h` or seconds (default 60s).
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,

    /// The ferry app that will use the new database: the steps printed name it.
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
}

/// Arguments of `ferry db slots`.
#[derive(Debug, Args)]
pub struct SlotsArgs {
    /// The source: `postgres://…`.
    #[arg(long, value_name = "URL")]
    pub from: String,

    /// Drop this slot (one of ferry's, `ferry_…`, not in use) and its publication.
    #[arg(long, value_name = "NAME")]
    pub drop: Option<String>,
}

/// `90s`, `5m`, `1h`, `250ms` or a number of seconds.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 90s, 5m, 1h)"))?;
    let secs = match unit {
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        "s" => n,
        "m" | "min" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("unknown unit in `{text}` (use ms, s, m or h)")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

/// Arguments of `ferry db verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The source: `postgres://…`.
    #[arg(long, value_name = "URL")]
    pub from: String,

    /// The copy: `postgres://…` or `sqlite:///path/file.db`.
    #[arg(long, value_name = "URL")]
    pub to: String,

    /// Scope and parallelism.
    #[command(flatten)]
    pub scope: DbScopeArgs,

    /// How many differing keys to name per table.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub keys: u16,
}

/// Arguments of `ferry db jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Show this job (default: list the recent ones).
    #[arg(value_name = "ID")]
    pub id: Option<String>,

    /// How many jobs to list.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
}
