//! One module per page. Each handler makes the API calls its page needs as the session (see
//! [`super::Signed`]) and renders the answers; none reads the control state itself.

pub mod app;
pub mod apps;
pub mod audit;
pub mod env;
pub mod findings;
pub mod jobs;
pub mod login;
pub mod logs;
pub mod owner;
pub mod releases;

/// A short form of a release id for narrow screens is not used: ids are 13 characters.
/// The app path segment of API and dashboard URLs.
pub fn app_path(app: &str) -> String {
    super::html::url(app)
}
