//! What a running pull or verify shows: a live display on a terminal (a phase line and one
//! line per active table), plain phase and table lines otherwise, or — with `--json` — every
//! [`Event`] as one JSON line on stdout.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferry_data::{Event, JobKind, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::render::{human, secs, thousands};
use crate::output::Output;

/// The observer handed to `ferry_data::pull`/`verify`.
pub struct Display<'a> {
    kind: JobKind,
    mode: Mode<'a>,
    job: Mutex<Option<String>>,
    /// A follow's last lag, and when (and in which caught-up state) a plain line last showed it.
    lag: Mutex<LagSeen>,
    /// Where a follow's lag is recorded for `ferry db jobs` and `GET /api/v1/jobs`.
    store: Option<&'a ferry_control::JobDb>,
}

/// The job-progress entry a follow's lag is recorded under: rows = changes applied by the run,
/// bytes = WAL bytes behind.
pub const LAG_ENTRY: &str = "lag";

/// How often a follow's lag is written to jobs.db while its caught-up state does not change.
const RECORD_LAG_EVERY: Duration = Duration::from_secs(5);

/// What the display knows of a follow's lag.
#[derive(Default)]
struct LagSeen {
    last: Option<Lag>,
    printed: Option<(Instant, bool)>,
    recorded: Option<(Instant, bool)>,
}

/// A follow's lag as last reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lag {
    /// WAL bytes behind.
    pub bytes: u64,
    /// Seconds behind.
    pub seconds: f64,
    /// Transactions applied by this run.
    pub transactions: u64,
    /// Row changes applied by this run.
    pub rows: u64,
}

impl Lag {
    /// Nothing left to apply.
    pub fn caught_up(&self) -> bool {
        self.bytes == 0 || self.seconds <= 0.0
    }
}

/// How often a plain (non-terminal) display prints the lag while its state does not change.
const PLAIN_LAG_EVERY: Duration = Duration::from_secs(10);

enum Mode<'a> {
    Json(&'a Output),
    Plain,
    Live(Live),
}

/// The terminal display: a phase spinner on top, a bar per table being worked on.
struct Live {
    multi: MultiProgress,
    phase: ProgressBar,
    state: Mutex<LiveState>,
}

#[derive(Default)]
struct LiveState {
    phase: String,
    tables: HashMap<String, Table>,
    done: usize,
    rows: u64,
    bytes: u64,
}

struct Table {
    bar: ProgressBar,
    /// Estimated rows and bytes (0: unknown).
    estimate: (u64, u64),
    /// The first progress seen: rates count from there, so rows kept from an earlier run
    /// (already in the first report of a resumed table) do not inflate them.
    base: Option<(Instant, u64, u64)>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl<'a> Display<'a> {
    /// JSON lines with `--json`, the live display on a terminal, plain lines otherwise.
    pub fn new(kind: JobKind, out: &'a Output) -> Self {
        let mode = if out.json {
            Mode::Json(out)
        } else if std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let phase = multi.add(ProgressBar::new_spinner());
            phase.set_style(style("{spinner} {msg}"));
            phase.enable_steady_tick(Duration::from_millis(120));
            phase.set_message("connecting");
            Mode::Live(Live {
                multi,
                phase,
                state: Mutex::new(LiveState::default()),
            })
        } else {
            Mode::Plain
        };
        Display {
            kind,
            mode,
            job: Mutex::new(None),
            lag: Mutex::new(LagSeen::default()),
            store: None,
        }
    }

    /// Records a follow's lag in `store` too (every few seconds, and when the target catches
    /// up or falls behind), under the job's [`LAG_ENTRY`] progress.
    pub fn recording_lag(mut self, store: &'a ferry_control::JobDb) -> Self {
        self.store = Some(store);
        self
    }

    /// Records a lag event; whether a plain display should print it now (every
    /// [`PLAIN_LAG_EVERY`], and whenever the target catches up or falls behind).
    fn see_lag(&self, lag: Lag) -> bool {
        let Ok(mut seen) = self.lag.lock() else {
            return false;
        };
        seen.last = Some(lag);
        let now = Instant::now();
        let due = match seen.printed {
            None => true,
            Some((at, caught_up)) => {
                caught_up != lag.caught_up() || now.duration_since(at) >= PLAIN_LAG_EVERY
            }
        };
        if due {
            seen.printed = Some((now, lag.caught_up()));
        }
        let record = match seen.recorded {
            None => true,
            Some((at, caught_up)) => {
                caught_up != lag.caught_up() || now.duration_since(at) >= RECORD_LAG_EVERY
            }
        };
        if record
            && let Some(store) = self.store
            && let Some(job) = self.job_id()
        {
            seen.recorded = Some((now, lag.caught_up()));
            // Best effort: a busy jobs.db must not stop the follow.
            let _ = ferry_data::Checkpoints::progress(store, &job, LAG_ENTRY, lag.rows, lag.bytes);
        }
        due
    }

    /// The job's id, once the library has announced it.
    pub fn job_id(&self) -> Option<String> {
        self.job.lock().ok().and_then(|j| j.clone())
    }

    /// A line of our own (stderr; not in JSON mode, where stdout carries only events).
    pub fn note(&self, message: &str) {
        match &self.mode {
            Mode::Json(_) => eprintln!("{message}"),
            Mode::Plain => eprintln!("{message}"),
            Mode::Live(live) => live.println(message),
        }
    }

    /// Removes the live display (before the report is printed).
    pub fn clear(&self) {
        if let Mode::Live(live) = &self.mode {
            if let Ok(mut state) = live.state.lock() {
                for (_, table) in state.tables.drain() {
                    table.bar.finish_and_clear();
                }
            }
            live.phase.finish_and_clear();
            let _ = live.multi.clear();
        }
    }

    /// The line printed when a table is done.
    fn done_line(&self, table: &str, rows: u64, bytes: u64, seconds: f64) -> String {
        match self.kind {
            JobKind::Pull => format!(
                "✓ {table}  {} rows  {}  {}",
                thousands(rows),
                human(bytes),
                secs(seconds)
            ),
            JobKind::Verify => {
                format!(
                    "· {table}  {} rows checked  {}",
                    thousands(rows),
                    secs(seconds)
                )
            }
            _ => format!("· {table}  {} rows  {}", thousands(rows), secs(seconds)),
        }
    }
}

impl Observer for Display<'_> {
    fn event(&self, event: &Event) {
        if let Event::Job { id, .. } = event
            && let Ok(mut job) = self.job.lock()
        {
            *job = Some(id.clone());
        }
        let lag = match event {
            Event::Lag {
                bytes,
                seconds,
                transactions,
                rows,
            } => {
                let lag = Lag {
                    bytes: *bytes,
                    seconds: *seconds,
                    transactions: *transactions,
                    rows: *rows,
                };
                Some((lag, self.see_lag(lag)))
            }
            _ => None,
        };
        match &self.mode {
            Mode::Json(out) => {
                // `Output::print_json` prints one line in this mode (JSON lines).
                out.print_json(event);
            }
            Mode::Plain => match event {
                Event::Job {
                    id,
                    resumed: true,
                    chunks_kept,
                } => eprintln!("resuming {id}: {chunks_kept} chunks already committed"),
                Event::Phase { phase } => eprintln!("{phase}…"),
                Event::TableDone {
                    table,
                    rows,
                    bytes,
                    secs,
                } => eprintln!("{}", self.done_line(table, *rows, *bytes, *secs)),
                Event::Note { message } => eprintln!("note: {message}"),
                Event::Lag { .. } => {
                    if let Some((lag, true)) = lag {
                        eprintln!("{}", lag_line(&lag));
                    }
                }
                // Job (not resumed), TableStart, Progress, Chunk: only the live display and
                // JSON show those.
                _ => {}
            },
            Mode::Live(live) => live.event(self, event),
        }
    }
}

impl Live {
    fn println(&self, line: &str) {
        if self.multi.println(line).is_err() {
            eprintln!("{line}");
        }
    }

    fn event(&self, display: &Display<'_>, event: &Event) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match event {
            Event::Job {
                id,
                resumed: true,
                chunks_kept,
            } => self.println(&format!(
                "resuming {id}: {chunks_kept} chunks already committed"
            )),
            Event::Phase { phase } => {
                state.phase = phase.clone();
                self.phase.set_message(phase_line(&state));
            }
            Event::TableStart { table, rows, bytes } => {
                let bar = self.multi.add(ProgressBar::new(*rows));
                bar.set_style(if *rows > 0 {
                    style("  {prefix:32!} {bar:20} {msg}")
                } else {
                    style("  {prefix:32!} {spinner} {msg}")
                });
                bar.set_prefix(table.clone());
                bar.enable_steady_tick(Duration::from_millis(250));
                if let Some(old) = state.tables.insert(
                    table.clone(),
                    Table {
                        bar,
                        estimate: (*rows, *bytes),
                        base: None,
                    },
                ) {
                    old.bar.finish_and_clear();
                    self.multi.remove(&old.bar);
                }
            }
            Event::Progress { table, rows, bytes } => {
                if let Some(t) = state.tables.get_mut(table) {
                    let (since, base_rows, base_bytes) =
                        *t.base.get_or_insert((Instant::now(), *rows, *bytes));
                    if t.estimate.0 > 0 {
                        t.bar.set_length(t.estimate.0.max(*rows));
                    }
                    t.bar.set_position(*rows);
                    let elapsed = since.elapsed().as_secs_f64();
                    let rates = (elapsed >= 0.5).then(|| Rates {
                        rows: rows.saturating_sub(base_rows) as f64 / elapsed,
                        bytes: bytes.saturating_sub(base_bytes) as f64 / elapsed,
                    });
                    t.bar
                        .set_message(rate_line(*rows, *bytes, t.estimate, rates));
                }
            }
            Event::TableDone {
                table,
                rows,
                bytes,
                secs,
            } => {
                if let Some(t) = state.tables.remove(table) {
                    t.bar.finish_and_clear();
                    self.multi.remove(&t.bar);
                }
                state.done += 1;
                state.rows += rows;
                state.bytes += bytes;
                self.println(&display.done_line(table, *rows, *bytes, *secs));
                self.phase.set_message(phase_line(&state));
            }
            Event::Note { message } => self.println(&format!("note: {message}")),
            Event::Lag {
                bytes,
                seconds,
                transactions,
                rows,
            } => {
                state.phase = lag_line(&Lag {
                    bytes: *bytes,
                    seconds: *seconds,
                    transactions: *transactions,
                    rows: *rows,
                });
                self.phase.set_message(state.phase.clone());
            }
            // Chunk commits show as the table's progress.
            _ => {}
        }
    }
}

/// `following · 12.0 kB / 0.4 s behind · 1,234 changes in 56 transactions applied`.
pub fn lag_line(lag: &Lag) -> String {
    let behind = if lag.caught_up() {
        "caught up".to_string()
    } else {
        format!("{} / {} behind", human(lag.bytes), secs(lag.seconds))
    };
    format!(
        "following · {behind} · {} change{} in {} transaction{} applied",
        thousands(lag.rows),
        if lag.rows == 1 { "" } else { "s" },
        thousands(lag.transactions),
        if lag.transactions == 1 { "" } else { "s" },
    )
}

/// `copy · 3 tables done · 12,000 rows · 4.1 MB`.
fn phase_line(state: &LiveState) -> String {
    if state.done == 0 {
        return state.phase.clone();
    }
    format!(
        "{} · {} table{} done · {} rows · {}",
        state.phase,
        state.done,
        if state.done == 1 { "" } else { "s" },
        thousands(state.rows),
        human(state.bytes)
    )
}

/// Rows and bytes per second.
struct Rates {
    rows: f64,
    bytes: f64,
}

/// `12,345 rows  3,210 rows/s  1.2 MB/s  ETA 12 s`: the ETA from the estimated rows, else
/// the estimated bytes; no rates until they mean something.
fn rate_line(rows: u64, bytes: u64, estimate: (u64, u64), rates: Option<Rates>) -> String {
    let mut line = format!("{} rows", thousands(rows));
    let Some(rates) = rates else {
        return line;
    };
    line.push_str(&format!(
        "  {} rows/s  {}/s",
        thousands(rates.rows as u64),
        human(rates.bytes as u64)
    ));
    let left = if estimate.0 > rows && rates.rows > 0.0 {
        Some((estimate.0 - rows) as f64 / rates.rows)
    } else if estimate.0 == 0 && estimate.1 > bytes && rates.bytes > 0.0 {
        Some((estimate.1 - bytes) as f64 / rates.bytes)
    } else {
        None
    };
    if let Some(left) = left {
        line.push_str(&format!("  ETA {}", eta(left)));
    }
    line
}

fn eta(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_eta() {
        let rates = |rows, bytes| Some(Rates { rows, bytes });
        assert_eq!(
            rate_line(1_000, 2_000_000, (3_000, 0), rates(1_000.0, 2e6)),
            "1,000 rows  1,000 rows/s  2.0 MB/s  ETA 2 s"
        );
        // An estimate below the rows so far: no ETA.
        assert_eq!(
            rate_line(5_000, 1_000, (3_000, 0), rates(2_500.0, 500.0)),
            "5,000 rows  2,500 rows/s  500 B/s"
        );
        // No row estimate: the ETA comes from the bytes.
        assert_eq!(
            rate_line(10, 1_000_000, (0, 3_000_000), rates(5.0, 1e6)),
            "10 rows  5 rows/s  1.0 MB/s  ETA 2 s"
        );
        assert_eq!(rate_line(10, 0, (0, 0), None), "10 rows");
        assert_eq!(eta(3_725.0), "1 h 2 min");
    }

    #[test]
    fn lag_lines() {
        let lag = Lag {
            bytes: 12_000,
            seconds: 0.4,
            transactions: 56,
            rows: 1_234,
        };
        assert_eq!(
            lag_line(&lag),
            "following · 12.0 kB / 0.4 s behind · 1,234 changes in 56 transactions applied"
        );
        let idle = Lag {
            bytes: 0,
            seconds: 0.0,
            transactions: 1,
            rows: 1,
        };
        assert_eq!(
            lag_line(&idle),
            "following · caught up · 1 change in 1 transaction applied"
        );
    }
}
