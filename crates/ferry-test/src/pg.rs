//! Throwaway PostgreSQL clusters for integration tests.
//!
//! [`Cluster::start`] runs `initdb` into a fresh temporary folder, picks a free port on
//! `127.0.0.1`, starts the server with durability switched off (tests do not need it) and
//! `wal_level=logical` when [`Options::logical`] asks (else `replica`), and stops it and removes
//! the folder on drop. The `postgres` superuser logs in over TCP with [`PASSWORD`] (SCRAM); with
//! [`Options::ssl`] the server refuses non-TLS TCP connections and presents a fresh self-signed
//! certificate ([`Cluster::ca_cert`]).
//!
//! The binaries come from `$FERRY_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else
//! `pg_config --bindir`. `initdb` refuses to run as root, so when the tests run as root the
//! cluster's folder is handed to the `postgres` OS user and the server runs as that user
//! (through `runuser`). Every cluster has its own folder, port and socket directory, so tests
//! may start several at once.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The password of the `postgres` superuser in every test cluster.
pub const PASSWORD: &str = "ferry-test-pw";

/// How many times the server is started on a fresh port when the chosen one was taken.
const START_ATTEMPTS: usize = 3;

/// How a test cluster is set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Serve TLS with a self-signed certificate and reject non-TLS TCP connections.
    pub ssl: bool,
    /// `wal_level=logical` with free replication slots and WAL senders (logical replication
    /// sources); otherwise `wal_level=replica`.
    pub logical: bool,
    /// Start the server under `ulimit -f` of this many KiB: no file it writes may grow past
    /// it (a write beyond fails with "File too large", a stand-in for a full disk). WAL
    /// segments are 16 MiB, so keep it well above that.
    pub file_size_limit_kib: Option<u64>,
}

/// A running throwaway PostgreSQL cluster; stopped and deleted when dropped.
#[derive(Debug)]
pub struct Cluster {
    /// Holds `data/`, the log, the socket and the certificate; removed after the server stops.
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    ssl: bool,
    ca: Option<PathBuf>,
    /// Run server-side binaries as the `postgres` OS user (we are root).
    as_postgres: bool,
    /// `ulimit -f` for the server, in KiB.
    file_size_limit_kib: Option<u64>,
}

/// Finds the directory holding the PostgreSQL server binaries (`initdb`, `pg_ctl`, `psql`):
/// `$FERRY_PG_BIN` if set, else the newest `/usr/lib/postgresql/*/bin` with an `initdb`,
/// else `pg_config --bindir`. Fails with [`ErrorKind::NotFound`] when there is none.
pub fn find_bin_dir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FERRY_PG_BIN").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").is_file() {
            return Ok(dir);
        }
        return Err(io::Error::new(
            ErrorKind::NotFound,
            format!("FERRY_PG_BIN={} has no `initdb`", dir.display()),
        ));
    }
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        for entry in entries.flatten() {
            let bin = entry.path().join("bin");
            if !bin.join("initdb").is_file() {
                continue;
            }
            let version: Vec<u32> = entry
                .file_name()
                .to_string_lossy()
                .split('.')
                .map(|part| part.parse().unwrap_or(0))
                .collect();
            if best.as_ref().is_none_or(|(v, _)| version > *v) {
                best = Some((version, bin));
            }
        }
    }
    if let Some((_, bin)) = best {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if bin.join("initdb").is_file() {
            return Ok(bin);
        }
    }
    Err(io::Error::new(
        ErrorKind::NotFound,
        "PostgreSQL server binaries not found (no `initdb` in $FERRY_PG_BIN, \
         /usr/lib/postgresql/*/bin or `pg_config --bindir`); install `postgresql` \
         (e.g. `apt-get install postgresql`) or set FERRY_PG_BIN",
    ))
}

/// For a test that needs PostgreSQL: returns `true` (after printing why) when the test should
/// return early because no binaries are installed. Under `CI` (set and not `false`/`0`), or
/// when `FERRY_PG_BIN` is set but wrong, a missing PostgreSQL is a failure, not a skip: this
/// panics.
pub fn skip_if_unavailable(test: &str) -> bool {
    let Err(e) = find_bin_dir() else {
        return false;
    };
    let explicit = std::env::var_os("FERRY_PG_BIN").is_some_and(|v| !v.is_empty());
    assert!(!explicit, "{test}: {e}");
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "{test}: PostgreSQL is required under CI: {e}");
    println!("skipping {test}: {e}");
    true
}

impl Cluster {
    /// Starts a cluster with the default [`Options`] (no TLS).
    pub fn start() -> io::Result<Cluster> {
        Cluster::start_with(Options::default())
    }

    /// Starts a cluster set up as `options` says.
    pub fn start_with(options: Options) -> io::Result<Cluster> {
        let bin = find_bin_dir()?;
        let dir = tempfile::Builder::new().prefix("ferry-pg-").tempdir()?;
        let as_postgres = fs::metadata(dir.path())?.uid() == 0;
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            ssl: options.ssl,
            ca: None,
            as_postgres,
            file_size_limit_kib: options.file_size_limit_kib,
        };
        let owner = if as_postgres {
            let owner = postgres_ids()?;
            chown(cluster.dir.path(), owner)?;
            Some(owner)
        } else {
            None
        };

        let pwfile = cluster.dir.path().join("pwfile");
        fs::write(&pwfile, format!("{PASSWORD}\n"))?;
        fs::set_permissions(&pwfile, fs::Permissions::from_mode(0o600))?;
        if let Some(owner) = owner {
            chown(&pwfile, owner)?;
        }
        cluster.initdb(&pwfile)?;
        let _ = fs::remove_file(&pwfile);

        let mut conf = String::new();
        if options.ssl {
            let (cert, key) = cluster.make_certificate(owner)?;
            let _ = writeln!(
                conf,
                "ssl=on\nssl_cert_file='{}'\nssl_key_file='{}'",
                conf_path(&cert),
                conf_path(&key)
            );
        }
        let hba = if options.ssl {
            "hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostssl replication all 127.0.0.1/32 scram-sha-256\n\
             hostnossl all all 127.0.0.1/32 reject\n\
             local all all trust\n"
        } else {
            "host all all 127.0.0.1/32 scram-sha-256\n\
             host replication all 127.0.0.1/32 scram-sha-256\n\
             local all all trust\n"
        };
        fs::write(cluster.data_dir().join("pg_hba.conf"), hba)?;

        let conf_file = cluster.data_dir().join("postgresql.conf");
        let initial = fs::read_to_string(&conf_file)?;
        let _ = write!(
            conf,
            "listen_addresses='127.0.0.1'\n\
             unix_socket_directories='{}'\n\
             fsync=off\n\
             synchronous_commit=off\n\
             full_page_writes=off\n\
             wal_level={}\n\
             max_wal_senders=10\n\
             max_replication_slots=10\n\
             shared_buffers=128MB\n\
             max_connections=100\n\
             log_min_messages=warning\n",
            conf_path(cluster.dir.path()),
            if options.logical {
                "logical"
            } else {
                "replica"
            }
        );

        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            fs::write(
                &conf_file,
                format!("{initial}\n# ferry-test\n{conf}port={port}\n"),
            )?;
            match cluster.pg_ctl_start() {
                Ok(()) => {
                    cluster.port = port;
                    return Ok(cluster);
                }
                Err((e, port_taken)) => {
                    last_error = Some(e);
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("PostgreSQL did not start")))
    }

    /// The TCP port the server listens on (on `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for database `db` as the `postgres` superuser, without query
    /// parameters: `postgres://postgres:ferry-test-pw@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// Whether the cluster serves TLS (and refuses non-TLS TCP connections).
    pub fn ssl(&self) -> bool {
        self.ssl
    }

    /// The self-signed certificate the server presents (for `sslrootcert`), readable by
    /// anyone; `None` unless the cluster was started with [`Options::ssl`].
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// The directory the binaries (`psql`, `pg_dump`, …) were taken from.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A `psql` command over TCP to database `db` as `postgres`, with the password and
    /// `PGSSLMODE` (`require` for a TLS cluster, else `disable`) in its environment, no
    /// `psqlrc`, quiet, unaligned tuples-only output and `ON_ERROR_STOP`. Add `-c`/`-f`.
    pub fn psql_command(&self, db: &str) -> Command {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-h",
            "127.0.0.1",
        ])
        .arg("-p")
        .arg(self.port.to_string())
        .args(["-U", "postgres", "-d", db])
        .env("PGPASSWORD", PASSWORD)
        .env("PGSSLMODE", if self.ssl { "require" } else { "disable" })
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGSERVICE")
        .env_remove("PGOPTIONS")
        .stdin(Stdio::null());
        cmd
    }

    /// Runs `sql` in database `db` with `psql -c`; returns the trimmed output (tuples only,
    /// columns separated by `|`, one row per line), or an error holding psql's stderr.
    pub fn psql(&self, db: &str, sql: &str) -> io::Result<String> {
        let mut cmd = self.psql_command(db);
        cmd.arg("-c").arg(sql);
        run_psql(cmd, &format!("psql -d {db} -c {:?}", clip(sql)))
    }

    /// Runs the SQL file at `path` in database `db` with `psql -f` (stopping at the first
    /// error); returns the trimmed output, or an error holding psql's stderr.
    pub fn psql_file(&self, db: &str, path: &Path) -> io::Result<String> {
        let mut cmd = self.psql_command(db);
        cmd.arg("-f").arg(path);
        run_psql(cmd, &format!("psql -d {db} -f {}", path.display()))
    }

    /// Creates database `name` (any name; it is quoted).
    pub fn create_database(&self, name: &str) -> io::Result<()> {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        self.psql("postgres", &format!("CREATE DATABASE {quoted}"))
            .map(|_| ())
    }

    /// A command for server-side binary `program`, run as the `postgres` OS user when we are
    /// root, inside the cluster's folder.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        };
        cmd.current_dir(self.dir.path()).stdin(Stdio::null());
        cmd
    }

    fn initdb(&self, pwfile: &Path) -> io::Result<()> {
        let data = self.data_dir();
        let mut errors = Vec::new();
        for locale in ["--locale=C.UTF-8", "--no-locale"] {
            let mut cmd = self.server_command("initdb");
            cmd.arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-A", "scram-sha-256"])
                .arg(format!("--pwfile={}", pwfile.display()))
                .args(["-E", "UTF8", locale]);
            let out = run(&mut cmd, "initdb")?;
            if out.status.success() {
                return Ok(());
            }
            errors.push(format!("initdb {locale}: {}", output_text(&out)));
            // A failed initdb removes the folder it created; make sure before retrying.
            let _ = fs::remove_dir_all(&data);
        }
        Err(io::Error::other(errors.join("\n")))
    }

    /// Writes a throwaway certificate authority (`ca.crt`, world-readable) and a server
    /// certificate for `localhost`/`127.0.0.1` signed by it, with its key (0600, owned by the
    /// server's user) — the shape of a hosted Postgres (a CA the client trusts, a leaf the
    /// server presents), so `verify-full` can be tested for real.
    fn make_certificate(&mut self, owner: Option<(u32, u32)>) -> io::Result<(PathBuf, PathBuf)> {
        let dir = self.dir.path();
        let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
        let (ca, ca_key, csr, ext) = (
            dir.join("ca.crt"),
            dir.join("ca.key"),
            dir.join("server.csr"),
            dir.join("server.ext"),
        );
        fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )?;
        let steps: [Vec<std::ffi::OsString>; 3] = [
            [
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "3",
                "-subj",
                "/CN=ferry test CA",
                "-keyout",
            ]
            .iter()
            .map(Into::into)
            .chain([
                ca_key.clone().into_os_string(),
                "-out".into(),
                ca.clone().into_os_string(),
            ])
            .collect(),
            [
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
            ]
            .iter()
            .map(Into::into)
            .chain([
                key.clone().into_os_string(),
                "-out".into(),
                csr.clone().into_os_string(),
            ])
            .collect(),
            ["x509", "-req", "-days", "3", "-set_serial", "2", "-in"]
                .iter()
                .map(Into::into)
                .chain([
                    csr.clone().into_os_string(),
                    "-CA".into(),
                    ca.clone().into_os_string(),
                    "-CAkey".into(),
                    ca_key.clone().into_os_string(),
                    "-extfile".into(),
                    ext.clone().into_os_string(),
                    "-out".into(),
                    cert.clone().into_os_string(),
                ])
                .collect(),
        ];
        for args in steps {
            let mut cmd = Command::new("openssl");
            cmd.args(&args).stdin(Stdio::null());
            let out = run(&mut cmd, "openssl (install the `openssl` CLI)")?;
            if !out.status.success() {
                return Err(io::Error::other(format!(
                    "openssl failed: {}",
                    output_text(&out)
                )));
            }
        }
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600))?;
        fs::set_permissions(&cert, fs::Permissions::from_mode(0o644))?;
        if let Some(owner) = owner {
            chown(&key, owner)?;
            chown(&cert, owner)?;
        }
        fs::set_permissions(&ca, fs::Permissions::from_mode(0o644))?;
        self.ca = Some(ca);
        Ok((cert, key))
    }

    /// `pg_ctl start`; on failure the error (with the log's tail) and whether the port was
    /// taken.
    fn pg_ctl_start(&self) -> Result<(), (io::Error, bool)> {
        let log = self.dir.path().join("log");
        let before = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let mut cmd = self.server_command("pg_ctl");
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"]);
        if let Some(kib) = self.file_size_limit_kib {
            // The limit is inherited by the postmaster and every backend it forks. `sh`'s
            // `ulimit -f` counts 512-byte blocks (POSIX).
            let mut limited = Command::new("sh");
            limited
                .arg("-c")
                .arg(format!(
                    "ulimit -f {} && exec \"$@\"",
                    kib.saturating_mul(2)
                ))
                .arg("sh")
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .current_dir(self.dir.path())
                .stdin(Stdio::null());
            cmd = limited;
        }
        let out = run(&mut cmd, "pg_ctl").map_err(|e| (e, false))?;
        if out.status.success() {
            return Ok(());
        }
        let text = fs::read(&log).unwrap_or_default();
        let attempt = String::from_utf8_lossy(text.get(before as usize..).unwrap_or_default());
        let port_taken = attempt.contains("Address already in use")
            || attempt.contains("could not create any TCP/IP sockets");
        let tail: Vec<&str> = attempt.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let e = io::Error::other(format!(
            "pg_ctl start failed: {}\n--- server log ({}) ---\n{}",
            output_text(&out),
            log.display(),
            tail.join("\n")
        ));
        Err((e, port_taken))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut cmd = self.server_command("pg_ctl");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
        // The TempDir field is dropped (and the folder removed, errors ignored) after this.
    }
}

/// Runs `cmd`, turning a failure to spawn it into a clear error.
fn run(cmd: &mut Command, what: &str) -> io::Result<Output> {
    cmd.output()
        .map_err(|e| io::Error::new(e.kind(), format!("could not run {what}: {e}")))
}

fn run_psql(mut cmd: Command, what: &str) -> io::Result<String> {
    let out = run(&mut cmd, "psql")?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(io::Error::other(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn output_text(out: &Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.trim().is_empty() {
        text.push('\n');
        text.push_str(stdout.trim());
    }
    format!("({}) {text}", out.status)
}

/// The first line of `sql`, cut to 200 characters, for error messages.
fn clip(sql: &str) -> String {
    let first = sql.lines().next().unwrap_or_default();
    let mut s: String = first.chars().take(200).collect();
    if s.len() < sql.len() {
        s.push('…');
    }
    s
}

/// A path as a single-quoted postgresql.conf value.
fn conf_path(path: &Path) -> String {
    path.display().to_string().replace('\'', "''")
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// The uid and gid of the `postgres` OS user.
fn postgres_ids() -> io::Result<(u32, u32)> {
    let id = |flag: &str| -> io::Result<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(io::Error::new(
                ErrorKind::NotFound,
                "running as root, but there is no `postgres` OS user to run PostgreSQL as \
                 (initdb refuses root); install `postgresql` or run the tests as another user",
            ));
        }
        text.trim()
            .parse()
            .map_err(|_| io::Error::other(format!("`id {flag} postgres` printed {text:?}")))
    };
    Ok((id("-u")?, id("-g")?))
}

fn chown(path: &Path, (uid, gid): (u32, u32)) -> io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("could not chown {} to postgres: {e}", path.display()),
        )
    })
}
