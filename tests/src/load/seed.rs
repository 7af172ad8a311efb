//! Filling the store before a run, and checking afterwards that users are still there.
//!
//! Seeding is strict: the first failed create stops it, since a benchmark over a partial
//! data set would silently measure something else.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;

use super::client::{ClientError, Connection, Endpoint, Reply};
use super::run::{error_chain, snippet};
use super::user::{seeded_user_name, write_user_body};

/// Errors that stop seeding or verification.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("request for {user_name} failed: {message}")]
    Client {
        user_name: String,
        message: String,
        #[source]
        source: ClientError,
    },
    #[error("{user_name}: status {status}: {body}")]
    Rejected { user_name: String, status: u16, body: String },
    #[error("{user_name}: the response has no usable JSON ({detail}): {body}")]
    BadBody { user_name: String, detail: String, body: String },
    #[error("a seeding task panicked or was cancelled")]
    Task(#[source] tokio::task::JoinError),
}

/// The seeded users' ids in seeding order (`ids[i]` is `user{i}@example.com`) and how long
/// seeding took.
#[derive(Debug)]
pub struct SeedOutcome {
    pub ids: Vec<String>,
    pub elapsed: Duration,
}

/// Creates `users` users (`user0@example.com` ...) with `concurrency` tasks, each on its
/// own connection, and counts finished creates in `done` for progress reports.
///
/// # Errors
/// The first failure of any kind ([`SeedError`]); the other tasks stop after their
/// current request.
pub async fn seed_users(
    endpoint: &Endpoint,
    users: u64,
    concurrency: usize,
    done: Arc<AtomicU64>,
) -> Result<SeedOutcome, SeedError> {
    let started = Instant::now();
    let shared = Arc::new(SeedShared {
        endpoint: endpoint.clone(),
        users,
        next: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        done,
    });
    let tasks: Vec<_> = (0..concurrency.max(1)).map(|_| tokio::spawn(seed_task(Arc::clone(&shared)))).collect();
    let mut created: Vec<(u64, String)> = Vec::with_capacity(users as usize);
    let mut first_error = None;
    for task in tasks {
        match task.await.map_err(SeedError::Task)? {
            Ok(mut ids) => created.append(&mut ids),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    created.sort_unstable_by_key(|(index, _)| *index);
    Ok(SeedOutcome { ids: created.into_iter().map(|(_, id)| id).collect(), elapsed: started.elapsed() })
}

struct SeedShared {
    endpoint: Endpoint,
    users: u64,
    next: AtomicU64,
    stop: AtomicBool,
    done: Arc<AtomicU64>,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

/// The reply's body as `T`, if the reply has the `expected` status.
fn expect_json<T: serde::de::DeserializeOwned>(
    reply: &Reply,
    expected: StatusCode,
    user_name: &str,
) -> Result<T, SeedError> {
    if reply.status != expected {
        return Err(SeedError::Rejected {
            user_name: user_name.to_owned(),
            status: reply.status.as_u16(),
            body: snippet(&reply.body),
        });
    }
    serde_json::from_slice(&reply.body).map_err(|e| SeedError::BadBody {
        user_name: user_name.to_owned(),
        detail: e.to_string(),
        body: snippet(&reply.body),
    })
}

async fn seed_task(shared: Arc<SeedShared>) -> Result<Vec<(u64, String)>, SeedError> {
    let result = seed_loop(&shared).await;
    if result.is_err() {
        shared.stop.store(true, Ordering::Relaxed);
    }
    result
}

async fn seed_loop(shared: &SeedShared) -> Result<Vec<(u64, String)>, SeedError> {
    let mut ids = Vec::new();
    let mut name = String::with_capacity(64);
    let mut body = Vec::with_capacity(512);
    let mut conn: Option<Connection> = None;
    let path = format!("{}/Users", shared.endpoint.base_path());
    loop {
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        if index >= shared.users || shared.stop.load(Ordering::Relaxed) {
            return Ok(ids);
        }
        seeded_user_name(&mut name, index);
        write_user_body(&mut body, &name, index);
        let client_error =
            |source: ClientError| SeedError::Client { user_name: name.clone(), message: error_chain(&source), source };
        let open = match conn.take() {
            Some(open) => open,
            None => Connection::open(&shared.endpoint).await.map_err(client_error)?,
        };
        let open = conn.insert(open);
        let reply =
            open.send(Method::POST, path.clone(), Some(Bytes::copy_from_slice(&body))).await.map_err(client_error)?;
        let created: Created = expect_json(&reply, StatusCode::CREATED, &name)?;
        ids.push((index, created.id));
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
}

/// How many of the given userNames were looked up, and which were not found.
#[derive(Debug)]
pub struct VerifyOutcome {
    pub checked: usize,
    pub missing: Vec<String>,
}

#[derive(Deserialize)]
struct ListResponse {
    #[serde(rename = "totalResults")]
    total_results: u64,
}

/// Looks every name up with `filter=userName eq "…"` (`concurrency` tasks) and lists those
/// not found. Names must need no URL escaping beyond `"` and spaces, which holds for the
/// names this module generates.
///
/// # Errors
/// The first request that fails or answers other than 200 with a SCIM list response.
pub async fn verify_user_names(
    endpoint: &Endpoint,
    names: Arc<[String]>,
    concurrency: usize,
) -> Result<VerifyOutcome, SeedError> {
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let endpoint = endpoint.clone();
            let names = Arc::clone(&names);
            let next = Arc::clone(&next);
            tokio::spawn(async move { verify_loop(&endpoint, &names, &next).await })
        })
        .collect();
    let mut missing = Vec::new();
    let mut first_error = None;
    for task in tasks {
        match task.await.map_err(SeedError::Task)? {
            Ok(mut absent) => missing.append(&mut absent),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(VerifyOutcome { checked: names.len(), missing }),
    }
}

async fn verify_loop(endpoint: &Endpoint, names: &[String], next: &AtomicU64) -> Result<Vec<String>, SeedError> {
    let mut missing = Vec::new();
    let mut conn: Option<Connection> = None;
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed) as usize;
        let Some(name) = names.get(index) else {
            return Ok(missing);
        };
        let client_error =
            |source: ClientError| SeedError::Client { user_name: name.clone(), message: error_chain(&source), source };
        let open = match conn.take() {
            Some(open) => open,
            None => Connection::open(endpoint).await.map_err(client_error)?,
        };
        let open = conn.insert(open);
        let path = format!("{}/Users?filter=userName%20eq%20%22{name}%22", endpoint.base_path());
        let reply = open.send(Method::GET, path, None).await.map_err(client_error)?;
        let list: ListResponse = expect_json(&reply, StatusCode::OK, name)?;
        if list.total_results != 1 {
            missing.push(name.clone());
        }
    }
}
