//! The LDAP connection: connect (each URL in turn, TLS or StartTLS with the app's CAs),
//! bind, and search, every step within the app's time limit. `ldap3` carries the protocol;
//! what it would panic on (an entry or a control it cannot decode) is caught here or parsed
//! by `codec`, so a malformed answer fails one search, never the host.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ldap3::controls::RawControl;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, ResultEntry, Scope, SearchEntry};

use super::codec;
use super::DirectoryError;
use crate::config::{DirectoryConfig, SearchScope};

/// The values asked for per range-retrieval request (AD's default MaxValRange).
pub const RANGE_STEP: usize = 1500;

/// One entry as read: text values, and the values that are not UTF-8 kept as bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    pub attrs: BTreeMap<String, Vec<String>>,
    pub binary: BTreeMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    /// The first text value of `name` (attribute names compare without case).
    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name).and_then(|v| v.first()).map(String::as_str)
    }

    pub fn values(&self, name: &str) -> Option<&Vec<String>> {
        self.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    pub fn binary_first(&self, name: &str) -> Option<&[u8]> {
        self.binary.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.first()).map(Vec::as_slice)
    }

    /// Whether the entry has the attribute at all (text or binary).
    pub fn has(&self, name: &str) -> bool {
        self.values(name).is_some() || self.binary_first(name).is_some()
    }
}

/// What a search returned: its entries, and the referrals it did not chase.
#[derive(Debug, Default)]
pub struct Found {
    pub entries: Vec<Entry>,
    pub referrals: Vec<String>,
}

/// An open, bound connection.
pub struct Conn {
    ldap: Ldap,
    timeout: Duration,
    /// The URL it reached.
    pub url: String,
}

/// How to reach the directory: the app's settings and its password.
#[derive(Clone)]
pub struct Target {
    pub config: DirectoryConfig,
    pub password: Option<String>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Target").field("urls", &self.config.urls).finish_non_exhaustive()
    }
}

impl Target {
    /// The app's directory settings, its password read and its TLS trust built.
    ///
    /// # Errors
    /// The password or the CA file cannot be read.
    pub fn new(config: DirectoryConfig, password: Option<String>, base_dir: &Path) -> Result<Target, DirectoryError> {
        let tls = tls_config(&config, base_dir)?;
        Ok(Target { config, password, tls })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs)
    }

    /// Opens a connection to the first URL that answers (TCP, then TLS or StartTLS).
    ///
    /// # Errors
    /// No URL could be reached; the error names each one's cause.
    pub async fn connect(&self) -> Result<Conn, DirectoryError> {
        let mut causes = Vec::new();
        for url in &self.config.urls {
            match self.connect_one(url).await {
                Ok(conn) => return Ok(conn),
                Err(e) => causes.push(format!("{url}: {e}")),
            }
        }
        Err(DirectoryError::Unreachable(causes.join("; ")))
    }

    async fn connect_one(&self, url: &str) -> Result<Conn, DirectoryError> {
        let mut settings = LdapConnSettings::new().set_conn_timeout(self.timeout()).set_starttls(self.config.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let attempt = tokio::time::timeout(self.timeout(), LdapConnAsync::with_settings(settings, url)).await;
        let (conn, mut ldap) = match attempt {
            Err(_) => return Err(DirectoryError::Unreachable(format!("no answer within {:?}", self.timeout()))),
            Ok(Err(e)) => return Err(connect_error(&e)),
            Ok(Ok(pair)) => pair,
        };
        let app_url = url.to_owned();
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(url = %app_url, error = %e, "directory connection ended");
            }
        });
        ldap.with_timeout(self.timeout());
        Ok(Conn { ldap, timeout: self.timeout(), url: url.to_owned() })
    }

    /// Connects and binds as the app's bind DN (anonymously without one).
    ///
    /// # Errors
    /// As [`Target::connect`] and [`Conn::bind`].
    pub async fn open(&self) -> Result<Conn, DirectoryError> {
        let mut conn = self.connect().await?;
        if let Some(dn) = &self.config.bind_dn {
            conn.bind(dn, self.password.as_deref().unwrap_or_default()).await?;
        }
        Ok(conn)
    }
}

impl Conn {
    /// A simple bind.
    ///
    /// # Errors
    /// The server refused it (the message carries AD's `data` code when there is one).
    pub async fn bind(&mut self, dn: &str, password: &str) -> Result<(), DirectoryError> {
        if password.is_empty() {
            // An empty password is an unauthenticated bind (RFC 4513 §5.1.2), which many
            // servers accept: it would "succeed" without proving anything.
            return Err(DirectoryError::Bind("no password for the bind DN".into()));
        }
        let res = self.ldap.with_timeout(self.timeout).simple_bind(dn, password).await.map_err(io_error)?;
        if res.rc != 0 {
            return Err(DirectoryError::Bind(describe_rc(res.rc, &res.text)));
        }
        Ok(())
    }

    /// The root DSE's attributes (`supportedControl`, `namingContexts`, …).
    ///
    /// # Errors
    /// The search failed.
    pub async fn root_dse(&mut self) -> Result<Entry, DirectoryError> {
        let attrs = [
            "*",
            "+",
            "supportedControl",
            "supportedExtension",
            "namingContexts",
            "defaultNamingContext",
            "highestCommittedUSN",
            "dsServiceName",
            "dnsHostName",
            "vendorName",
            "vendorVersion",
            "currentTime",
        ];
        let found = self.search("", Scope::Base, "(objectClass=*)", &attrs, Vec::new()).await?;
        Ok(found.entries.into_iter().next().unwrap_or_default())
    }

    /// Reads one entry by DN (`None` when it does not exist).
    ///
    /// # Errors
    /// The search failed otherwise.
    pub async fn read(&mut self, dn: &str, attrs: &[&str]) -> Result<Option<Entry>, DirectoryError> {
        match self.search(dn, Scope::Base, "(objectClass=*)", attrs, Vec::new()).await {
            Ok(found) => Ok(found.entries.into_iter().next()),
            Err(DirectoryError::Search { rc: 32, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A search in one go (for small answers: the root DSE, one entry, a range chunk).
    ///
    /// # Errors
    /// The server answered with an error code, or the connection failed or timed out.
    pub async fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
        controls: Vec<RawControl>,
    ) -> Result<Found, DirectoryError> {
        let (found, _) = self.search_page(base, scope, filter, attrs, controls).await?;
        Ok(found)
    }

    /// One search, its entries and the response controls of its result.
    pub async fn search_page(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
        controls: Vec<RawControl>,
    ) -> Result<(Found, Vec<RawControl>), DirectoryError> {
        let attrs: Vec<String> = attrs.iter().map(|a| (*a).to_owned()).collect();
        let mut stream = self
            .ldap
            .with_controls(controls)
            .with_timeout(self.timeout)
            .streaming_search(base, scope, filter, attrs)
            .await
            .map_err(io_error)?;
        let mut found = Found::default();
        while let Some(item) = stream.next().await.map_err(io_error)? {
            if item.is_ref() {
                found.referrals.extend(referrals(item));
                continue;
            }
            if item.is_intermediate() {
                continue;
            }
            found.entries.push(entry(item)?);
        }
        let res = stream.finish().await;
        match res.rc {
            0 => {}
            10 => found.referrals.extend(res.refs.clone()),
            rc => {
                return Err(DirectoryError::Search {
                    rc,
                    detail: format!("search of {base:?} {filter}: {}", describe_rc(rc, &res.text)),
                })
            }
        }
        Ok((found, res.ctrls.into_iter().map(|c| c.1).collect()))
    }

    /// A search with the Simple Paged Results control (RFC 2696), page after page, so
    /// answers beyond a server's size limit (AD's 1,000) come whole.
    ///
    /// # Errors
    /// Any page failed, including one cut short by a size or time limit: the caller gets
    /// no partial answer.
    pub async fn paged(
        &mut self,
        base: &str,
        scope: SearchScope,
        filter: &str,
        attrs: &[&str],
        page_size: u32,
    ) -> Result<Found, DirectoryError> {
        let scope = match scope {
            SearchScope::Sub => Scope::Subtree,
            SearchScope::One => Scope::OneLevel,
        };
        let mut out = Found::default();
        let mut cookie: Vec<u8> = Vec::new();
        loop {
            let control = RawControl {
                ctype: codec::PAGED_RESULTS_OID.to_owned(),
                crit: false,
                val: Some(super::paged::encode_request(page_size, &cookie)),
            };
            let (found, controls) = self.search_page(base, scope, filter, attrs, vec![control]).await?;
            out.entries.extend(found.entries);
            out.referrals.extend(found.referrals);
            let next = controls
                .iter()
                .find(|c| c.ctype == codec::PAGED_RESULTS_OID)
                .and_then(|c| c.val.as_deref())
                .map(super::paged::parse_response)
                .transpose()
                .map_err(|e| DirectoryError::Malformed(format!("paged results control: {e}")))?;
            match next {
                Some((_, c)) if !c.is_empty() => cookie = c,
                _ => return Ok(out),
            }
        }
    }

    /// Every value of a multi-valued attribute that AD hands out in ranges (`member;range=0-1499`,
    /// then `member;range=1500-*`…): the entry's first chunk is `first`.
    ///
    /// # Errors
    /// A chunk's search failed or came back without the attribute.
    pub async fn ranged_values(
        &mut self,
        dn: &str,
        first: &codec::RangedAttr,
        mut values: Vec<String>,
    ) -> Result<Vec<String>, DirectoryError> {
        let mut last = first.clone();
        while let Some(request) = codec::next_range_request(&last.base, &last) {
            let entry = self
                .read(dn, &[request.as_str()])
                .await?
                .ok_or_else(|| DirectoryError::Malformed(format!("{dn} vanished during range retrieval")))?;
            let chunk = entry
                .attrs
                .iter()
                .find_map(|(name, vals)| {
                    codec::parse_ranged_attribute(name)
                        .filter(|r| r.base.eq_ignore_ascii_case(&last.base))
                        .map(|r| (r, vals.clone()))
                })
                .ok_or_else(|| {
                    DirectoryError::Malformed(format!("{dn}: no {} values in the range answer", last.base))
                })?;
            values.extend(chunk.1);
            last = chunk.0;
        }
        Ok(values)
    }

    /// Every value of `attr` of `dn`, asked for in ranges of [`RANGE_STEP`] from the first.
    ///
    /// # Errors
    /// A chunk's search failed.
    pub async fn ranged_from_start(&mut self, dn: &str, attr: &str) -> Result<Vec<String>, DirectoryError> {
        let request = format!("{attr};range=0-{}", RANGE_STEP - 1);
        let entry = self
            .read(dn, &[request.as_str()])
            .await?
            .ok_or_else(|| DirectoryError::Malformed(format!("{dn} vanished during range retrieval")))?;
        let ranged = entry.attrs.iter().find_map(|(name, vals)| {
            codec::parse_ranged_attribute(name).filter(|r| r.base.eq_ignore_ascii_case(attr)).map(|r| (r, vals.clone()))
        });
        match ranged {
            Some((range, first)) => self.ranged_values(dn, &range, first).await,
            // The server ignored the range: the plain attribute is whole.
            None => Ok(entry.values(attr).cloned().unwrap_or_default()),
        }
    }

    /// The underlying handle, for a search kept open (RFC 4533 refreshAndPersist).
    pub fn handle(&mut self) -> &mut Ldap {
        &mut self.ldap
    }

    pub async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }
}

/// Decodes a search result entry; `ldap3` panics on a malformed one, so that is caught
/// and becomes an error for this search alone.
///
/// # Errors
/// The entry's BER is malformed.
pub fn entry(item: ResultEntry) -> Result<Entry, DirectoryError> {
    let parsed = catch_unwind(AssertUnwindSafe(|| SearchEntry::construct(item)))
        .map_err(|_| DirectoryError::Malformed("an entry the server sent could not be decoded".into()))?;
    Ok(Entry {
        dn: parsed.dn,
        attrs: parsed.attrs.into_iter().collect(),
        binary: parsed.bin_attrs.into_iter().collect(),
    })
}

fn referrals(item: ResultEntry) -> Vec<String> {
    catch_unwind(AssertUnwindSafe(|| ldap3::parse_refs(item.0))).unwrap_or_default()
}

/// An LDAP result code with its meaning, and AD's sub-code when the text has one
/// (`80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e`).
pub fn describe_rc(rc: u32, text: &str) -> String {
    let meaning = match rc {
        1 => "operations error",
        2 => "protocol error",
        3 => "time limit exceeded",
        4 => "size limit exceeded",
        7 => "authentication method not supported",
        8 => "stronger authentication required",
        10 => "referral",
        11 => "administrative limit exceeded",
        12 => "unavailable critical extension",
        13 => "confidentiality required",
        32 => "no such object",
        34 => "invalid DN syntax",
        48 => "inappropriate authentication",
        49 => "invalid credentials",
        50 => "insufficient access rights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwilling to perform",
        80 => "other",
        _ => "error",
    };
    let ad = ad_data_code(text).map(|code| {
        let why = match code.as_str() {
            "525" => "user not found",
            "52e" => "invalid credentials",
            "530" => "not permitted to log on at this time",
            "531" => "not permitted to log on at this workstation",
            "532" => "password expired",
            "533" => "account disabled",
            "701" => "account expired",
            "773" => "user must reset password",
            "775" => "account locked out",
            _ => "",
        };
        if why.is_empty() {
            format!(" (AD data {code})")
        } else {
            format!(" (AD data {code}: {why})")
        }
    });
    let text = text.trim().trim_end_matches('\0');
    match (ad, text.is_empty()) {
        (Some(ad), _) => format!("{meaning}{ad}"),
        (None, true) => format!("{meaning} (LDAP {rc})"),
        (None, false) => format!("{meaning} (LDAP {rc}: {text})"),
    }
}

/// AD's `data 52e` sub-code in a diagnostic message.
fn ad_data_code(text: &str) -> Option<String> {
    let at = text.find("data ")?;
    let code: String = text[at + 5..].chars().take_while(char::is_ascii_hexdigit).collect();
    (!code.is_empty()).then_some(code)
}

fn io_error(e: LdapError) -> DirectoryError {
    match e {
        LdapError::Timeout { .. } => DirectoryError::Timeout,
        LdapError::EndOfStream => DirectoryError::Dropped("the server closed the connection mid-search".into()),
        other => DirectoryError::Dropped(other.to_string()),
    }
}

fn connect_error(e: &LdapError) -> DirectoryError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("notvalidforname") {
        DirectoryError::Tls(format!("certificate not trusted: {text}"))
    } else if lower.contains("tls") || lower.contains("handshake") {
        DirectoryError::Tls(text)
    } else {
        DirectoryError::Unreachable(text)
    }
}

/// The TLS trust of an app: its CA file, or the public roots; with `verify_hostname` off,
/// a chain is still checked, only the name is not.
fn tls_config(config: &DirectoryConfig, base_dir: &Path) -> Result<Option<Arc<rustls::ClientConfig>>, DirectoryError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    let mut roots = rustls::RootCertStore::empty();
    match config.ca_path(base_dir) {
        Some(path) => {
            let pem = std::fs::read(&path)
                .map_err(|e| DirectoryError::Config(format!("cannot read CA file {}: {e}", path.display())))?;
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| DirectoryError::Config(format!("CA file {}: {e}", path.display())))?;
                roots.add(cert).map_err(|e| DirectoryError::Config(format!("CA file {}: {e}", path.display())))?;
                added += 1;
            }
            if added == 0 {
                return Err(DirectoryError::Config(format!("CA file {} holds no certificate", path.display())));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectoryError::Config(e.to_string()))?;
    let roots = Arc::new(roots);
    let config = if config.verify_hostname {
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| DirectoryError::Config(e.to_string()))?;
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyName { inner })).with_no_client_auth()
    };
    Ok(Some(Arc::new(config)))
}

/// Checks the chain and the signatures, and accepts a certificate for any name (an
/// administrator's choice, `verify_hostname = false`, for servers reached by address).
#[derive(Debug)]
struct AnyName {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl rustls::client::danger::ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_name_their_cause_and_ad_sub_codes() {
        let ad = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563";
        assert_eq!(describe_rc(49, ad), "invalid credentials (AD data 52e: invalid credentials)");
        assert_eq!(describe_rc(49, ""), "invalid credentials (LDAP 49)");
        assert_eq!(describe_rc(4, "too many"), "size limit exceeded (LDAP 4: too many)");
        assert_eq!(describe_rc(49, "data 775"), "invalid credentials (AD data 775: account locked out)");
    }

    /// `ldap3` panics on an entry it cannot decode; here that is one search's error.
    #[test]
    fn a_malformed_entry_is_an_error_not_a_panic() {
        use lber::structure::{StructureTag, PL};
        let garbage = StructureTag { class: lber::common::TagClass::Application, id: 4, payload: PL::P(vec![1, 2, 3]) };
        let err = entry(ResultEntry::new(garbage)).unwrap_err();
        assert!(matches!(err, DirectoryError::Malformed(_)), "{err}");
    }

    #[test]
    fn entries_compare_attribute_names_without_case() {
        let mut e = Entry::default();
        e.attrs.insert("sAMAccountName".into(), vec!["ada".into()]);
        assert_eq!(e.first("samaccountname"), Some("ada"));
        assert!(e.has("SAMACCOUNTNAME"));
        assert!(!e.has("mail"));
    }
}
