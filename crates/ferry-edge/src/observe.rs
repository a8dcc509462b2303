//! Observability of the data plane: Prometheus metrics (requests by app and status, bytes,
//! a latency histogram, the live release per app) and an optional access log (JSON lines,
//! written by a background task so the request path never waits on the disk).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Latency bucket upper bounds, in microseconds.
pub const BUCKETS_US: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];
/// Status codes counted individually; others fall into their class.
const CODES: [u16; 9] = [200, 206, 304, 400, 404, 405, 416, 431, 500];

/// Counters of one app.
#[derive(Debug, Default)]
pub struct AppMetrics {
    by_code: [AtomicU64; CODES.len()],
    by_class: [AtomicU64; 6],
    bytes: AtomicU64,
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl AppMetrics {
    fn record(&self, status: u16, bytes: u64, took: Duration) {
        match CODES.iter().position(|c| *c == status) {
            Some(i) => self.by_code[i].fetch_add(1, Ordering::Relaxed),
            None => self.by_class[usize::from(status / 100).min(5)].fetch_add(1, Ordering::Relaxed),
        };
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let us = took.as_micros() as u64;
        let bucket = BUCKETS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(BUCKETS_US.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Metrics of every app (`""` for requests no app answered).
#[derive(Debug, Default)]
pub struct Metrics {
    apps: RwLock<HashMap<String, Arc<AppMetrics>>>,
}

impl Metrics {
    /// Records one response.
    pub fn record(&self, app: &str, status: u16, bytes: u64, took: Duration) {
        let found = self.apps.read().ok().and_then(|m| m.get(app).cloned());
        let metrics = match found {
            Some(m) => m,
            None => {
                let Ok(mut map) = self.apps.write() else {
                    return;
                };
                map.entry(app.to_string()).or_default().clone()
            }
        };
        metrics.record(status, bytes, took);
    }

    /// The Prometheus text exposition, plus the live release of each app.
    pub fn render(&self, live: &[(String, String)]) -> String {
        let mut s = String::new();
        let apps: Vec<(String, Arc<AppMetrics>)> = self
            .apps
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        s.push_str("# HELP ferry_edge_requests_total Responses by app and status.\n# TYPE ferry_edge_requests_total counter\n");
        for (app, m) in &apps {
            for (i, code) in CODES.iter().enumerate() {
                let n = m.by_code[i].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        s,
                        "ferry_edge_requests_total{{app=\"{app}\",status=\"{code}\"}} {n}"
                    );
                }
            }
            for (class, counter) in m.by_class.iter().enumerate() {
                let n = counter.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        s,
                        "ferry_edge_requests_total{{app=\"{app}\",status=\"{class}xx\"}} {n}"
                    );
                }
            }
        }
        s.push_str("# HELP ferry_edge_response_bytes_total Body bytes sent by app.\n# TYPE ferry_edge_response_bytes_total counter\n");
        for (app, m) in &apps {
            let _ = writeln!(
                s,
                "ferry_edge_response_bytes_total{{app=\"{app}\"}} {}",
                m.bytes.load(Ordering::Relaxed)
            );
        }
        s.push_str("# HELP ferry_edge_request_duration_seconds Time to answer, by app.\n# TYPE ferry_edge_request_duration_seconds histogram\n");
        for (app, m) in &apps {
            let mut cumulative = 0;
            for (i, bound) in BUCKETS_US.iter().enumerate() {
                cumulative += m.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    s,
                    "ferry_edge_request_duration_seconds_bucket{{app=\"{app}\",le=\"{}\"}} {cumulative}",
                    *bound as f64 / 1e6
                );
            }
            cumulative += m.buckets[BUCKETS_US.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "ferry_edge_request_duration_seconds_bucket{{app=\"{app}\",le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                s,
                "ferry_edge_request_duration_seconds_sum{{app=\"{app}\"}} {}",
                m.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                s,
                "ferry_edge_request_duration_seconds_count{{app=\"{app}\"}} {}",
                m.count.load(Ordering::Relaxed)
            );
        }
        s.push_str("# HELP ferry_edge_live_release The release each app serves (value 1).\n# TYPE ferry_edge_live_release gauge\n");
        for (app, release) in live {
            let _ = writeln!(
                s,
                "ferry_edge_live_release{{app=\"{app}\",release=\"{release}\"}} 1"
            );
        }
        s
    }
}

/// One access-log line.
#[derive(Debug, serde::Serialize)]
pub struct AccessEntry {
    /// Unix milliseconds.
    pub ts: u64,
    /// App (empty when none answered).
    pub app: String,
    /// Method.
    pub method: String,
    /// Path as requested.
    pub path: String,
    /// Status.
    pub status: u16,
    /// Body bytes.
    pub bytes: u64,
    /// Microseconds to answer.
    pub us: u64,
    /// Release that answered.
    pub release: Option<String>,
    /// HTTP version.
    pub version: String,
}

/// An access log: lines go through a bounded channel to a writer task; when the disk is
/// slower than the traffic, lines are dropped and counted rather than slowing requests.
#[derive(Debug)]
pub struct AccessLog {
    tx: tokio::sync::mpsc::Sender<AccessEntry>,
    /// Lines dropped because the writer fell behind.
    pub dropped: AtomicU64,
}

impl AccessLog {
    /// Opens `path` for appending (`-` for stderr) and starts the writer task.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        use std::io::Write;
        let mut out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(std::io::stderr())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<AccessEntry>(65_536);
        tokio::task::spawn_blocking(move || {
            let mut buf = std::io::BufWriter::new(&mut out);
            while let Some(entry) = rx.blocking_recv() {
                if let Ok(line) = serde_json::to_string(&entry) {
                    let _ = writeln!(buf, "{line}");
                }
                if rx.is_empty() {
                    let _ = buf.flush();
                }
            }
            let _ = buf.flush();
        });
        Ok(AccessLog {
            tx,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues a line.
    pub fn log(&self, entry: AccessEntry) {
        if self.tx.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_counts_bytes_and_buckets() {
        let m = Metrics::default();
        m.record("shop", 200, 1000, Duration::from_micros(80));
        m.record("shop", 200, 500, Duration::from_micros(3_000));
        m.record("shop", 404, 10, Duration::from_micros(90));
        m.record("shop", 503, 0, Duration::from_secs(2));
        let text = m.render(&[("shop".into(), "r1".into())]);
        assert!(
            text.contains("ferry_edge_requests_total{app=\"shop\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("ferry_edge_requests_total{app=\"shop\",status=\"404\"} 1"));
        assert!(text.contains("ferry_edge_requests_total{app=\"shop\",status=\"5xx\"} 1"));
        assert!(text.contains("ferry_edge_response_bytes_total{app=\"shop\"} 1510"));
        assert!(
            text.contains(
                "ferry_edge_request_duration_seconds_bucket{app=\"shop\",le=\"0.0001\"} 2"
            )
        );
        assert!(
            text.contains("ferry_edge_request_duration_seconds_bucket{app=\"shop\",le=\"+Inf\"} 4")
        );
        assert!(text.contains("ferry_edge_live_release{app=\"shop\",release=\"r1\"} 1"));
    }
}
