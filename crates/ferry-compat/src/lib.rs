//! Vendor-compatible backends: ferry serves the APIs an app's vendor SDK calls, over the
//! owner's own database, so the app runs unchanged. Base44 first (`base44`).

pub mod base44;
pub mod port;
