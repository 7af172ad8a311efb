//! The HTTP edge over real sockets (issue 11): connection timeouts and the connection cap
//! with raw TCP clients that hold connections open; the open-file budget of the real binary
//! under `ulimit -n 256`; SCIM error bodies for what hyper lets through but axum would
//! answer in plain text or not at all; the failed-authentication throttle and the per-app
//! rate limit; and `/healthz` telling strangers nothing but the status.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use usersync::http::{ClientAddr, ListenSettings};
use usersync::store::{open_connection, tokens};

use crate::harness::{temp_dir, TestServer};

/// A [`TestServer`] served on a real socket by the server's own accept loop.
struct Live {
    server: TestServer,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn live(server_settings: &str) -> Live {
    let server = TestServer::with_server_settings(server_settings);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = ListenSettings::from_config(&server.config.server);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(usersync::http::serve(listener, server.router.clone(), settings, async {
        let _ = stopped.await;
    }));
    Live { server, addr, stop: Some(stop) }
}

/// A response read off a raw socket.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    head: String,
    body: Value,
}

impl RawResponse {
    #[track_caller]
    fn assert_scim_error(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}");
        assert!(self.head.to_ascii_lowercase().contains("content-type: application/scim+json"), "{self:?}");
        assert_eq!(self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{self:?}");
        assert_eq!(self.body["status"], status.to_string(), "{self:?}");
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{self:?}");
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Reads one response (head, then `content-length` bytes of body) within 10 s.
async fn read_response(stream: &mut TcpStream) -> RawResponse {
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before a response: {:?}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed in the body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
        RawResponse { status, head, body }
    })
    .await
    .expect("a response within 10 s")
}

async fn exchange(addr: SocketAddr, request: &[u8]) -> (RawResponse, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let response = read_response(&mut stream).await;
    (response, stream)
}

/// How long until the server closes `stream` (reading and discarding what it sends), or
/// `None` if it is still open after `limit`.
async fn closed_after(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut sink = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

fn get(path: &str, token: Option<&str>) -> Vec<u8> {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n{auth}\r\n").into_bytes()
}

/// A POST of `/Users` announcing `length` bytes and sending only the first 20.
fn half_body(token: Option<&str>, length: usize) -> Vec<u8> {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!(
        "POST /scim/v2/okta/Users HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/scim+json\r\nContent-Length: {length}\r\n\r\n{{\"userName\": \"half\","
    )
    .into_bytes()
}

const TIMEOUTS: &str = "header_read_timeout_ms = 400\nbody_read_timeout_ms = 400\nkeep_alive_timeout_ms = 1200";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_connections_are_closed_within_the_timeouts() {
    let s = live(TIMEOUTS).await;
    let token = s.server.tokens["okta"].clone();
    let slack = Duration::from_millis(2500);

    // A silent socket: the header-read timeout from the moment it opened.
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    let after = closed_after(&mut silent, slack).await.expect("a silent socket is closed");
    assert!(after >= Duration::from_millis(300), "{after:?}");

    // Slowloris: a header line every 100 ms, never the end of the head.
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n").await.unwrap();
    let (mut reader, mut writer) = slow.into_split();
    let drip = tokio::spawn(async move {
        for n in 0..100 {
            if writer.write_all(format!("X-Drip-{n}: 1\r\n").as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let started = Instant::now();
    let mut sink = [0u8; 1024];
    let closed =
        tokio::time::timeout(slack, async { while reader.read(&mut sink).await.is_ok_and(|n| n > 0) {} }).await;
    assert!(closed.is_ok(), "a slowloris connection is closed within {slack:?}");
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    drip.abort();

    // Half a body (Content-Length larger than what is sent): 408, then closed.
    let started = Instant::now();
    let (response, mut stream) = exchange(s.addr, &half_body(Some(&token), 500)).await;
    response.assert_scim_error(408);
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    assert!(started.elapsed() < slack, "{:?}", started.elapsed());
    assert_eq!(response.header("connection").as_deref(), Some("close"), "{response:?}");
    assert!(closed_after(&mut stream, slack).await.is_some(), "closed after the 408");

    // Half a body without a token: 401 at once, and the connection does not stay open.
    let started = Instant::now();
    let (response, mut stream) = exchange(s.addr, &half_body(None, 500)).await;
    response.assert_scim_error(401);
    assert!(started.elapsed() < Duration::from_millis(300), "{:?}", started.elapsed());
    assert!(closed_after(&mut stream, slack).await.is_some());

    // Keep-alive: open after a response for keep_alive_timeout (longer than the header-read
    // timeout), then closed.
    let (response, mut stream) = exchange(s.addr, &get("/healthz", None)).await;
    assert_eq!(response.status, 200);
    let after = closed_after(&mut stream, slack).await.expect("an idle keep-alive connection is closed");
    assert!(after >= Duration::from_millis(1000), "keep-alive, not the header-read timeout: {after:?}");
    // ... and one that keeps sending requests stays open.
    let mut busy = TcpStream::connect(s.addr).await.unwrap();
    for _ in 0..6 {
        busy.write_all(&get("/healthz", None)).await.unwrap();
        assert_eq!(read_response(&mut busy).await.status, 200);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_connections_do_not_starve_authenticated_clients() {
    // Timeouts far beyond the test: only the cap can free the held connections.
    let s = live("max_connections = 8\nheader_read_timeout_ms = 60000\nkeep_alive_timeout_ms = 60000").await;
    let token = s.server.tokens["okta"].clone();
    let mut held = Vec::new();
    for n in 0..30 {
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        match n % 3 {
            0 => {}
            1 => stream.write_all(b"GET /scim/v2/okta/Users HTTP/1.1\r\nHost: test\r\nX-Half: ").await.unwrap(),
            _ => stream.write_all(&half_body(None, 5000)).await.unwrap(),
        }
        held.push(stream);
    }
    for _ in 0..5 {
        let started = Instant::now();
        let (response, _) = exchange(s.addr, &get("/scim/v2/okta/Users", Some(&token))).await;
        assert_eq!(response.status, 200, "{response:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }
    let mut open = 0;
    for stream in &mut held {
        if closed_after(stream, Duration::from_millis(300)).await.is_none() {
            open += 1;
        }
    }
    assert!(open <= 8, "{open} held connections still open with a cap of 8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_cap_with_every_connection_busy_a_new_one_gets_503() {
    let s = live("max_connections = 2\nbody_read_timeout_ms = 60000").await;
    let token = s.server.tokens["okta"].clone();
    let mut busy = Vec::new();
    for _ in 0..2 {
        // Authenticated, its body awaited: a request in progress.
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        stream.write_all(&half_body(Some(&token), 5000)).await.unwrap();
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (response, _) = exchange(s.addr, &get("/healthz", None)).await;
    response.assert_scim_error(503);
    assert_eq!(response.header("retry-after").as_deref(), Some("5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_fits_its_connections_to_a_low_open_file_limit() {
    let dir = temp_dir("nofile");
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let token = "nofile-test-token-0123456789";
    let config = dir.join("usersync.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndatabase = \"usersync.db\"\nheader_read_timeout_ms = 60000\n\
             [[apps]]\nname = \"okta\"\nkind = \"okta\"\ntoken_env = \"NOFILE_TOKEN\"\n"
        ),
    )
    .unwrap();
    let log = dir.join("stderr.log");
    // Soft and hard limits both, so the server cannot raise it.
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" serve --config \"$1\" 2>\"$2\"")
        .arg(env!("CARGO_BIN_EXE_usersync"))
        .arg(&config)
        .arg(&log)
        .env("NOFILE_TOKEN", token)
        .env("USERSYNC_LOG", "usersync=info")
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Kill(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut up = false;
    for _ in 0..400 {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            s.write_all(&get("/healthz", None)).await.unwrap();
            if read_response(&mut s).await.status == 200 {
                up = true;
                break;
            }
        }
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "the server exited: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "the server did not start");
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("open-file limit (nofile) is too low"), "{stderr}");

    // 300 idle sockets, more than the server may hold open: it must still serve.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    for _ in 0..3 {
        let started = Instant::now();
        let (response, _) = exchange(addr, &get("/scim/v2/okta/Users", Some(token))).await;
        assert_eq!(response.status, 200, "{response:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_hyper_lets_through_is_answered_with_a_scim_error_body() {
    let s = live("").await;
    let token = s.server.tokens["okta"].clone();
    // %FF decodes to a byte that is not UTF-8: axum's Path rejection, made SCIM.
    let (r, _) = exchange(s.addr, &get("/scim/v2/okta/Users/%FF", Some(&token))).await;
    r.assert_scim_error(400);
    // An admin query that does not parse: axum's Query rejection, made SCIM.
    let (r, _) = exchange(s.addr, &get("/admin/v1/apps/okta/audit?limit=many", None)).await;
    assert!(r.status == 400 || r.status == 401, "{r:?}");
    r.assert_scim_error(r.status);
    // A request target over 32 KiB: 414.
    let long = format!("/scim/v2/okta/Users?filter={}", "a".repeat(40_000));
    let (r, _) = exchange(s.addr, &get(&long, Some(&token))).await;
    r.assert_scim_error(414);
    // Headers over 48 KiB, and more than 64 fields: 431.
    let big = format!("GET /scim/v2/okta/Users HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n", "b".repeat(55_000));
    let (r, _) = exchange(s.addr, big.as_bytes()).await;
    r.assert_scim_error(431);
    let many: String = (0..80).map(|n| format!("X-Field-{n}: 1\r\n")).collect();
    let (r, _) = exchange(s.addr, format!("GET /healthz HTTP/1.1\r\nHost: test\r\n{many}\r\n").as_bytes()).await;
    r.assert_scim_error(431);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_hyper_refuses_itself_is_answered_and_closed() {
    // hyper answers these before any router sees them (README, "Errors hyper answers
    // itself"): the body cannot be SCIM, but the answer is prompt and the connection closes.
    let s = live("").await;
    let raw_bytes = b"GET /scim/v2/okta/Users/\xff\xfe HTTP/1.1\r\nHost: test\r\n\r\n".to_vec();
    let two_lengths =
        b"POST /scim/v2/okta/Users HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec();
    for request in [raw_bytes, two_lengths] {
        let (r, mut stream) = exchange(s.addr, &request).await;
        assert_eq!(r.status, 400, "{r:?}");
        assert!(closed_after(&mut stream, Duration::from_secs(2)).await.is_some());
    }
}

/// A request through the router as if from `client`.
async fn from(
    server: &TestServer,
    client: [u8; 4],
    path: &str,
    token: Option<&str>,
) -> (u16, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut().insert(ClientAddr(IpAddr::V4(Ipv4Addr::from(client))));
    let resp = server.router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let raw = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&raw).unwrap_or(Value::Null))
}

#[track_caller]
fn assert_429(status: u16, headers: &axum::http::HeaderMap, body: &Value) {
    assert_eq!(status, 429, "{body}");
    let secs: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{body}");
    assert_eq!(body["status"], "429", "{body}");
    assert!(headers["content-type"].to_str().unwrap().contains("json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentication_is_throttled_per_address() {
    let s = TestServer::with_server_settings("auth_failures_per_client = 5\nauth_failures_per_app = 0");
    let good = s.tokens["okta"].clone();
    let attacker = [192, 0, 2, 1];
    for _ in 0..5 {
        assert_eq!(from(&s, attacker, "/scim/v2/okta/Users", Some("guess-guess-guess-guess")).await.0, 401);
    }
    let (status, headers, body) = from(&s, attacker, "/scim/v2/okta/Users", Some("guess-guess-guess-guess")).await;
    assert_429(status, &headers, &body);
    // While throttled, a token is not even checked: a right guess is not revealed.
    let (status, headers, body) = from(&s, attacker, "/scim/v2/okta/Users", Some(&good)).await;
    assert_429(status, &headers, &body);
    // Other addresses are served.
    assert_eq!(from(&s, [198, 51, 100, 7], "/scim/v2/okta/Users", Some(&good)).await.0, 200);
    // The admin API counts too.
    let admin = [192, 0, 2, 2];
    for _ in 0..5 {
        assert_eq!(from(&s, admin, "/admin/v1/health", Some("not-an-admin-token")).await.0, 401);
    }
    let (status, headers, body) = from(&s, admin, "/admin/v1/health", Some("not-an-admin-token")).await;
    assert_429(status, &headers, &body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_under_a_distributed_guess_keeps_its_identity_provider() {
    let s = TestServer::with_server_settings("auth_failures_per_client = 0\nauth_failures_per_app = 5");
    let good = s.tokens["okta"].clone();
    let idp = [203, 0, 113, 10];
    assert_eq!(from(&s, idp, "/scim/v2/okta/Users", Some(&good)).await.0, 200);
    for n in 0..5 {
        assert_eq!(from(&s, [192, 0, 2, n], "/scim/v2/okta/Users", Some("guess-guess-guess-guess")).await.0, 401);
    }
    let (status, headers, body) = from(&s, [192, 0, 2, 99], "/scim/v2/okta/Users", Some(&good)).await;
    assert_429(status, &headers, &body);
    assert_eq!(from(&s, idp, "/scim/v2/okta/Users", Some(&good)).await.0, 200, "the IdP is still served");
    assert_eq!(from(&s, [192, 0, 2, 99], "/scim/v2/entra/Users", Some(&s.tokens["entra"])).await.0, 200);
    // Unknown app names are throttled alike, each on its own, so throttling reveals nothing.
    for n in 0..5 {
        assert_eq!(from(&s, [192, 0, 2, n], "/scim/v2/nosuch/Users", Some("guess-guess-guess-guess")).await.0, 401);
    }
    assert_eq!(from(&s, [192, 0, 2, 99], "/scim/v2/nosuch/Users", Some("x-x-x-x-x-x-x-x-x-x")).await.0, 429);
    assert_eq!(from(&s, [192, 0, 2, 99], "/scim/v2/other/Users", Some("x-x-x-x-x-x-x-x-x-x")).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_rate_limit_answers_429_with_retry_after() {
    let s = TestServer::with_config("", "[apps.rate_limit]\nrequests_per_second = 0.5\nburst = 2\n");
    let generic = s.tokens["generic"].clone();
    let client = [203, 0, 113, 1];
    for _ in 0..2 {
        assert_eq!(from(&s, client, "/scim/v2/generic/Users", Some(&generic)).await.0, 200);
    }
    let (status, headers, body) = from(&s, client, "/scim/v2/generic/Users", Some(&generic)).await;
    assert_429(status, &headers, &body);
    assert_eq!(headers["retry-after"], "2");
    // Other apps have no limit.
    for _ in 0..5 {
        assert_eq!(from(&s, client, "/scim/v2/okta/Users", Some(&s.tokens["okta"])).await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_tells_strangers_the_status_only() {
    let before = TestServer::new();
    let conn = open_connection(&before.config.database_path()).unwrap();
    let (_, admin) = tokens::create(&conn, usersync::http::admin::ADMIN, "test").unwrap();
    let s = before.restart();
    let (status, headers, body) = from(&s, [192, 0, 2, 1], "/healthz", None).await;
    assert_eq!((status, &body), (200, &serde_json::json!({"status": "ok"})));
    assert!(headers["content-type"].to_str().unwrap().contains("json"));
    let (status, _, body) = from(&s, [192, 0, 2, 1], "/admin/v1/health", Some(&s.tokens["okta"])).await;
    assert_eq!(status, 401, "an app's token is not an admin token: {body}");
    let (status, _, body) = from(&s, [192, 0, 2, 1], "/admin/v1/health", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert!(body["rules"].is_array() && body["confluence"].is_array(), "{body}");
}
