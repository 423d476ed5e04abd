//! Background jobs of a workspace: score a round, evaluate a period, report. One runs
//! at a time (a worker thread), the others wait in order; each job has a status
//! (queued, running, done, failed), a position while queued, and a progress (the share
//! of its steps done, with the step's name).
//!
//! Jobs live in memory: what a finished job did is in the journal and in `reports/`;
//! a server that stops lets the running job finish and marks the queued ones failed
//! (never started).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::report::Subject;
use crate::round::{Period, RoundId};
use crate::workspace::Workspace;

pub use crate::lifecycle::recorded::{evaluate_recorded, score_recorded};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Task {
    Score(RoundId),
    Evaluate(Period),
    Report(Subject),
}

impl Task {
    /// `score`, `evaluate` or `report` (the journal's action).
    pub fn kind(&self) -> &'static str {
        match self {
            Task::Score(_) => "score",
            Task::Evaluate(_) => "evaluate",
            Task::Report(_) => "report",
        }
    }

    pub fn label(&self) -> String {
        match self {
            Task::Score(r) => r.to_string(),
            Task::Evaluate(p) => p.to_string(),
            Task::Report(s) => s.label(),
        }
    }

    /// From the portal's form or the API: a kind and a round or period label.
    pub fn parse(kind: &str, label: &str) -> Result<Task> {
        match kind {
            "score" => Ok(Task::Score(label.parse()?)),
            "evaluate" => Ok(Task::Evaluate(label.parse()?)),
            "report" => Ok(Task::Report(crate::publish::parse_subject(label)?)),
            other => Err(Error::Invalid(format!(
                "unknown job {other:?} (score, evaluate, report)"
            ))),
        }
    }

    /// The job's name for people (Chinese).
    pub fn title(&self) -> String {
        match self {
            Task::Score(r) => format!("计算得分 {r}"),
            Task::Evaluate(p) => format!("考核评价 {p}"),
            Task::Report(s) => format!("生成报告 {}", s.label()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    Done,
    Failed,
}

impl Status {
    pub fn text(self) -> &'static str {
        match self {
            Status::Queued => "排队中",
            Status::Running => "运行中",
            Status::Done => "已完成",
            Status::Failed => "失败",
        }
    }
}

/// A job as it is now.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: u64,
    pub kind: &'static str,
    pub label: String,
    pub title: String,
    pub actor: String,
    pub status: Status,
    /// 1 = next to run; only while queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// 0..1, the share of the job's steps done.
    pub progress: f64,
    /// The step running (or the last one).
    pub step: String,
    /// UTC, RFC 3339.
    pub submitted: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Files written, relative to the workspace.
    pub files: Vec<String>,
    #[serde(skip)]
    task: Option<Task>,
}

#[derive(Default)]
struct State {
    next: u64,
    jobs: Vec<Job>,
    queue: VecDeque<u64>,
    closed: bool,
    running: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// The job queue of one workspace, with its worker thread.
#[derive(Clone)]
pub struct Jobs {
    shared: Arc<Shared>,
}

fn lock(s: &Shared) -> MutexGuard<'_, State> {
    // A panic while the lock was held leaves plain data behind: carry on with it.
    s.state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Jobs {
    /// Starts the worker thread for `ws`.
    pub fn start(ws: Workspace) -> Jobs {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                next: 1,
                ..State::default()
            }),
            wake: Condvar::new(),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("manyi-jobs".into())
            .spawn(move || work(&ws, &worker))
            .map(|_| ())
            .unwrap_or_else(|e| {
                // Without a worker every job would wait for ever: say so in each.
                let mut s = lock(&shared);
                s.closed = true;
                eprintln!("manyi: the job worker could not start: {e}");
            });
        Jobs { shared }
    }

    /// Queues `task` for `actor`; returns the job's id.
    pub fn submit(&self, task: Task, actor: &str) -> Result<u64> {
        let mut s = lock(&self.shared);
        if s.closed {
            return Err(Error::Invalid("服务正在停止,不再接受新任务".into()));
        }
        let id = s.next;
        s.next += 1;
        s.jobs.push(Job {
            id,
            kind: task.kind(),
            label: task.label(),
            title: task.title(),
            actor: actor.to_string(),
            status: Status::Queued,
            position: None,
            progress: 0.0,
            step: "等待".into(),
            submitted: crate::store::now_utc(),
            started: None,
            finished: None,
            error: None,
            files: Vec::new(),
            task: Some(task),
        });
        s.queue.push_back(id);
        self.shared.wake.notify_all();
        Ok(id)
    }

    /// One job, with its queue position.
    pub fn get(&self, id: u64) -> Option<Job> {
        let s = lock(&self.shared);
        s.jobs
            .iter()
            .find(|j| j.id == id)
            .map(|j| with_position(&s, j))
    }

    /// Every job, newest first.
    pub fn list(&self) -> Vec<Job> {
        let s = lock(&self.shared);
        s.jobs.iter().rev().map(|j| with_position(&s, j)).collect()
    }

    /// Jobs queued or running.
    pub fn pending(&self) -> usize {
        let s = lock(&self.shared);
        s.queue.len() + usize::from(s.running)
    }

    /// Stops taking jobs, marks the queued ones failed (never started) and waits for
    /// the running one to finish.
    pub fn close_and_wait(&self) {
        let mut s = lock(&self.shared);
        s.closed = true;
        let queued: Vec<u64> = s.queue.drain(..).collect();
        for id in queued {
            if let Some(j) = s.jobs.iter_mut().find(|j| j.id == id) {
                j.status = Status::Failed;
                j.error = Some("服务停止,任务未运行".into());
                j.finished = Some(crate::store::now_utc());
            }
        }
        self.shared.wake.notify_all();
        while s.running {
            s = self.shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn with_position(s: &State, j: &Job) -> Job {
    let mut j = j.clone();
    j.position = s.queue.iter().position(|x| *x == j.id).map(|p| p + 1);
    j
}

fn work(ws: &Workspace, shared: &Shared) {
    loop {
        let (id, task, actor) = {
            let mut s = lock(shared);
            loop {
                if let Some(id) = s.queue.pop_front() {
                    s.running = true;
                    let j = s.jobs.iter_mut().find(|j| j.id == id);
                    match j.and_then(|j| {
                        j.status = Status::Running;
                        j.started = Some(crate::store::now_utc());
                        j.task.map(|t| (t, j.actor.clone()))
                    }) {
                        Some((t, a)) => break (id, t, a),
                        None => {
                            s.running = false;
                            continue;
                        }
                    }
                }
                if s.closed {
                    shared.wake.notify_all();
                    return;
                }
                s = shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
            }
        };
        let progress = |share: f64, step: &str| {
            let mut s = lock(shared);
            if let Some(j) = s.jobs.iter_mut().find(|j| j.id == id) {
                j.progress = share.clamp(0.0, 1.0);
                j.step = step.to_string();
            }
        };
        // A panic in the library is a bug; it must not take the worker (and every later
        // job) with it.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(ws, &task, &actor, &progress)
        }))
        .unwrap_or_else(|_| Err(Error::Internal("the job panicked".into())));
        let mut s = lock(shared);
        if let Some(j) = s.jobs.iter_mut().find(|j| j.id == id) {
            j.finished = Some(crate::store::now_utc());
            match result {
                Ok(files) => {
                    j.status = Status::Done;
                    j.progress = 1.0;
                    j.step = "完成".into();
                    j.files = files
                        .iter()
                        .map(|p| p.strip_prefix(&ws.root).unwrap_or(p).display().to_string())
                        .collect();
                }
                Err(e) => {
                    j.status = Status::Failed;
                    j.error = Some(e.to_string());
                }
            }
        }
        s.running = false;
        shared.wake.notify_all();
    }
}

/// Runs `task` now, journalled under `actor`, reporting its steps to `progress`.
/// Returns the files written. The CLI's `score`, `evaluate` and `report` do the same
/// through `score_recorded`, `evaluate_recorded` and `report::report_recorded`.
pub fn run(
    ws: &Workspace,
    task: &Task,
    actor: &str,
    progress: &dyn Fn(f64, &str),
) -> Result<Vec<PathBuf>> {
    match task {
        Task::Score(r) => {
            Ok(crate::lifecycle::recorded::score_recorded_with(ws, r, actor, progress)?.1)
        }
        Task::Evaluate(p) => {
            Ok(crate::lifecycle::recorded::evaluate_recorded_with(ws, p, actor, progress)?.1)
        }
        Task::Report(s) => crate::report::report_recorded_with(ws, s, actor, progress),
    }
}
