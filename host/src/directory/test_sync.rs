//! Test Sync, Test connection and Test authentication, as miniOrange's LDAP page has them:
//! look one person up by the username attribute (the value escaped per RFC 4515), show
//! every attribute decoded, their groups, and the rules' three decisions. Nothing is
//! stored or sent to Confluence.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::client::{Entry, Target};
use super::codec;
use super::entry;
use super::sync::DirectorySync;
use super::DirectoryError;
use crate::config::{DirectoryConfig, Membership};
use crate::inbound::RulesHook;
use crate::rules::types::{AttributeDecision, Decisions, IdpGroup};
use crate::scim::schema::ResourceKind;
use crate::store::StoredResource;

/// What "Test connection" found: the server answered (TCP, then TLS when asked for) and
/// its root DSE.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionCheck {
    pub url: String,
    pub tls: bool,
    pub strategy: String,
    pub naming_contexts: Vec<String>,
    pub vendor: Option<String>,
    pub supported_controls: Vec<String>,
}

/// # Errors
/// No URL answered, TLS failed (the certificate named), or the root DSE could not be read.
pub async fn test_connection(target: &Target) -> Result<ConnectionCheck, DirectoryError> {
    let mut conn = target.connect().await?;
    let root = conn.root_dse().await?;
    conn.close().await;
    let url = target.config.urls.first().cloned().unwrap_or_default();
    Ok(ConnectionCheck {
        tls: url.to_ascii_lowercase().starts_with("ldaps://") || target.config.starttls,
        url,
        strategy: super::incremental::detect(&root).as_str().to_owned(),
        naming_contexts: root.values("namingContexts").cloned().unwrap_or_default(),
        vendor: root.first("vendorName").map(str::to_owned),
        supported_controls: root.values("supportedControl").cloned().unwrap_or_default(),
    })
}

/// "Test authentication": the bind, and nothing else.
///
/// # Errors
/// The bind was refused (AD's sub-code named) or the server unreachable.
pub async fn test_auth(target: &Target) -> Result<String, DirectoryError> {
    let dn = target
        .config
        .bind_dn
        .clone()
        .ok_or_else(|| DirectoryError::Config("the app has no bind DN: it binds anonymously".into()))?;
    let conn = target.open().await?;
    let url = conn.url.clone();
    conn.close().await;
    Ok(format!("bound as {dn} at {url}"))
}

/// A group found for the person.
#[derive(Debug, Clone, Serialize)]
pub struct FoundGroup {
    pub dn: String,
    pub name: String,
}

/// The rules' three decisions, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionsView {
    pub module: String,
    /// `provision` or `skip`.
    pub outcome: String,
    pub username: Option<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub active: Option<bool>,
    pub skip_reason: Option<String>,
    pub custom_fields: Vec<(String, String)>,
    pub groups: Vec<String>,
    pub groups_remove: Vec<String>,
}

/// What Test Sync shows.
#[derive(Debug, Clone, Serialize)]
pub struct TestSync {
    pub dn: String,
    pub id: Option<String>,
    pub username: Option<String>,
    pub active: bool,
    pub inactive_reason: Option<String>,
    pub attributes: BTreeMap<String, Vec<String>>,
    pub groups: Vec<FoundGroup>,
    pub decisions: Option<DecisionsView>,
    /// Why there are no decisions (no module, or it failed: the message names the module).
    pub decision_error: Option<String>,
}

/// Looks `login` up by the app's username attribute (escaped per RFC 4515): the entry and
/// its groups.
///
/// # Errors
/// The directory failed, or has no such person (or several).
pub async fn look_up(target: &Target, login: &str) -> Result<(Entry, Vec<FoundGroup>), DirectoryError> {
    let cfg = &target.config;
    let mut conn = target.open().await?;
    let filter =
        format!("(&{}({}={}))", cfg.user_filter(), cfg.username_attribute(), codec::escape_filter_value(login.trim()));
    let attrs = super::sync::person_attrs(cfg);
    let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
    let found = conn.paged(&cfg.user_base, cfg.user_scope, &filter, &attrs, cfg.page_size).await?;
    let person: Entry = match found.entries.len() {
        0 => {
            conn.close().await;
            return Err(DirectoryError::Refused(format!(
                "no person with {}={login} under {}",
                cfg.username_attribute(),
                cfg.user_base
            )));
        }
        1 => found.entries.into_iter().next().unwrap_or_default(),
        n => {
            conn.close().await;
            return Err(DirectoryError::Refused(format!("{n} people have {}={login}", cfg.username_attribute())));
        }
    };
    let groups = groups_of(cfg, &mut conn, &person).await?;
    conn.close().await;
    Ok((person, groups))
}

/// What Test Sync shows of an entry, before any decision.
pub fn shown(cfg: &DirectoryConfig, person: &Entry, groups: &[FoundGroup]) -> TestSync {
    let now = time::OffsetDateTime::now_utc();
    let (active, inactive_reason) = entry::active(cfg, person, now);
    TestSync {
        dn: person.dn.clone(),
        id: entry::stable_id(cfg, person).ok(),
        username: person.first(cfg.username_attribute()).map(str::to_owned),
        active,
        inactive_reason: inactive_reason.map(str::to_owned),
        attributes: entry::decoded(person),
        groups: groups.to_vec(),
        decisions: None,
        decision_error: None,
    }
}

/// The person as the pipeline would store them, and their groups as the rules see them.
///
/// # Errors
/// The entry has no username.
pub fn as_stored(
    cfg: &DirectoryConfig,
    person: &Entry,
    groups: &[FoundGroup],
) -> Result<(StoredResource, Vec<IdpGroup>), String> {
    let attrs = entry::person(cfg, person, time::OffsetDateTime::now_utc()).map_err(|s| s.reason)?;
    let user_name = attrs.get("userName").and_then(serde_json::Value::as_str).unwrap_or_default().to_lowercase();
    let id: Arc<str> = Arc::from(entry::stable_id(cfg, person).unwrap_or_else(|_| "test-sync".to_owned()).as_str());
    let mut json = attrs;
    json.insert("id".into(), serde_json::Value::String(id.to_string()));
    let stored = StoredResource {
        kind: ResourceKind::User,
        id,
        version: 0,
        name_key: Arc::from(user_name),
        external_id: Some(Arc::from(person.dn.as_str())),
        json: Arc::from(serde_json::Value::Object(json).to_string().into_bytes()),
        members: crate::store::no_members(),
    };
    let idp_groups = groups.iter().map(|g| IdpGroup { id: g.dn.clone(), display_name: g.name.clone() }).collect();
    Ok((stored, idp_groups))
}

/// The decisions as shown.
pub fn view(d: &Decisions) -> DecisionsView {
    let mut view = DecisionsView {
        module: format!("{} {}", d.module.name, d.module.hash),
        outcome: "provision".into(),
        username: None,
        full_name: None,
        email: None,
        active: None,
        skip_reason: None,
        custom_fields: d.custom_fields.iter().map(|f| (f.name.clone(), f.value.clone())).collect(),
        groups: d.groups.add.clone(),
        groups_remove: d.groups.remove.clone(),
    };
    match &d.attributes {
        AttributeDecision::Provision(m) => {
            view.username = Some(m.username.clone());
            view.full_name = Some(m.full_name.clone());
            view.email = Some(m.email.clone());
            view.active = Some(m.active);
        }
        AttributeDecision::Skip(reason) | AttributeDecision::Reject(reason) => {
            view.outcome = "skip".into();
            view.skip_reason = Some(reason.clone());
        }
    }
    view
}

/// Test Sync in the running service: the person looked up, and the app's module deciding
/// about them as it would in a run (what UserSync knows of Confluence included).
///
/// # Errors
/// The directory failed, or has no such person.
pub async fn test_user(
    sync: &DirectorySync,
    rules: Option<&Arc<RulesHook>>,
    login: &str,
) -> Result<TestSync, DirectoryError> {
    let cfg = &sync.target.config;
    let (person, groups) = look_up(&sync.target, login).await?;
    let mut out = shown(cfg, &person, &groups);
    let app = sync.inbound.app(&sync.app).ok_or_else(|| DirectoryError::NoApp(sync.app.to_string()))?;
    let Some(rules) = rules.filter(|_| app.settings.is_some()) else {
        out.decision_error = Some(format!("app {} has no rules module", app.name));
        return Ok(out);
    };
    let (stored, idp_groups) = match as_stored(cfg, &person, &groups) {
        Ok(s) => s,
        Err(reason) => {
            out.decision_error = Some(reason);
            return Ok(out);
        }
    };
    let snap = sync.inbound.snapshot();
    match rules.trial(&app, &snap, &stored, Some(idp_groups)).await {
        Ok(d) => out.decisions = Some(view(&d)),
        Err(e) => out.decision_error = Some(e),
    }
    Ok(out)
}

/// The person's groups: by the app's membership attribute, nested ones included when on.
async fn groups_of(
    cfg: &DirectoryConfig,
    conn: &mut super::client::Conn,
    person: &Entry,
) -> Result<Vec<FoundGroup>, DirectoryError> {
    let Some(group_base) = &cfg.group_base else { return Ok(Vec::new()) };
    let dn = codec::escape_filter_value(&person.dn);
    let filter = match (cfg.membership(), cfg.nested_groups) {
        (_, true) => format!("(&{}(member:{}:={dn}))", cfg.group_filter(), codec::MATCHING_RULE_IN_CHAIN),
        (Membership::Member, false) => format!("(&{}(member={dn}))", cfg.group_filter()),
        (Membership::UniqueMember, false) => format!("(&{}(uniqueMember={dn}))", cfg.group_filter()),
        (Membership::MemberOf, false) => {
            let mut out = Vec::new();
            for g in person.values("memberOf").cloned().unwrap_or_default() {
                if codec::dn_is_under(&g, group_base) {
                    out.push(FoundGroup { name: codec::rdn_value(&g).unwrap_or_else(|| g.clone()), dn: g });
                }
            }
            return Ok(out);
        }
    };
    let found = conn.paged(group_base, cfg.group_scope, &filter, &["cn"], cfg.page_size).await?;
    Ok(found
        .entries
        .into_iter()
        .map(|g| FoundGroup {
            name: g.first("cn").map(str::to_owned).or_else(|| codec::rdn_value(&g.dn)).unwrap_or_else(|| g.dn.clone()),
            dn: g.dn,
        })
        .collect())
}
