//! TLS in the process (issue 12 §2): `[server] tls_cert` / `tls_key` served by rustls, a
//! renewed certificate picked up without a restart, a broken renewal leaving the serving
//! one in place, and a handshake that never comes closed within the header-read timeout.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::harness::scratch;

/// A self-signed certificate for 127.0.0.1 (and its key), made with openssl.
fn make_cert(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN=usersync {name}"), "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        // An end-entity certificate (webpki refuses a CA certificate as a server's own).
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// A client that trusts only `cert`.
fn client(cert: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Puts `from` in place of `to` the way renewals do: written beside it, renamed over it.
fn replace(from: &Path, to: &Path) {
    let temporary = to.with_extension("new");
    std::fs::copy(from, &temporary).unwrap();
    std::fs::rename(&temporary, to).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_speaks_tls_and_picks_up_a_renewed_certificate() {
    let dir = scratch("tls");
    let (first, first_key) = make_cert(&dir, "first");
    let (second, second_key) = make_cert(&dir, "second");
    std::fs::copy(&first, dir.join("server.crt")).unwrap();
    std::fs::copy(&first_key, dir.join("server.key")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(
        dir.join("usersync.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndatabase = \"usersync.db\"\ntls_cert = \"server.crt\"\n\
             tls_key = \"server.key\"\nheader_read_timeout_ms = 500\n\n[[apps]]\nname = \"app\"\nkind = \"generic\"\n"
        ),
    )
    .unwrap();
    let config = usersync::config::Config::load(&dir.join("usersync.toml")).unwrap();
    assert_eq!(config.public_url(), format!("https://127.0.0.1:{port}"), "the SCIM base URLs say https");
    let server = tokio::spawn(async move { usersync::server::serve(&config).await });
    let url = format!("https://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client(&first).get(&url).send().await {
            Ok(r) => {
                assert_eq!(r.status(), 200);
                break;
            }
            Err(e) => {
                assert!(!server.is_finished(), "the server stopped");
                assert!(Instant::now() < deadline, "the TLS server answers: {e:?}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(client(&second).get(&url).send().await.is_err(), "it presents the first certificate");
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/healthz")).send().await;
    assert!(plain.is_err(), "plain HTTP is not served on the TLS port");

    // A handshake that never starts is closed within the header-read timeout.
    let mut idle = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await.expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "closed without an answer: {read:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Renewed: the key first, then the certificate, each renamed into place.
    replace(&second_key, &dir.join("server.key"));
    replace(&second, &dir.join("server.crt"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while client(&second).get(&url).send().await.is_err() {
        assert!(Instant::now() < deadline, "the renewed certificate is served without a restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A broken renewal is refused; the serving certificate stays.
    std::fs::write(dir.join("server.crt"), "not a certificate\n").unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let r = client(&second).get(&url).send().await.expect("still served");
    assert_eq!(r.status(), 200);
    server.abort();
}

#[test]
fn a_certificate_without_its_key_is_refused_at_start() {
    let dir = scratch("tls-config");
    std::fs::write(
        dir.join("usersync.toml"),
        "[server]\ntls_cert = \"server.crt\"\n\n[[apps]]\nname = \"app\"\nkind = \"generic\"\n",
    )
    .unwrap();
    let e = usersync::config::Config::load(&dir.join("usersync.toml")).unwrap_err();
    assert!(e.to_string().contains("tls_cert and tls_key go together"), "{e}");
    let (cert, _) = make_cert(&dir, "lonely");
    let (_, other_key) = make_cert(&dir, "other");
    let e = usersync::http::tls::load(&cert, &other_key).unwrap_err();
    assert!(e.to_string().contains("does not belong to the certificate"), "{e}");
    let e = usersync::http::tls::load(&dir.join("missing.crt"), &other_key).unwrap_err();
    assert!(e.to_string().contains("cannot read"), "{e}");
}
