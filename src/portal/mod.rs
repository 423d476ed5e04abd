//! The portal (`manyi serve`): server-rendered pages in Chinese and a JSON API over one
//! workspace, for evaluators (this module's pages), and the ground for the office and
//! the streets. Handlers only check who asks, call the library (`crate::ingest`,
//! `crate::lifecycle`, `crate::accounts`) and render; nothing is parsed, scored or
//! decided here.
//!
//! Every route is declared once, with who may use it (`Access`), in `build`: the
//! router is made from that table, the guard enforces it before any handler runs
//! (deny by default), and `routes()` hands the same table to the tests.

mod access;
mod account;
mod admin;
mod api;
mod appeals;
mod deliveries;
mod guard;
mod help;
mod multipart;
pub(crate) mod office;
mod parts;
mod public;
mod respond;
mod shield;
mod street;
mod upload;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::accounts::{Accounts, Lifetimes};
use crate::error::{Error, Result};
use crate::workspace::Workspace;

pub use respond::Caller;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (login page, assets, health).
    Public,
    /// Any signed-in account.
    Any,
    /// Evaluators (their own organisation's objects only, checked by the handler).
    Evaluator,
    /// Evaluators (own objects), office and admin (all).
    EvaluatorOrStaff,
    /// Office and admin.
    Staff,
    Admin,
    /// Street accounts (their own street's published results only, checked by the
    /// handler).
    Street,
    /// Street accounts (own street, published only) and staff (every street).
    StreetOrStaff,
}

impl Access {
    pub fn allows(self, role: crate::accounts::Role) -> bool {
        use crate::accounts::Role::*;
        match self {
            Access::Public | Access::Any => true,
            Access::Evaluator => role == Evaluator,
            Access::EvaluatorOrStaff => matches!(role, Evaluator | Office | Admin),
            Access::Staff => matches!(role, Office | Admin),
            Access::Admin => role == Admin,
            Access::Street => role == Street,
            Access::StreetOrStaff => matches!(role, Street | Office | Admin),
        }
    }
}

/// One route of the portal: method, path (axum syntax), who may use it, and whether it
/// is part of the API (bearer tokens, JSON errors) or a page (session cookie, CSRF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub api: bool,
}

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// Largest upload accepted, in bytes.
    pub max_upload: u64,
    /// The address people use (behind a TLS proxy: `https://…`): sets the allowed
    /// Origin and, for https, Secure `__Host-` cookies.
    pub public_url: Option<String>,
    pub lifetimes: Lifetimes,
    pub zip: crate::ingest::ZipBounds,
    /// A connection that has not sent a request's headers within this is closed.
    pub header_timeout: std::time::Duration,
    /// Open connections at most; past it a new one is answered 503 and closed.
    pub max_connections: usize,
    /// Failed password checks per client address in the throttle window (15 min)
    /// after which the address is refused (0: no limit per address).
    pub failures_per_address: u32,
    /// Proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A request body that pauses this long is refused (and its connection closed);
    /// a body other than an upload's must also be whole within 30 s.
    pub body_timeout: std::time::Duration,
    /// Open connections from one client address at most (`--trusted-proxy`
    /// addresses exempt: every client behind them shares their address).
    pub max_connections_per_address: usize,
    /// A wrong password is answered no sooner than this after the request arrived,
    /// whether the account exists or not (no timing oracle).
    pub wrong_password_floor: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_upload: 512 << 20,
            public_url: None,
            lifetimes: Lifetimes::default(),
            zip: crate::ingest::ZipBounds::default(),
            header_timeout: std::time::Duration::from_secs(10),
            max_connections: 512,
            failures_per_address: 20,
            trusted_proxies: Vec::new(),
            wrong_password_floor: std::time::Duration::from_millis(400),
            body_timeout: std::time::Duration::from_secs(30),
            max_connections_per_address: 64,
        }
    }
}

impl Config {
    /// Cookies are `Secure` with the `__Host-` prefix when people reach the portal
    /// over https.
    pub fn secure(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    pub fn cookie_name(&self) -> &'static str {
        if self.secure() {
            "__Host-manyi_session"
        } else {
            "manyi_session"
        }
    }
}

pub struct AppState {
    pub ws: Workspace,
    pub cfg: Config,
    /// Connections to the accounts database, one per request that needs it (SQLite
    /// in WAL mode: readers never wait for each other, a writer for milliseconds).
    pub accounts: AccountsPool,
    /// Failed password checks per client address.
    pub limiter: shield::Limiter,
    /// One write to the store at a time from this server (uploads, withdrawals): the
    /// others wait their turn here instead of on the store's file lock.
    pub writes: tokio::sync::Semaphore,
    /// Uploads waiting for or in their ingest (shown on the upload page).
    pub queued: std::sync::atomic::AtomicUsize,
    /// Score, evaluate and report, one at a time in the background.
    pub jobs: crate::jobs::Jobs,
    /// Undecided flags per round with the `lifecycle::flags_key` they were counted
    /// under: many readers of the desk wait for one count instead of each making it.
    pub undecided: tokio::sync::Mutex<std::collections::HashMap<String, FlagCount>>,
    /// A round's whole coverage with the `lifecycle::flags_key` it was counted under
    /// (it reads every active delivery: once per state of the store, not per view).
    pub coverage: tokio::sync::Mutex<
        std::collections::HashMap<String, (String, Arc<crate::lifecycle::Coverage>)>,
    >,
}

/// A round's undecided flags, counted under `key` (`lifecycle::flags_key`).
pub struct FlagCount {
    pub key: String,
    pub n: usize,
    /// A new count is running.
    pub refreshing: bool,
}

pub type State = Arc<AppState>;

impl AppState {
    /// A connection to the accounts database (only ever used on the blocking pool:
    /// every handler runs there, see `shield::offload`).
    pub fn db(&self) -> Result<Db<'_>> {
        self.accounts.get()
    }
}

/// Idle connections to the accounts database, reused by later requests.
pub struct AccountsPool {
    ws: Workspace,
    mode: crate::accounts::JournalMode,
    idle: std::sync::Mutex<Vec<Accounts>>,
}

/// Idle connections kept (more are opened when more requests need one at once).
const IDLE_CONNECTIONS: usize = 8;

impl AccountsPool {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Accounts>> {
        // Only pushes and pops under it: a panic cannot leave it half-changed.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the journal thread (when there is one).
    fn wake(&self) -> Result<()> {
        if let crate::accounts::JournalMode::Later(tx) = &self.mode {
            tx.send(())
                .map_err(|_| Error::Internal("the journal thread has stopped".into()))?;
        }
        Ok(())
    }

    pub fn get(&self) -> Result<Db<'_>> {
        let conn = self.idle().pop();
        let conn = match conn {
            Some(c) => c,
            None => Accounts::open_with(&self.ws, self.mode.clone())?,
        };
        Ok(Db {
            pool: self,
            conn: Some(conn),
        })
    }
}

/// A pooled connection, returned to the pool when dropped.
pub struct Db<'a> {
    pool: &'a AccountsPool,
    conn: Option<Accounts>,
}

impl std::ops::Deref for Db<'_> {
    type Target = Accounts;
    fn deref(&self) -> &Accounts {
        self.conn.as_ref().expect("a pooled connection") // ok: Some from `get` until `drop`
    }
}

impl std::ops::DerefMut for Db<'_> {
    fn deref_mut(&mut self) -> &mut Accounts {
        self.conn.as_mut().expect("a pooled connection") // ok: as in `deref`
    }
}

impl Drop for Db<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let mut idle = self.pool.idle();
            if idle.len() < IDLE_CONNECTIONS {
                idle.push(c);
            }
        }
    }
}

struct Builder {
    routes: Vec<Route>,
    by_path: std::collections::BTreeMap<&'static str, MethodRouter<State>>,
    state: State,
}

impl Builder {
    fn add<H, T>(&mut self, method: &'static str, path: &'static str, access: Access, h: H)
    where
        H: axum::handler::Handler<T, State>,
        T: 'static,
    {
        let api = path.starts_with("/api/");
        let route = Route {
            method,
            path,
            access,
            api,
        };
        self.routes.push(route);
        // Bodies are capped at axum's 2 MB, but uploads: the configured limit (and a
        // little for the multipart framing; the handler counts the file itself).
        let limit = if method == "POST" && path.ends_with("/deliveries") {
            axum::extract::DefaultBodyLimit::max(
                usize::try_from(self.state.cfg.max_upload + (1 << 20)).unwrap_or(usize::MAX),
            )
        } else if method == "POST" && path == "/street/{label}/appeals" {
            // An appeal's attachments (the handler counts each file itself).
            axum::extract::DefaultBodyLimit::max(
                crate::appeals::MAX_ATTACHMENTS * crate::appeals::MAX_ATTACHMENT + (1 << 20),
            )
        } else {
            axum::extract::DefaultBodyLimit::max(2 << 20)
        };
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "DELETE" => MethodFilter::DELETE,
            other => panic!("a route with method {other}"), // ok: programming error in the table below
        };
        let mr = on(filter, h)
            .layer(limit)
            .layer(axum::middleware::from_fn_with_state(
                (self.state.clone(), route),
                guard::guard,
            ));
        let merged = match self.by_path.remove(path) {
            Some(prev) => prev.merge(mr),
            None => mr,
        };
        self.by_path.insert(path, merged);
    }
}

/// `/`: where each role starts (a street account's own page).
async fn home(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
) -> axum::response::Response {
    use crate::accounts::Role;
    let Some(a) = &caller.account else {
        return respond::see_other("/login");
    };
    match a.role {
        Role::Evaluator => respond::see_other("/rounds"),
        Role::Office | Role::Admin => respond::see_other("/desk"),
        Role::Street => street::home(state, caller.clone()).await,
    }
}

/// `/rounds/{round}`: the office's round desk for staff, the evaluator's round page
/// otherwise.
async fn round(
    state: axum::extract::State<State>,
    caller: Caller,
    path: axum::extract::Path<String>,
    query: axum::extract::Query<office::SortQuery>,
) -> axum::response::Response {
    if caller.account.as_ref().is_some_and(|a| a.role.is_staff()) {
        office::round(state, caller, path, query).await
    } else {
        deliveries::round(state, caller, path).await
    }
}

/// The router and its route table.
fn build(state: State) -> (Router, Vec<Route>) {
    use Access::*;
    let mut b = Builder {
        routes: Vec::new(),
        by_path: Default::default(),
        state: state.clone(),
    };
    // Public.
    b.add("GET", "/healthz", Public, public::healthz);
    b.add("GET", "/static/portal.css", Public, public::css);
    b.add("GET", "/static/portal.js", Public, public::js);
    b.add("GET", "/static/font.otf", Public, public::font);
    b.add("GET", "/login", Public, account::login_form);
    b.add("POST", "/login", Public, account::login);
    // Any signed-in account.
    b.add("GET", "/", Any, home);
    b.add("GET", "/help", Any, help::help);
    b.add("POST", "/logout", Any, account::logout);
    b.add("GET", "/account/password", Any, account::password_form);
    b.add("POST", "/account/password", Any, account::password_change);
    // Rounds, coverage and deliveries.
    b.add("GET", "/rounds", EvaluatorOrStaff, deliveries::rounds);
    b.add("GET", "/rounds/{round}", EvaluatorOrStaff, round);
    b.add(
        "GET",
        "/rounds/{round}/sample.xlsx",
        EvaluatorOrStaff,
        deliveries::sample_list,
    );
    b.add("GET", "/guide", EvaluatorOrStaff, deliveries::guide);
    b.add(
        "GET",
        "/guide/template.csv",
        EvaluatorOrStaff,
        deliveries::template,
    );
    b.add(
        "POST",
        "/rounds/{round}/deliveries",
        Evaluator,
        deliveries::upload,
    );
    b.add(
        "GET",
        "/deliveries",
        EvaluatorOrStaff,
        deliveries::deliveries,
    );
    b.add(
        "GET",
        "/deliveries/{id}",
        EvaluatorOrStaff,
        deliveries::delivery,
    );
    b.add(
        "GET",
        "/deliveries/{id}/rejects.csv",
        EvaluatorOrStaff,
        deliveries::rejects_csv,
    );
    b.add(
        "GET",
        "/deliveries/{id}/original",
        EvaluatorOrStaff,
        deliveries::original,
    );
    b.add(
        "POST",
        "/deliveries/{id}/withdraw",
        EvaluatorOrStaff,
        deliveries::withdraw,
    );
    b.add(
        "POST",
        "/deliveries/{id}/reinstate",
        Staff,
        deliveries::reinstate,
    );
    // The office's desk.
    b.add("GET", "/desk", Staff, office::desk);
    b.add("POST", "/draw", Staff, office::draw);
    b.add("GET", "/rounds/{round}/sample", Staff, office::sample);
    b.add("GET", "/rounds/{round}/flags", Staff, office::flags);
    b.add(
        "GET",
        "/rounds/{round}/flags.xlsx",
        Staff,
        office::flags_xlsx,
    );
    b.add("GET", "/rounds/{round}/callbacks", Staff, office::callbacks);
    b.add(
        "POST",
        "/rounds/{round}/callbacks/draw",
        Staff,
        office::draw_callbacks,
    );
    b.add(
        "POST",
        "/rounds/{round}/callbacks/results",
        Staff,
        office::callback_results,
    );
    b.add(
        "GET",
        "/rounds/{round}/callbacks/{name}",
        Staff,
        office::callback_list,
    );
    b.add("POST", "/rounds/{round}/assignments", Staff, office::assign);
    b.add("POST", "/rounds/{round}/decisions", Staff, office::decide);
    b.add("GET", "/jobs", Staff, office::jobs);
    b.add("POST", "/jobs", Staff, office::submit_job);
    b.add("GET", "/jobs/{id}", Staff, office::job);
    b.add("GET", "/results/{label}", Staff, office::results);
    b.add(
        "GET",
        "/results/{label}/files/{name}",
        Staff,
        office::result_file,
    );
    b.add("POST", "/results/{label}/publish", Staff, office::publish);
    b.add(
        "POST",
        "/results/{label}/unpublish",
        Staff,
        office::unpublish,
    );
    b.add("GET", "/indicators", Staff, office::indicators);
    b.add("POST", "/indicators", Staff, office::upload_indicators);
    // The admin's accounts page.
    b.add("GET", "/admin/users", Admin, admin::users);
    b.add("POST", "/admin/users", Admin, admin::add);
    b.add("POST", "/admin/users/{user}/{action}", Admin, admin::act);
    b.add("GET", "/journal", Staff, office::journal);
    b.add("GET", "/journal.csv", Staff, office::journal_csv);
    b.add("POST", "/journal/verify", Staff, office::verify);
    // The streets' own view.
    b.add("GET", "/street/{label}", Street, street::period);
    b.add(
        "GET",
        "/street/{label}/charts/{name}",
        Street,
        street::chart,
    );
    b.add(
        "GET",
        "/street/{label}/tables/{name}",
        Street,
        street::table,
    );
    // Appeals and the rectification ledger (streets: their own lines and rows only,
    // checked by the handlers; another street's is 404).
    b.add(
        "GET",
        "/street/{label}/appeal",
        Street,
        appeals::appeal_form,
    );
    b.add(
        "POST",
        "/street/{label}/appeals",
        Street,
        appeals::appeal_submit,
    );
    b.add(
        "GET",
        "/street/{label}/ledger",
        Street,
        appeals::street_ledger,
    );
    b.add(
        "POST",
        "/rectifications/{id}",
        Street,
        appeals::street_ledger_save,
    );
    b.add(
        "GET",
        "/rectifications.xlsx",
        StreetOrStaff,
        appeals::ledger_xlsx,
    );
    b.add("GET", "/appeals", Staff, appeals::queue);
    b.add("GET", "/appeals/{id}", Staff, appeals::appeal);
    b.add("POST", "/appeals/{id}/ruling", Staff, appeals::rule);
    b.add(
        "GET",
        "/appeals/{id}/files/{sha}",
        StreetOrStaff,
        appeals::attachment,
    );
    b.add("GET", "/ledger", Staff, appeals::district_ledger);
    b.add("POST", "/ledger/{id}/verify", Staff, appeals::verify);
    b.add(
        "POST",
        "/api/v1/periods/{period}/appeals",
        Street,
        appeals::api_submit,
    );
    b.add("GET", "/api/v1/appeals", StreetOrStaff, appeals::api_list);
    b.add(
        "GET",
        "/api/v1/appeals/{id}",
        StreetOrStaff,
        appeals::api_get,
    );
    b.add(
        "POST",
        "/api/v1/appeals/{id}/ruling",
        Staff,
        appeals::api_rule,
    );
    b.add(
        "GET",
        "/api/v1/periods/{period}/rectifications",
        StreetOrStaff,
        appeals::api_ledger,
    );
    b.add(
        "POST",
        "/api/v1/rectifications/{id}",
        Street,
        appeals::api_rectify,
    );
    b.add(
        "POST",
        "/api/v1/rectifications/{id}/verify",
        Staff,
        appeals::api_verify,
    );
    // API.
    b.add("GET", "/api/v1/rounds", EvaluatorOrStaff, api::rounds);
    b.add(
        "GET",
        "/api/v1/rounds/{round}/coverage",
        EvaluatorOrStaff,
        api::coverage,
    );
    b.add(
        "GET",
        "/api/v1/rounds/{round}/deliveries",
        EvaluatorOrStaff,
        api::deliveries,
    );
    b.add(
        "GET",
        "/api/v1/rounds/{round}/callbacks",
        Staff,
        api::callbacks,
    );
    b.add(
        "POST",
        "/api/v1/rounds/{round}/deliveries",
        Evaluator,
        api::upload,
    );
    b.add(
        "GET",
        "/api/v1/deliveries/{id}",
        EvaluatorOrStaff,
        api::delivery,
    );
    b.add(
        "GET",
        "/api/v1/deliveries/{id}/rejects",
        EvaluatorOrStaff,
        api::rejects,
    );
    b.add(
        "DELETE",
        "/api/v1/deliveries/{id}",
        EvaluatorOrStaff,
        api::withdraw,
    );
    b.add("POST", "/api/v1/rounds/{round}/score", Staff, api::score);
    b.add(
        "POST",
        "/api/v1/periods/{period}/evaluate",
        Staff,
        api::evaluate,
    );
    b.add(
        "POST",
        "/api/v1/periods/{period}/report",
        Staff,
        api::report,
    );
    b.add(
        "POST",
        "/api/v1/periods/{period}/publish",
        Staff,
        api::publish,
    );
    b.add("GET", "/api/v1/jobs", Staff, api::jobs);
    b.add("GET", "/api/v1/jobs/{id}", Staff, api::job);
    b.add(
        "GET",
        "/api/v1/streets/{code}/scores",
        StreetOrStaff,
        api::street_scores,
    );

    let mut router = Router::new();
    for (path, mr) in std::mem::take(&mut b.by_path) {
        router = router.route(path, mr);
    }
    let router = router
        .fallback(guard::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shield::offload,
        ))
        .layer(axum::middleware::from_fn(guard::headers))
        .with_state(state);
    (router, b.routes)
}

/// The portal's route table (the tests check every route against every role).
pub fn routes(ws: &Workspace) -> Result<Vec<Route>> {
    let state = new_state(ws.clone(), Config::default())?;
    Ok(build(state).1)
}

fn new_state(ws: Workspace, cfg: Config) -> Result<State> {
    new_state_with(ws, cfg, crate::accounts::JournalMode::Now)
}

fn new_state_with(ws: Workspace, cfg: Config, mode: crate::accounts::JournalMode) -> Result<State> {
    // Opened once here: the schema is made, and a damaged database refuses to start.
    let first = Accounts::open_with(&ws, mode.clone())?;
    let limiter = shield::Limiter::new(
        cfg.failures_per_address,
        crate::accounts::THROTTLE_WINDOW_SECS,
    );
    Ok(Arc::new(AppState {
        ws: ws.clone(),
        cfg,
        accounts: AccountsPool {
            ws: ws.clone(),
            mode,
            idle: std::sync::Mutex::new(vec![first]),
        },
        limiter,
        writes: tokio::sync::Semaphore::new(1),
        queued: std::sync::atomic::AtomicUsize::new(0),
        jobs: crate::jobs::Jobs::start(ws.clone()),
        undecided: Default::default(),
        coverage: Default::default(),
    }))
}

/// Where uploads are received before their ingest (inside the workspace, so the copy
/// into the store is a cheap one on the same file system; private like the store).
pub fn uploads_dir(ws: &Workspace) -> std::path::PathBuf {
    ws.root.join("surveys").join("uploads")
}

/// Serves the workspace until Ctrl-C or SIGTERM. In-flight requests (an upload in its
/// ingest included) finish first; an ingest interrupted any other way is rolled back
/// by the store's commit protocol.
pub fn serve(ws: Workspace, cfg: Config) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Invalid(format!("starting the server's runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.bind)
            .await
            .map_err(|e| Error::Invalid(format!("cannot listen on {}: {e}", cfg.bind)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Invalid(format!("listening: {e}")))?;
        let dir = uploads_dir(&ws);
        crate::fsutil::make_private_dir(&dir)?;
        clear_uploads(&dir)?;
        let (wake, journal_stop, journal_thread) = start_journal_thread(&ws);
        let limits = shield::Limits {
            header_timeout: cfg.header_timeout,
            max_connections: cfg.max_connections,
            per_address: cfg.max_connections_per_address,
            trusted_proxies: cfg.trusted_proxies.clone(),
        };
        let state = new_state_with(ws, cfg, crate::accounts::JournalMode::Later(wake))?;
        let (router, _) = build(state.clone());
        // The address on stdout (tests bind port 0 and read it here).
        println!("manyi serve: listening on http://{addr}");
        eprintln!(
            "{}",
            crate::messages::t(
                "按 Ctrl-C 停止（进行中的上传会先完成）",
                "Ctrl-C stops (uploads in progress finish first)"
            )
        );
        shield::serve(listener, router, limits, shutdown_signal()).await;
        // A running job finishes (its files and journal entry complete); queued ones
        // are dropped, each marked failed.
        let jobs = state.jobs.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || jobs.close_and_wait()).await {
            eprintln!("manyi serve: waiting for the running job: {e}");
        }
        // The last account events go into the journal before the server ends.
        journal_stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Err(e) = state.accounts.wake() {
            eprintln!("manyi serve: {e}");
        }
        drop(state);
        if let Err(e) = tokio::task::spawn_blocking(move || journal_thread.join()).await {
            eprintln!("manyi serve: waiting for the journal thread: {e}");
        }
        eprintln!("manyi serve: stopped");
        Ok(())
    })
}

/// The thread that appends deferred journal events (logins, account changes,
/// downloads) when it is woken, and every few seconds when some wait (a flush that
/// failed is tried again): it alone waits for the store lock, so a request never does
/// for such an event. Setting the flag ends it after a last flush.
fn start_journal_thread(
    ws: &Workspace,
) -> (
    std::sync::mpsc::Sender<()>,
    Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    use std::sync::atomic::Ordering;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let store = crate::store::Store::new(ws);
    let handle = std::thread::spawn(move || {
        let flush = || {
            if let Err(e) = crate::journal::flush(&store, "manyi-serve") {
                // The events stay on disk; the next writer or wake-up appends them.
                eprintln!("manyi serve: appending account events to the journal: {e}");
            }
        };
        loop {
            // Each turn appends what waits: events of an earlier run at the start,
            // then those of every wake-up that arrived meanwhile.
            flush();
            while rx.try_recv().is_ok() {}
            if stopping.load(Ordering::SeqCst) {
                flush();
                break;
            }
            match rx.recv_timeout(std::time::Duration::from_secs(5)) {
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    flush();
                    break;
                }
            }
        }
    });
    (tx, stop, handle)
}

/// Removes uploads a stopped server left unfinished (never ingested: their ingest
/// would have removed them).
fn clear_uploads(dir: &std::path::Path) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        if e.file_name().to_string_lossy().starts_with("upload-") {
            std::fs::remove_file(e.path()).map_err(|err| Error::io(e.path(), err))?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("manyi serve: cannot wait for Ctrl-C ({e}); stop with SIGTERM");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                eprintln!("manyi serve: cannot wait for SIGTERM ({e})");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("manyi serve: stopping; requests in progress finish first…");
}
