//! `manyi serve`: the portal over this workspace.

use std::process::ExitCode;

use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// Serve the portal (evaluators' uploads, receipts and coverage; the JSON API) for
/// this workspace. Accounts are made with `manyi user add`.
///
/// Example: manyi -w . serve --bind 127.0.0.1:8080
/// Behind a TLS proxy: manyi serve --public-url https://manyi.example.gov.cn
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (`0.0.0.0:8080` for the office LAN; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: std::net::SocketAddr,
    /// Largest upload, e.g. 512M, 2G, 300000K (default 512M).
    #[arg(long, default_value = "512M")]
    max_upload: String,
    /// The address people open (https://… behind a TLS proxy: cookies become Secure).
    #[arg(long)]
    public_url: Option<String>,
    /// Minutes without a request after which a session ends.
    #[arg(long, default_value_t = 30)]
    idle_minutes: i64,
    /// Hours after login after which a session ends whatever its use.
    #[arg(long, default_value_t = 8)]
    max_session_hours: i64,
    /// (tests) idle timeout in seconds, overriding --idle-minutes.
    #[arg(long, hide = true)]
    idle_seconds: Option<i64>,
    /// Seconds a connection may take to send a request's headers (and may stay idle
    /// between requests) before it is closed.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Open connections at most; past it a new connection is answered 503 at once.
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// Open connections from one client address at most (a --trusted-proxy is exempt).
    #[arg(long, default_value_t = 64)]
    max_connections_per_address: usize,
    /// Seconds a request body may pause before the request is refused and its
    /// connection closed (a body other than an upload's must be whole within 30 s).
    #[arg(long, default_value_t = 30)]
    body_timeout: u64,
    /// Wrong passwords from one client address in 15 minutes after which the address
    /// is refused until the window has passed (0: no limit per address; the limit of
    /// 5 per account always holds).
    #[arg(long, default_value_t = 20)]
    failures_per_address: u32,
    /// The address of a reverse proxy in front of manyi (repeat for several): only a
    /// request from it has its X-Forwarded-For believed as the client's address.
    #[arg(long = "trusted-proxy")]
    trusted_proxies: Vec<std::net::IpAddr>,
}

/// `512M` → bytes.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let (num, mul) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::Invalid(format!("--max-upload {s:?}: a size such as 512M or 2G")))
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    if let Some(u) = &a.public_url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        return Err(Error::Invalid(format!(
            "--public-url {u:?}: give the whole address, such as https://manyi.example.gov.cn"
        )));
    }
    let cfg = crate::portal::Config {
        bind: a.bind,
        max_upload: parse_size(&a.max_upload)?,
        public_url: a.public_url,
        lifetimes: crate::accounts::Lifetimes {
            idle: a.idle_seconds.unwrap_or(a.idle_minutes.max(1) * 60),
            absolute: a.max_session_hours.max(1) * 3600,
        },
        header_timeout: std::time::Duration::from_secs(a.header_timeout.max(1)),
        max_connections: a.max_connections.max(1),
        max_connections_per_address: a.max_connections_per_address.max(1),
        body_timeout: std::time::Duration::from_secs(a.body_timeout.max(1)),
        failures_per_address: a.failures_per_address,
        trusted_proxies: a.trusted_proxies,
        ..Default::default()
    };
    crate::portal::serve(ws.clone(), cfg)?;
    Ok(ExitCode::SUCCESS)
}
