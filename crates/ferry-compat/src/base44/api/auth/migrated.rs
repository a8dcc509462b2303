//! The owner's invitations of users without a password (`ferry base44 invite`): Base44
//! exports no password hashes, so every migrated user is mailed a set-password link (a reset
//! token of kind `invite`, valid [`INVITE_TTL_SECS`]). A rerun skips the users whose
//! invitation is still pending unless asked to resend.

use serde::Serialize;

use super::sql::{By, UserRow, user_row, user_select_sql, users_without_password_sql};
use super::steps::{TokenKind, pending_tokens, store_reset_token};
use super::{AuthConfig, INVITE_TTL_SECS, normalize_email};
use crate::base44::api::ApiError;
use crate::base44::auth::mail::Mail;
use crate::base44::auth::unix_now;
use crate::base44::model::Entity;
use crate::base44::record::public_columns;
use crate::base44::store::Db;

/// What to do: whom, and whether to resend or only say what would happen.
#[derive(Debug, Clone, Default)]
pub struct InviteRequest {
    /// The users to invite, by email; empty: every user without a password.
    pub emails: Vec<String>,
    /// Send again to users whose invitation is still pending.
    pub resend: bool,
    /// Change nothing and send nothing; report what would be sent.
    pub dry_run: bool,
}

/// What happened to one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InviteStatus {
    /// The message was handed to the outbox (SMTP delivery, if configured, follows; its
    /// result is in `ferry outbox`).
    Sent,
    /// `dry_run`: it would be sent.
    WouldSend,
    /// Nothing sent (see the reason).
    Skipped,
    /// Nothing sent because something failed (see the reason).
    Failed,
}

/// One user's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invited {
    /// The user's email (as given, lower-cased, when no such user exists).
    pub email: String,
    /// The user's id (`null` when no such user exists).
    pub id: Option<String>,
    /// What happened.
    pub status: InviteStatus,
    /// Why (empty for `sent`).
    pub reason: String,
}

impl Invited {
    fn of(user: &UserRow, status: InviteStatus, reason: impl Into<String>) -> Invited {
        Invited {
            email: user.email.clone(),
            id: Some(user.id.clone()),
            status,
            reason: reason.into(),
        }
    }
}

/// Mails a set-password link to each user of `request` (see the module documentation), in
/// `db` whose applied `User` entity is `users`, through `config`'s outbox and links. One
/// failure does not stop the others; an error is returned only when the users cannot be read.
pub async fn invite_users(
    db: &Db,
    users: &Entity,
    config: &AuthConfig,
    request: &InviteRequest,
) -> Result<Vec<Invited>, ApiError> {
    let dialect = db.dialect();
    let width = public_columns(users).len() + 2;
    let mut targets: Vec<Result<UserRow, String>> = Vec::new();
    if request.emails.is_empty() {
        for cells in db.query(&users_without_password_sql(users), width).await? {
            targets.push(Ok(user_row(users, &cells, dialect)?));
        }
    } else {
        for raw in &request.emails {
            let Some(email) = normalize_email(raw) else {
                targets.push(Err(raw.trim().to_owned()));
                continue;
            };
            let rows = db
                .query(&user_select_sql(users, By::Email(&email), dialect), width)
                .await?;
            match rows.first() {
                Some(cells) => targets.push(Ok(user_row(users, cells, dialect)?)),
                None => targets.push(Err(email)),
            }
        }
    }
    let mut out = Vec::with_capacity(targets.len());
    for target in targets {
        let user = match target {
            Ok(user) => user,
            Err(email) => {
                out.push(Invited {
                    email,
                    id: None,
                    status: InviteStatus::Failed,
                    reason: "no user has this email".into(),
                });
                continue;
            }
        };
        out.push(invite_one(db, config, &user, request).await?);
    }
    Ok(out)
}

async fn invite_one(
    db: &Db,
    config: &AuthConfig,
    user: &UserRow,
    request: &InviteRequest,
) -> Result<Invited, ApiError> {
    if user.has_password() {
        return Ok(Invited::of(
            user,
            InviteStatus::Skipped,
            "has a password already (a reset link is what they need)",
        ));
    }
    if normalize_email(&user.email).is_none() {
        return Ok(Invited::of(
            user,
            InviteStatus::Failed,
            "the user's email address is not valid",
        ));
    }
    let now = unix_now();
    let mut tx = db.begin().await?;
    let pending = pending_tokens(&mut tx, db.dialect(), &user.email, now).await?;
    if let Some(p) = pending.iter().find(|p| p.invite)
        && !request.resend
    {
        tx.rollback().await?;
        let days = p.expires_at.saturating_sub(now).div_ceil(24 * 60 * 60);
        return Ok(Invited::of(
            user,
            InviteStatus::Skipped,
            format!(
                "invited {} ago; the link is valid for {days} more day(s) (--resend sends a new one)",
                ago(now.saturating_sub(p.issued_at))
            ),
        ));
    }
    if request.dry_run {
        tx.rollback().await?;
        return Ok(Invited::of(user, InviteStatus::WouldSend, "dry run"));
    }
    let token = store_reset_token(
        &mut tx,
        db.dialect(),
        &user.id,
        &user.email,
        INVITE_TTL_SECS,
        TokenKind::Invite,
    )
    .await?;
    let mail = Mail::set_password(
        &config.app_name,
        &user.email,
        &config.link(&token),
        INVITE_TTL_SECS,
    );
    match config.outbox.send(mail) {
        Ok(()) => {
            tx.commit().await?;
            Ok(Invited::of(user, InviteStatus::Sent, ""))
        }
        Err(e) => {
            tx.rollback().await?;
            Ok(Invited::of(user, InviteStatus::Failed, e.to_string()))
        }
    }
}

/// `secs` as "42 s", "5 min", "3 h" or "2 days".
fn ago(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::ago;

    #[test]
    fn ages() {
        assert_eq!(ago(5), "5 s");
        assert_eq!(ago(300), "5 min");
        assert_eq!(ago(7200), "2 h");
        assert_eq!(ago(3 * 86_400), "3 days");
    }
}
