//! Accounts of the portal: people (admin, office, evaluator, street), their passwords
//! (Argon2id), API tokens and sessions (stored only as SHA-256 hashes), failed logins
//! (for throttling), and which streets an evaluating organisation surveys in a round.
//! One SQLite file in the workspace, `surveys/portal.sqlite`, readable by the
//! service's own user only. Every change of an account or an assignment is journalled
//! (the store's journal, `crate::journal`) with the actor who made it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::journal::Draft;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Failed logins of one account within `THROTTLE_WINDOW` after which it is refused
/// until the window has passed (the next attempt, right or wrong, is refused).
pub const MAX_FAILURES: i64 = 5;
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Office,
    Evaluator,
    Street,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Office => "office",
            Role::Evaluator => "evaluator",
            Role::Street => "street",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Role::Admin => "管理员",
            Role::Office => "考核办",
            Role::Evaluator => "测评机构",
            Role::Street => "街道",
        }
    }

    fn parse(s: &str) -> Result<Role> {
        Ok(match s {
            "admin" => Role::Admin,
            "office" => Role::Office,
            "evaluator" => Role::Evaluator,
            "street" => Role::Street,
            other => {
                return Err(Error::Internal(format!(
                    "unknown role {other:?} in the accounts database"
                )));
            }
        })
    }

    /// Admin and office see every round, delivery and file.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Office)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// An evaluator's organisation.
    pub org: Option<String>,
    /// A street account's street code.
    pub street: Option<String>,
    pub disabled: bool,
    /// The password is a one-time password: it must be changed before anything else.
    pub must_change: bool,
    pub created_at: String,
}

/// An organisation's streets for a round (`manyi assign`): the rows of any other street
/// an evaluator of the organisation delivers are rejected (`ingest::Options::assigned`).
#[derive(Debug, Clone, Default)]
pub struct Assigned {
    pub org: String,
    pub streets: BTreeSet<String>,
}

/// What a login attempt came to.
#[derive(Debug)]
pub enum Login {
    Ok(Account),
    /// Wrong name or password (the same answer for both).
    Wrong,
    /// Too many failures: refused without checking, until `retry_after` seconds pass.
    Throttled {
        retry_after: i64,
    },
}

/// What an admin's password reset did.
#[derive(Debug)]
pub struct Reset {
    /// The new one-time password (shown once).
    pub password: String,
    /// API tokens of the account that were live and are now revoked.
    pub tokens_revoked: usize,
    /// The account was, and stays, disabled.
    pub disabled: bool,
}

/// What an account holder's password change came to.
#[derive(Debug, PartialEq, Eq)]
pub enum PasswordChange {
    Done,
    /// The current password given is wrong (counted like a failed login).
    WrongOld,
    /// Too many wrong current passwords: refused unchecked for `retry_after` seconds.
    Throttled {
        retry_after: i64,
    },
}

/// A live session: its account and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    pub csrf: String,
}

/// Session lifetimes, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle: i64,
    pub absolute: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            idle: 30 * 60,
            absolute: 8 * 3600,
        }
    }
}

pub struct Accounts {
    conn: Connection,
    ws: Workspace,
    journal: JournalMode,
}

/// How account events reach the journal. They are always deferred first
/// (`journal::defer`: never waiting for the store lock, which an ingest holds for
/// seconds); the CLI then appends them at once, the portal wakes its journal thread.
#[derive(Clone, Default)]
pub enum JournalMode {
    /// Append now (waits for the store lock): the command line.
    #[default]
    Now,
    /// Leave them for the portal's journal thread, woken by this channel.
    Later(std::sync::mpsc::Sender<()>),
}

pub fn db_path(ws: &Workspace) -> PathBuf {
    ws.root.join("surveys").join("portal.sqlite")
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `n` random bytes from the operating system, hex.
pub fn random_hex(n: usize) -> Result<String> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b)
        .map_err(|e| Error::Internal(format!("the system's random source failed: {e}")))?;
    Ok(hex::encode(b))
}

fn sha(s: &str) -> String {
    crate::fsutil::sha256_hex(s.as_bytes())
}

/// A one-time password people can type: 16 characters without look-alikes
/// (about 90 bits).
fn new_password() -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| Error::Internal(format!("the system's random source failed: {e}")))?;
    // Rejection sampling: bytes above the largest multiple of the alphabet are dropped.
    let limit = 256 - 256 % ALPHABET.len();
    let s: String = b
        .iter()
        .filter(|&&x| (x as usize) < limit)
        .take(16)
        .map(|&x| ALPHABET[x as usize % ALPHABET.len()] as char)
        .collect();
    if s.len() < 16 {
        return new_password();
    }
    Ok(s)
}

fn hash_password(pw: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| Error::Internal(format!("the system's random source failed: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Internal(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
}

fn password_matches(hash: &str, pw: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(pw.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A password someone chose: at least 10 characters, not all of one kind.
pub fn check_new_password(pw: &str) -> Result<()> {
    let n = pw.chars().count();
    let kinds = [
        pw.chars().any(|c| c.is_ascii_lowercase()),
        pw.chars().any(|c| c.is_ascii_uppercase()),
        pw.chars().any(|c| c.is_ascii_digit()),
        pw.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|&&k| k)
    .count();
    if n < 10 || kinds < 2 || n > 200 {
        return Err(Error::Invalid(crate::messages::t(
            "新密码至少 10 个字符,且包含至少两类字符(小写、大写、数字、符号)",
            "a new password has at least 10 characters of at least two kinds (lower case, upper case, digits, symbols)",
        ).into()));
    }
    Ok(())
}

/// A message in the language in force.
fn zh_en(zh: String, en: String) -> String {
    match crate::messages::lang() {
        crate::messages::Lang::Zh => zh,
        crate::messages::Lang::En => en,
    }
}

fn valid_name(name: &str) -> Result<String> {
    let n = name.trim();
    let ok = !n.is_empty()
        && n.chars().count() <= 64
        && n.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if !ok {
        return Err(Error::Invalid(zh_en(
            format!("账户名“{name}”不可用：须为 1–64 个字母、数字或 - _ . @"),
            format!("account name {name:?}: 1–64 letters, digits, or - _ . @"),
        )));
    }
    Ok(n.to_string())
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::Invalid(format!("accounts database: {e}"))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  org TEXT,
  street TEXT,
  pw_hash TEXT NOT NULL,
  must_change INTEGER NOT NULL DEFAULT 1,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
  hash TEXT PRIMARY KEY,
  user TEXT NOT NULL REFERENCES users(name),
  created_at TEXT NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
  hash TEXT PRIMARY KEY,
  user TEXT NOT NULL REFERENCES users(name),
  csrf TEXT NOT NULL,
  created INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (
  user TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_user ON login_failures(user, at);
CREATE TABLE IF NOT EXISTS assignments (
  round TEXT NOT NULL,
  street TEXT NOT NULL,
  org TEXT NOT NULL,
  PRIMARY KEY (round, street)
);
";

impl Accounts {
    /// Opens (creating when missing) the workspace's accounts database.
    pub fn open(ws: &Workspace) -> Result<Accounts> {
        let path = db_path(ws);
        if let Some(d) = path.parent() {
            crate::fsutil::create_dirs(d)?;
        }
        let fresh = !path.exists();
        let conn = Connection::open(&path).map_err(db_err)?;
        #[cfg(unix)]
        if fresh || path.exists() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(&path, e))?;
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        Ok(Accounts {
            conn,
            ws: ws.clone(),
            journal: JournalMode::Now,
        })
    }

    /// As `open`, journalling the way `mode` says.
    pub fn open_with(ws: &Workspace, mode: JournalMode) -> Result<Accounts> {
        let mut a = Accounts::open(ws)?;
        a.journal = mode;
        Ok(a)
    }

    fn journal(&self, actor: &str, d: Draft) -> Result<()> {
        journal_to(&self.ws, &self.journal, actor, d)
    }

    fn row_account(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Account, String)> {
        let role: String = r.get(1)?;
        Ok((
            Account {
                name: r.get(0)?,
                role: Role::parse(&role).unwrap_or(Role::Street),
                org: r.get(2)?,
                street: r.get(3)?,
                must_change: r.get::<_, i64>(5)? != 0,
                disabled: r.get::<_, i64>(6)? != 0,
                created_at: r.get(7)?,
            },
            r.get(4)?,
        ))
    }

    fn get_with_hash(&self, name: &str) -> Result<Option<(Account, String)>> {
        self.conn
            .query_row(
                "SELECT name, role, org, street, pw_hash, must_change, disabled, created_at FROM users WHERE name = ?1",
                params![name],
                Self::row_account,
            )
            .optional()
            .map_err(db_err)
    }

    pub fn get(&self, name: &str) -> Result<Option<Account>> {
        Ok(self.get_with_hash(name)?.map(|(a, _)| a))
    }

    fn require(&self, name: &str) -> Result<Account> {
        self.get(name)?.ok_or_else(|| {
            Error::Invalid(zh_en(
                format!("没有名为“{name}”的账户"),
                format!("no account named {name:?}"),
            ))
        })
    }

    /// Adds an account; returns it and its one-time password (shown once).
    pub fn add(
        &self,
        actor: &str,
        name: &str,
        role: Role,
        org: Option<&str>,
        street: Option<&str>,
    ) -> Result<(Account, String)> {
        let name = valid_name(name)?;
        let org = org.map(str::trim).filter(|s| !s.is_empty());
        let street = street.map(str::trim).filter(|s| !s.is_empty());
        match role {
            Role::Evaluator if org.is_none() => {
                return Err(Error::Invalid(zh_en(
                    "测评机构账户须填写所属机构".into(),
                    "an evaluator account belongs to an organisation: --org NAME".into(),
                )));
            }
            Role::Street => {
                let Some(code) = street else {
                    return Err(Error::Invalid(zh_en(
                        "街道账户须选择所属街道".into(),
                        "a street account belongs to a street: --street CODE".into(),
                    )));
                };
                let frame = self.ws.frame()?;
                if !frame.streets.contains_key(code) {
                    return Err(Error::Invalid(zh_en(
                        format!("街道代码 {code} 不在抽样框中"),
                        format!("street {code:?} is not in the frame (surveys/frame.csv)"),
                    )));
                }
            }
            _ => {}
        }
        if (role != Role::Evaluator && org.is_some()) || (role != Role::Street && street.is_some())
        {
            return Err(Error::Invalid(zh_en(
                "所属机构只用于测评机构账户，所属街道只用于街道账户".into(),
                "--org is for evaluator accounts, --street for street accounts".into(),
            )));
        }
        if self.get(&name)?.is_some() {
            return Err(Error::Invalid(zh_en(
                format!("已有名为“{name}”的账户"),
                format!("an account named {name:?} exists already"),
            )));
        }
        let pw = new_password()?;
        let hash = hash_password(&pw)?;
        let now = crate::store::now_utc();
        self.conn
            .execute(
                "INSERT INTO users (name, role, org, street, pw_hash, must_change, disabled, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 1, 0, ?6)",
                params![name, role.code(), org, street, hash, now],
            )
            .map_err(db_err)?;
        let mut d = Draft::new("user-add")
            .id(name.clone())
            .detail("role", role.code());
        if let Some(o) = org {
            d = d.detail("org", o);
        }
        if let Some(s) = street {
            d = d.detail("street", s);
        }
        self.journal(actor, d)?;
        Ok((self.require(&name)?, pw))
    }

    pub fn list(&self) -> Result<Vec<Account>> {
        let mut st = self
            .conn
            .prepare("SELECT name, role, org, street, pw_hash, must_change, disabled, created_at FROM users ORDER BY name")
            .map_err(db_err)?;
        let rows = st
            .query_map([], Self::row_account)
            .map_err(db_err)?
            .map(|r| r.map(|(a, _)| a))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        Ok(rows)
    }

    /// Disables an account: its sessions end and its tokens stop working.
    pub fn disable(&self, actor: &str, name: &str) -> Result<Account> {
        self.require(name)?;
        self.conn
            .execute(
                "UPDATE users SET disabled = 1 WHERE name = ?1",
                params![name],
            )
            .map_err(db_err)?;
        self.end_sessions_of(name)?;
        self.revoke_tokens_quiet(name)?;
        self.journal(actor, Draft::new("user-disable").id(name.to_string()))?;
        self.require(name)
    }

    /// Enables a disabled account (its tokens, revoked when it was disabled, stay so).
    pub fn enable(&self, actor: &str, name: &str) -> Result<Account> {
        self.require(name)?;
        self.conn
            .execute(
                "UPDATE users SET disabled = 0 WHERE name = ?1",
                params![name],
            )
            .map_err(db_err)?;
        self.journal(actor, Draft::new("user-enable").id(name.to_string()))?;
        self.require(name)
    }

    /// A new one-time password for `name` (`manyi user passwd`, by the admin): its
    /// sessions end and its API tokens are revoked (whoever had the old password may
    /// have made one); a disabled account stays disabled. A change by the account
    /// holder (`change_password`) keeps the tokens.
    pub fn reset_password(&self, actor: &str, name: &str) -> Result<Reset> {
        let before = self.require(name)?;
        let pw = new_password()?;
        self.conn
            .execute(
                "UPDATE users SET pw_hash = ?2, must_change = 1 WHERE name = ?1",
                params![name, hash_password(&pw)?],
            )
            .map_err(db_err)?;
        self.end_sessions_of(name)?;
        let tokens_revoked = self.revoke_tokens_quiet(name)?;
        self.conn
            .execute("DELETE FROM login_failures WHERE user = ?1", params![name])
            .map_err(db_err)?;
        self.journal(
            actor,
            Draft::new("user-passwd")
                .id(name.to_string())
                .detail("tokens_revoked", tokens_revoked as u64)
                .detail("disabled", before.disabled),
        )?;
        Ok(Reset {
            password: pw,
            tokens_revoked,
            disabled: before.disabled,
        })
    }

    /// Failed password checks of `name` within the window, and when the first was.
    fn failures(&self, name: &str, now: i64) -> Result<(i64, Option<i64>)> {
        let since = now - THROTTLE_WINDOW_SECS;
        self.conn
            .execute("DELETE FROM login_failures WHERE at < ?1", params![since])
            .map_err(db_err)?;
        self.conn
            .query_row(
                "SELECT COUNT(*), MIN(at) FROM login_failures WHERE user = ?1 AND at >= ?2",
                params![name, since],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db_err)
    }

    /// Seconds until `name` may try a password again (None: it may now).
    fn throttled(&self, name: &str, now: i64) -> Result<Option<i64>> {
        let (n, first) = self.failures(name, now)?;
        Ok((n >= MAX_FAILURES).then(|| {
            first
                .map_or(THROTTLE_WINDOW_SECS, |f| f + THROTTLE_WINDOW_SECS - now)
                .max(1)
        }))
    }

    fn record_failure(&self, name: &str, now: i64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO login_failures (user, at) VALUES (?1, ?2)",
                params![name, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// The account holder sets a password of their own (after checking the old one).
    /// Other sessions of the account end; the caller renews its own. The check of the
    /// current password counts against the account like a login (a stolen session
    /// cannot guess it): after `MAX_FAILURES` wrong ones it is refused until the
    /// window has passed. The account's API tokens are kept.
    pub fn change_password(&self, name: &str, old: &str, new: &str) -> Result<PasswordChange> {
        let Some((_, hash)) = self.get_with_hash(name)? else {
            return Err(Error::Invalid("no such account".into()));
        };
        let now = now_secs();
        if let Some(retry_after) = self.throttled(name, now)? {
            return Ok(PasswordChange::Throttled { retry_after });
        }
        if !password_matches(&hash, old) {
            self.record_failure(name, now)?;
            self.journal(
                name,
                Draft::new("password-change-failed").id(name.to_string()),
            )?;
            return Ok(PasswordChange::WrongOld);
        }
        check_new_password(new)?;
        if new == old {
            return Err(Error::Invalid(
                crate::messages::t("新密码不能与原密码相同", "the new password is the old one")
                    .into(),
            ));
        }
        self.conn
            .execute(
                "UPDATE users SET pw_hash = ?2, must_change = 0 WHERE name = ?1",
                params![name, hash_password(new)?],
            )
            .map_err(db_err)?;
        self.end_sessions_of(name)?;
        self.conn
            .execute("DELETE FROM login_failures WHERE user = ?1", params![name])
            .map_err(db_err)?;
        self.journal(name, Draft::new("password-change").id(name.to_string()))?;
        Ok(PasswordChange::Done)
    }

    /// A new API token for `name`: returned once, stored as its hash.
    pub fn new_token(&self, actor: &str, name: &str) -> Result<String> {
        let a = self.require(name)?;
        if a.disabled {
            return Err(Error::Invalid(format!("account {name:?} is disabled")));
        }
        let token = format!("manyi_{}", random_hex(32)?);
        self.conn
            .execute(
                "INSERT INTO tokens (hash, user, created_at) VALUES (?1, ?2, ?3)",
                params![sha(&token), name, crate::store::now_utc()],
            )
            .map_err(db_err)?;
        self.journal(actor, Draft::new("token-add").id(name.to_string()))?;
        Ok(token)
    }

    fn revoke_tokens_quiet(&self, name: &str) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE tokens SET revoked = 1 WHERE user = ?1 AND revoked = 0",
                params![name],
            )
            .map_err(db_err)
    }

    /// Revokes every token of `name`; returns how many were live.
    pub fn revoke_tokens(&self, actor: &str, name: &str) -> Result<usize> {
        self.require(name)?;
        let n = self.revoke_tokens_quiet(name)?;
        self.journal(
            actor,
            Draft::new("token-revoke")
                .id(name.to_string())
                .detail("tokens", n as u64),
        )?;
        Ok(n)
    }

    /// The enabled account a bearer token belongs to.
    pub fn token_account(&self, token: &str) -> Result<Option<Account>> {
        let user: Option<String> = self
            .conn
            .query_row(
                "SELECT user FROM tokens WHERE hash = ?1 AND revoked = 0",
                params![sha(token)],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        Ok(match user {
            Some(u) => self.get(&u)?.filter(|a| !a.disabled),
            None => None,
        })
    }

    /// Checks a password, with throttling: after `MAX_FAILURES` failures within the
    /// window, attempts are refused unchecked. Journals the login or the failure
    /// (not a throttled attempt, which changes nothing).
    pub fn login(&self, name: &str, pw: &str, now: i64) -> Result<Login> {
        let name = name.trim();
        if let Some(retry_after) = self.throttled(name, now)? {
            return Ok(Login::Throttled { retry_after });
        }
        let found = self.get_with_hash(name)?;
        // The same work whether or not the account exists (no timing oracle).
        let ok = match &found {
            Some((a, hash)) => password_matches(hash, pw) && !a.disabled,
            None => {
                password_matches(dummy_hash(), pw);
                false
            }
        };
        if !ok {
            self.record_failure(name, now)?;
            if found.is_some() {
                self.journal(name, Draft::new("login-failed").id(name.to_string()))?;
            }
            return Ok(Login::Wrong);
        }
        self.conn
            .execute("DELETE FROM login_failures WHERE user = ?1", params![name])
            .map_err(db_err)?;
        let (a, _) = found.ok_or_else(|| Error::Internal("the account left".into()))?;
        self.journal(name, Draft::new("login").id(name.to_string()))?;
        Ok(Login::Ok(a))
    }

    /// A new session for `name`: (session id for the cookie, CSRF token). Only their
    /// hashes… the session id's hash is stored; the CSRF token is stored as is (it is
    /// only ever compared with what the same session sends).
    pub fn new_session(&self, name: &str, now: i64) -> Result<(String, String)> {
        let sid = random_hex(32)?;
        let csrf = random_hex(32)?;
        self.conn
            .execute(
                "INSERT INTO sessions (hash, user, csrf, created, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![sha(&sid), name, csrf, now],
            )
            .map_err(db_err)?;
        Ok((sid, csrf))
    }

    /// The live session with this id (idle and absolute timeouts applied; a dead one is
    /// deleted), touching its last use.
    pub fn session(&self, sid: &str, now: i64, life: Lifetimes) -> Result<Option<Session>> {
        let h = sha(sid);
        let row: Option<(String, String, i64, i64)> = self
            .conn
            .query_row(
                "SELECT user, csrf, created, last_seen FROM sessions WHERE hash = ?1",
                params![h],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(db_err)?;
        let Some((user, csrf, created, last)) = row else {
            return Ok(None);
        };
        if now - last > life.idle || now - created > life.absolute {
            self.conn
                .execute("DELETE FROM sessions WHERE hash = ?1", params![h])
                .map_err(db_err)?;
            return Ok(None);
        }
        let Some(account) = self.get(&user)?.filter(|a| !a.disabled) else {
            return Ok(None);
        };
        // The last use is written at most every tenth of the idle time (and at most
        // once a minute): a page view then rarely writes (a write waits for the disk,
        // which a large ingest keeps busy), and a session still ends within 10% of
        // its idle timeout.
        if now - last >= (life.idle / 10).clamp(1, 60) {
            self.conn
                .execute(
                    "UPDATE sessions SET last_seen = ?2 WHERE hash = ?1",
                    params![h, now],
                )
                .map_err(db_err)?;
        }
        Ok(Some(Session { account, csrf }))
    }

    pub fn end_session(&self, sid: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM sessions WHERE hash = ?1", params![sha(sid)])
            .map_err(db_err)?;
        Ok(())
    }

    fn end_sessions_of(&self, name: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM sessions WHERE user = ?1", params![name])
            .map_err(db_err)?;
        Ok(())
    }

    /// Assigns `streets` of `round` to `org` (replacing what the organisation had in
    /// that round). A street belongs to one organisation per round.
    pub fn assign(
        &mut self,
        actor: &str,
        round: &RoundId,
        org: &str,
        streets: &[String],
    ) -> Result<Vec<String>> {
        let org = org.trim();
        if org.is_empty() {
            return Err(Error::Invalid("--org is empty".into()));
        }
        let frame = self.ws.frame()?;
        let mut set = BTreeSet::new();
        for s in streets.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            if !frame.streets.contains_key(s) {
                return Err(Error::Invalid(format!(
                    "street {s:?} is not in the frame (surveys/frame.csv)"
                )));
            }
            set.insert(s.to_string());
        }
        let r = round.to_string();
        let tx = self.conn.transaction().map_err(db_err)?;
        for s in &set {
            let other: Option<String> = tx
                .query_row(
                    "SELECT org FROM assignments WHERE round = ?1 AND street = ?2 AND org <> ?3",
                    params![r, s, org],
                    |x| x.get(0),
                )
                .optional()
                .map_err(db_err)?;
            if let Some(o) = other {
                return Err(Error::Invalid(format!(
                    "street {s} is assigned to {o} in round {r} already; change that organisation's streets first"
                )));
            }
        }
        tx.execute(
            "DELETE FROM assignments WHERE round = ?1 AND org = ?2",
            params![r, org],
        )
        .map_err(db_err)?;
        for s in &set {
            tx.execute(
                "INSERT INTO assignments (round, street, org) VALUES (?1, ?2, ?3)",
                params![r, s, org],
            )
            .map_err(db_err)?;
        }
        let list: Vec<String> = set.into_iter().collect();
        journal_to(
            &self.ws,
            &self.journal,
            actor,
            Draft::new("assign")
                .round(r.clone())
                .id(org.to_string())
                .detail("streets", list.clone()),
        )?;
        tx.commit().map_err(db_err)?;
        Ok(list)
    }

    /// The streets `org` is assigned in `round` (None when it has none).
    pub fn assigned(&self, round: &RoundId, org: &str) -> Result<Option<Assigned>> {
        let mut st = self
            .conn
            .prepare("SELECT street FROM assignments WHERE round = ?1 AND org = ?2")
            .map_err(db_err)?;
        let streets: BTreeSet<String> = st
            .query_map(params![round.to_string(), org], |r| r.get(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok((!streets.is_empty()).then(|| Assigned {
            org: org.to_string(),
            streets,
        }))
    }

    /// The organisations a round's streets can go to: those of evaluator accounts and
    /// those already assigned somewhere, sorted.
    pub fn organisations(&self) -> Result<Vec<String>> {
        let mut set: BTreeSet<String> = self
            .list()?
            .into_iter()
            .filter(|a| a.role == Role::Evaluator)
            .filter_map(|a| a.org)
            .collect();
        set.extend(self.assignments()?.into_iter().map(|(_, o, _)| o));
        Ok(set.into_iter().collect())
    }

    /// A round's assignments: organisation → its streets.
    pub fn round_assignments(
        &self,
        round: &RoundId,
    ) -> Result<std::collections::BTreeMap<String, BTreeSet<String>>> {
        let r = round.to_string();
        let mut out: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for (rr, o, s) in self.assignments()? {
            if rr == r {
                out.entry(o).or_default().insert(s);
            }
        }
        Ok(out)
    }

    /// Every assignment: (round, org, street), in that order.
    pub fn assignments(&self) -> Result<Vec<(String, String, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT round, org, street FROM assignments ORDER BY round, org, street")
            .map_err(db_err)?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        Ok(rows)
    }

    /// The rounds `org` has streets in, newest first.
    pub fn rounds_of(&self, org: &str) -> Result<Vec<RoundId>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT round FROM assignments WHERE org = ?1")
            .map_err(db_err)?;
        let mut rounds: Vec<RoundId> = st
            .query_map(params![org], |r| r.get::<_, String>(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        rounds.sort();
        rounds.reverse();
        Ok(rounds)
    }

    /// Journals that `who` downloaded an original delivery (personal data).
    pub fn journal_download(
        &self,
        who: &str,
        round: &str,
        delivery: &str,
        file: &str,
    ) -> Result<()> {
        self.journal(
            who,
            Draft::new("download-original")
                .round(round.to_string())
                .id(delivery.to_string())
                .detail("file_name", file),
        )
    }

    /// A call list (phone numbers in clear) downloaded from the portal.
    pub fn journal_callback_list(&self, who: &str, round: &str, file: &str) -> Result<()> {
        self.journal(
            who,
            Draft::new("download-callback-list")
                .round(round.to_string())
                .id(format!("callbacks-list:{file}"))
                .detail("file_name", file),
        )
    }

    pub fn journal_logout(&self, who: &str) -> Result<()> {
        self.journal(who, Draft::new("logout").id(who.to_string()))
    }
}

/// The streets `org` is assigned in `round`, when the workspace has a portal database
/// with an assignment for it (the CLI's `ingest --evaluator` applies the same rule as
/// an upload); None otherwise. Never creates the database.
pub fn assigned_if_any(ws: &Workspace, round: &RoundId, org: &str) -> Result<Option<Assigned>> {
    if !db_path(ws).is_file() {
        return Ok(None);
    }
    Accounts::open(ws)?.assigned(round, org)
}

fn journal_to(ws: &Workspace, mode: &JournalMode, actor: &str, d: Draft) -> Result<()> {
    let store = crate::store::Store::new(ws);
    crate::journal::defer(&store, actor, d)?;
    match mode {
        JournalMode::Now => crate::journal::flush(&store, actor).map(|_| ()),
        JournalMode::Later(wake) => {
            // ok: the journal thread is gone only when the server stops; the event is
            // on disk and the next writer (any command) appends it.
            let _ = wake.send(()); // ok: see above
            Ok(())
        }
    }
}

/// An Argon2id hash of a random password nobody knows: checked when the account does
/// not exist, so that a wrong name takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        let pw = random_hex(16).unwrap_or_else(|_| "x".repeat(32));
        // ok: hashing only fails on a broken random source or parameters; an empty
        // dummy then just fails to parse, and unknown names answer a little faster.
        hash_password(&pw).unwrap_or_default()
    })
}
