//! The route table, gated by the emulated version as in reference §9.1 (a route the version
//! lacks answers 404 like any unknown path), and the applinks manifest used for version
//! detection.
//!
//! | Since | Routes |
//! |---|---|
//! | always | `GET user`, `user/current`, `user/anonymous`, `user/memberof`, `group`, `group/{g}`, `group/{g}/member`, `longtask/{id}`; applinks manifest |
//! | 8.2 | `PUT admin/user/{u}/disable`, `…/enable`, `DELETE admin/user/{u}`, `POST admin/group`, `DELETE admin/group/{g}` |
//! | `membership_since` (8.2) | `PUT`/`DELETE user/{u}/group/{g}` |
//! | 8.4 | `POST admin/user`, `POST admin/user/{u}/password`, `POST user/current/password`, `GET user/list` |
//! | 9.3 | `GET admin/users/list/active` |
//! | `update_user_since` (9.0) | `PUT admin/user/{u}` |
//! | `nested_groups_since` (9.0) | `GET group/{g}/groupmember` |

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{Json, Router};
use serde_json::json;

use super::config::ConfluenceVersion;
use super::wire::ApiError;
use super::{auth, control, groups, users, Shared};

/// The whole application: `/rest/api` behind the guard, the manifest, the control routes,
/// all under the context path.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let version = shared.config.version;
    let since = |major: u16, minor: u16| version >= ConfluenceVersion::new(major, minor, 0);
    let since_setting = |setting: Option<ConfluenceVersion>| setting.is_some_and(|v| version >= v);

    let mut api: Router<Arc<Shared>> = Router::new()
        .route("/rest/api/user", get(users::get_user))
        .route("/rest/api/user/current", get(users::current_user))
        .route("/rest/api/user/anonymous", get(users::anonymous_user))
        .route("/rest/api/user/memberof", get(users::member_of))
        .route("/rest/api/group", get(groups::list_groups))
        .route("/rest/api/group/{group}", get(groups::get_group))
        .route("/rest/api/group/{group}/member", get(groups::group_members))
        .route("/rest/api/longtask/{id}", get(users::long_task));

    let mut admin_user: Option<MethodRouter<Arc<Shared>>> = None;
    if since(8, 2) {
        api = api
            .route("/rest/api/admin/user/{username}/disable", put(users::disable_user))
            .route("/rest/api/admin/user/{username}/enable", put(users::enable_user))
            .route("/rest/api/admin/group", post(groups::create_group))
            .route("/rest/api/admin/group/{group}", delete(groups::delete_group));
        admin_user = Some(delete(users::delete_user));
    }
    if since_setting(shared.config.update_user_since) {
        admin_user = Some(match admin_user {
            Some(methods) => methods.put(users::update_user),
            None => put(users::update_user),
        });
    }
    if let Some(methods) = admin_user {
        api = api.route("/rest/api/admin/user/{username}", methods);
    }
    if version >= shared.config.membership_since {
        api = api.route(
            "/rest/api/user/{username}/group/{group}",
            put(users::add_membership).delete(users::remove_membership),
        );
    }
    if since(8, 4) {
        api = api
            .route("/rest/api/admin/user", post(users::create_user))
            .route("/rest/api/admin/user/{username}/password", post(users::set_password))
            .route("/rest/api/user/current/password", post(users::change_own_password))
            .route("/rest/api/user/list", get(users::list_users));
    }
    if since(9, 3) {
        api = api.route("/rest/api/admin/users/list/active", get(users::list_active_users));
    }
    if since_setting(shared.config.nested_groups_since) {
        api = api.route("/rest/api/group/{group}/groupmember", get(groups::group_group_members));
    }
    let api = api.layer(middleware::from_fn_with_state(Arc::clone(&shared), auth::guard));

    let app = Router::new()
        .merge(api)
        .route("/rest/applinks/1.0/manifest", get(manifest))
        .merge(control::router())
        .fallback(not_found)
        .with_state(Arc::clone(&shared));
    if shared.site.context.is_empty() {
        app
    } else {
        Router::new().nest(&shared.site.context, app).fallback(not_found)
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("No resource matches this path")
}

/// `GET /rest/applinks/1.0/manifest`, no authentication. JSON unless the `Accept` header
/// asks for XML and not JSON (Confluence serves both).
async fn manifest(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let config = &shared.config;
    let base = &shared.site.base_url;
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if accept.contains("xml") && !accept.contains("json") {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><manifest><id>{}</id><name>Confluence</name>\
             <typeId>confluence</typeId><version>{}</version><buildNumber>{}</buildNumber>\
             <applinksVersion>{}</applinksVersion><publicSignup>false</publicSignup><url>{base}</url></manifest>",
            shared.server_id, config.version, config.build_number, config.applinks_version
        );
        return (StatusCode::OK, [(CONTENT_TYPE, HeaderValue::from_static("application/xml"))], xml).into_response();
    }
    let providers = [
        "com.atlassian.applinks.api.auth.types.BasicAuthenticationProvider",
        "com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider",
        "com.atlassian.applinks.api.auth.types.TwoLeggedOAuthAuthenticationProvider",
        "com.atlassian.applinks.api.auth.types.TwoLeggedOAuthWithImpersonationAuthenticationProvider",
    ];
    Json(json!({
        "id": shared.server_id,
        "name": "Confluence",
        "typeId": "confluence",
        "version": config.version.to_string(),
        "buildNumber": config.build_number,
        "applinksVersion": config.applinks_version,
        "inboundAuthenticationTypes": providers,
        "outboundAuthenticationTypes": providers,
        "publicSignup": false,
        "url": base,
        "iconUrl": format!("{base}/images/logo/confluence-logo.png"),
    }))
    .into_response()
}
