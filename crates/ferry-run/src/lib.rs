//! The process supervisor: runs a release's server processes, each in its own process group,
//! with an assigned port, a writable folder, resource limits (rlimits, and a cgroup v2 of its
//! own when the machine offers one: see [`Supervisor::cgroup_support`]) and captured, rotated,
//! redacted, rate-limited logs; checks their health over HTTP; restarts crashes with
//! exponential backoff until a crash loop; stops them with SIGTERM then SIGKILL; and records
//! them in a state folder so a ferry restarted after a crash adopts the live ones or kills the
//! orphans.
//!
//! It knows nothing of routing or of which release is live: the server decides, this crate
//! runs what it is told.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_run::RunError> {
//! use std::time::Duration;
//! let sup = ferry_run::Supervisor::new("/var/lib/ferry/run".into());
//! let spec = ferry_run::ProcessSpec::new(
//!     "shop", "r1a2b3c4d5e6f", "web", "node server.js", 41001,
//!     "/var/lib/ferry/trees/r1a2b3c4d5e6f".into(),
//!     "/var/lib/ferry/work/shop/web".into(),
//!     "/var/lib/ferry/logs/shop/r1a2b3c4d5e6f".into(),
//! );
//! let handle = sup.start(spec).await?;
//! sup.wait_healthy(&handle, Duration::from_secs(30)).await?;
//! // … route traffic, watch `handle.subscribe()` for crash loops …
//! sup.stop(&handle, Duration::from_secs(30)).await?;
//! # Ok(()) }
//! ```

mod cgroup;
mod error;
mod health;
mod logs;
mod monitor;
mod process;
mod procfs;
mod spec;
mod state;
mod supervisor;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use cgroup::CgroupSupport;
pub use error::RunError;
pub use spec::{
    EnforcedLimit, HealthCheck, Limits, LogPolicy, MIN_REDACTED_LEN, ProcessSpec, RestartPolicy,
};
pub use state::{Liveness, Recorded, STATE_VERSION};
pub use supervisor::{Handle, Orphan, ProcessInfo, Status, StopReport, Supervisor};

/// Locks a mutex, ignoring poisoning (no critical section here leaves data half-changed).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
