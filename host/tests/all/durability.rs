//! The real `usersync` binary, killed with SIGKILL in the middle of concurrent writes and
//! started again on the same database: nothing acknowledged is lost, no PATCH is half
//! applied, and the file passes SQLite's integrity check.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::harness::{temp_dir, user_body};

const TOKEN: &str = "durability-test-token-0123456789";

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// SIGKILL, then reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    /// A panicking test must not leave a server running.
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(dir: &std::path::Path) -> Server {
    let port = free_port();
    let config = dir.join("usersync.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndatabase = \"usersync.db\"\n[[apps]]\nname = \"crash\"\nkind = \"okta\"\ntoken_env = \"CRASH_TOKEN\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_usersync"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("CRASH_TOKEN", TOKEN)
        .env("USERSYNC_LOG", "usersync=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Server { child, base: format!("{base}/scim/v2/crash") };
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start on {base}");
}

/// What the server acknowledged: user id → the highest PATCH number it confirmed.
type Acked = Arc<Mutex<Vec<(String, u64)>>>;

async fn writer(base: String, worker: usize, acked: Acked) {
    let client = reqwest::Client::new();
    for i in 0.. {
        let created = client
            .post(format!("{base}/Users"))
            .bearer_auth(TOKEN)
            .json(&user_body(&format!("w{worker}-u{i}@example.com")))
            .send()
            .await;
        let Ok(resp) = created else { return };
        if resp.status() != 201 {
            return;
        }
        let Ok(body) = resp.json::<Value>().await else { return };
        let id = body["id"].as_str().unwrap().to_owned();
        acked.lock().await.push((id.clone(), 0));
        for n in 1..=3u64 {
            // Two attributes in one PATCH: after a crash they must agree.
            let patch = json!({"Operations": [
                {"op": "replace", "path": "title", "value": format!("t{n}")},
                {"op": "replace", "path": "nickName", "value": format!("t{n}")}
            ]});
            let r = client.patch(format!("{base}/Users/{id}")).bearer_auth(TOKEN).json(&patch).send().await;
            match r {
                Ok(r) if r.status() == 200 => {
                    let mut a = acked.lock().await;
                    if let Some(entry) = a.iter_mut().find(|(i, _)| *i == id) {
                        entry.1 = n;
                    }
                }
                _ => return,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_write_loses_nothing_acknowledged() {
    let dir = temp_dir("crash");
    let acked: Acked = Arc::new(Mutex::new(Vec::new()));
    for round in 0..3 {
        let mut server = start(&dir).await;
        let tasks: Vec<_> =
            (0..8).map(|w| tokio::spawn(writer(server.base.clone(), w + round * 8, acked.clone()))).collect();
        tokio::time::sleep(Duration::from_millis(400 + 150 * round as u64)).await;
        server.kill();
        for t in tasks {
            t.await.unwrap();
        }
    }
    let server = start(&dir).await;
    let client = reqwest::Client::new();
    let acked = acked.lock().await.clone();
    assert!(acked.len() >= 8, "the writers got too little done to test anything: {}", acked.len());
    for (id, n) in &acked {
        let r = client.get(format!("{}/Users/{id}", server.base)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200, "acknowledged user {id} was lost");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["title"], body["nickName"], "half-applied PATCH on {id}: {body}");
        let seen = body["title"].as_str().map_or(0, |t| t.trim_start_matches('t').parse::<u64>().unwrap());
        assert!(seen >= *n, "acknowledged PATCH t{n} on {id} was lost (found t{seen})");
    }
    let mut server = server;
    server.kill();
    let conn = usersync::store::open_connection(&dir.join("usersync.db")).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    std::fs::remove_dir_all(&dir).unwrap();
}
