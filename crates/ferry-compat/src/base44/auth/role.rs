//! Which role a user gets when they register.
//!
//! Nobody becomes `admin` by registering: the role never comes from the request. A new email
//! gets `user`. An email that already has a row (a user migrated from the exported app, or
//! invited by an admin with `users/invite-user`) keeps the role that row holds — `admin`
//! stays `admin`, `user` stays `user`, and any other value (not a valid role) becomes `user`.
//! Admins are made by migration, by an admin's invitation, or by the owner through ferry.

/// The role a registering user gets, given the role of the existing row for their email
/// (`None` when there is none).
pub fn role_for_new_user(existing_role: Option<&str>) -> &'static str {
    match existing_role {
        Some("admin") => "admin",
        _ => "user",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert_eq!(role_for_new_user(None), "user");
        assert_eq!(role_for_new_user(Some("user")), "user");
        assert_eq!(role_for_new_user(Some("admin")), "admin");
        assert_eq!(role_for_new_user(Some("Admin")), "user");
        assert_eq!(role_for_new_user(Some("owner")), "user");
        assert_eq!(role_for_new_user(Some("")), "user");
    }
}
