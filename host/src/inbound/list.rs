//! Listing and searching (RFC 7644 §3.4.2, §3.4.3): filter, sort, paginate, project.
//!
//! Lookups by `id`, `userName`, `externalId` and group `displayName` use the snapshot's
//! indexes; any other filter scans the app's resources in creation order, which is also the
//! stable order of unsorted pages.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::{App, Inbound};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::{sort_key, Filter, IndexedAttr, SortKey};
use crate::scim::path::AttrPath;
use crate::scim::project::Projection;
use crate::scim::schema::ResourceKind;
use crate::store::{Collection, StoredResource};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// The parameters of a list or search, from the query string or a SearchRequest body.
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
    /// 1-based.
    pub start_index: usize,
    /// `None`: the server's page size.
    pub count: Option<usize>,
    pub projection: Projection,
}

impl ListQuery {
    /// From the individual parameters (strings as they arrived, already URL-decoded).
    ///
    /// # Errors
    /// 400 `invalidFilter` for a filter that does not parse; 400 `invalidValue` for a
    /// non-numeric `startIndex`/`count` or an unknown `sortOrder`; path errors for `sortBy`
    /// and the projection lists.
    pub fn from_params(
        filter: Option<&str>,
        sort_by: Option<&str>,
        sort_order: Option<&str>,
        start_index: Option<&str>,
        count: Option<&str>,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> ScimResult<ListQuery> {
        let filter = match filter.map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(Filter::parse(f)?),
        };
        let sort_by = match sort_by.map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(AttrPath::parse(s)?),
        };
        let sort_order = match sort_order.map(str::trim) {
            None | Some("") => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("descending") => SortOrder::Descending,
            Some(s) => return Err(ScimError::invalid_value(format!("sortOrder must be ascending or descending, not {s:?}"))),
        };
        let int = |name: &str, v: Option<&str>| -> ScimResult<Option<i64>> {
            match v.map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) => s
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer, not {s:?}"))),
            }
        };
        // RFC 7644 §3.4.2.4: startIndex < 1 is read as 1, a negative count as 0.
        let start_index = int("startIndex", start_index)?.map_or(1, |i| i.max(1)) as usize;
        let count = int("count", count)?.map(|c| c.max(0) as usize);
        let projection = Projection::parse(attributes, excluded)?;
        Ok(ListQuery { filter, sort_by, sort_order, start_index, count, projection })
    }

    /// From a SearchRequest body (RFC 7644 §3.4.3): the same members, JSON-typed.
    ///
    /// # Errors
    /// As [`ListQuery::from_params`], and 400 `invalidSyntax` for members of the wrong type.
    pub fn from_search_body(body: &Value) -> ScimResult<ListQuery> {
        let Value::Object(map) = body else {
            return Err(ScimError::invalid_syntax("a SearchRequest must be a JSON object"));
        };
        let get = |name: &str| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let text = |name: &str| -> ScimResult<Option<String>> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Array(items)) => {
                    let parts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                    parts
                        .map(|p| Some(p.join(",")))
                        .ok_or_else(|| ScimError::invalid_syntax(format!("{name} must be a list of strings")))
                }
                Some(_) => Err(ScimError::invalid_syntax(format!("{name} has the wrong type"))),
            }
        };
        ListQuery::from_params(
            text("filter")?.as_deref(),
            text("sortBy")?.as_deref(),
            text("sortOrder")?.as_deref(),
            text("startIndex")?.as_deref(),
            text("count")?.as_deref(),
            text("attributes")?.as_deref(),
            text("excludedAttributes")?.as_deref(),
        )
    }
}

/// A resource that matched, with its parsed form when the filter or sort needed it.
type Candidate = (Arc<StoredResource>, Option<Value>);

/// One page of results, each resource already serialised.
pub struct ListPage {
    pub total: usize,
    pub start_index: usize,
    pub resources: Vec<Bytes>,
}

impl Inbound {
    /// Lists the resources of `kinds` (one kind, or both for a root `/.search`).
    ///
    /// # Errors
    /// 400 `invalidFilter` when the filter does not fit the schema.
    pub fn list(&self, app: &App, kinds: &[ResourceKind], query: &ListQuery) -> ScimResult<ListPage> {
        let snap = self.snapshot();
        let empty = Collection::default();
        let page_size = query.count.unwrap_or(self.max_results).min(self.max_results);
        for kind in kinds {
            if let Some(f) = &query.filter {
                f.validate(app.schemas.of(*kind))?;
            }
        }

        let unfiltered = query.filter.is_none() && query.sort_by.is_none();
        let mut matched: Vec<Candidate> = Vec::new();
        let mut total = 0;
        for &kind in kinds {
            let coll = snap.collection(&app.name, kind).unwrap_or(&empty);
            let rt = app.schemas.of(kind);
            if unfiltered {
                // No filter, no sort: count without reading, and take the page by position.
                let skip = (query.start_index - 1).saturating_sub(total);
                let room = page_size.saturating_sub(matched.len());
                matched.extend(coll.iter().skip(skip).take(room).map(|r| (r.clone(), None)));
                total += coll.len();
                continue;
            }
            let candidates: Box<dyn Iterator<Item = &Arc<StoredResource>>> =
                match query.filter.as_ref().and_then(|f| f.index_lookup(rt)) {
                    Some((IndexedAttr::Id, v)) => Box::new(coll.get(v).into_iter()),
                    Some((IndexedAttr::UserName | IndexedAttr::DisplayName, v)) => {
                        Box::new(coll.by_name(&v.to_lowercase()).into_iter())
                    }
                    Some((IndexedAttr::ExternalId, v)) => Box::new(coll.by_external_id(v)),
                    None => Box::new(coll.iter()),
                };
            for r in candidates {
                let value = r.value().map_err(|e| ScimError::internal(format!("stored resource unreadable: {e}")))?;
                if query.filter.as_ref().is_none_or(|f| f.matches(&value, rt)) {
                    matched.push((r.clone(), Some(value)));
                }
            }
        }
        if !unfiltered {
            if let Some(sort_by) = &query.sort_by {
                let mut keyed: Vec<(Option<SortKey>, Candidate)> = matched
                    .into_iter()
                    .map(|(r, v)| {
                        let rt = app.schemas.of(r.kind);
                        let key = v.as_ref().and_then(|v| sort_key(v, rt, sort_by));
                        (key, (r, v))
                    })
                    .collect();
                keyed.sort_by(|(a, _), (b, _)| compare_keys(a.as_ref(), b.as_ref(), query.sort_order));
                matched = keyed.into_iter().map(|(_, rv)| rv).collect();
            }
            total = matched.len();
            matched = matched.into_iter().skip(query.start_index - 1).take(page_size).collect();
        }

        let mut resources = Vec::with_capacity(matched.len());
        for (r, value) in matched {
            if query.projection.is_identity() {
                resources.push(r.json.clone());
                continue;
            }
            let value = match value {
                Some(v) => v,
                None => r.value().map_err(|e| ScimError::internal(e.to_string()))?,
            };
            let projected = query.projection.apply(&value, app.schemas.of(r.kind));
            resources.push(Bytes::from(serde_json::to_vec(&projected).map_err(|e| ScimError::internal(e.to_string()))?));
        }
        Ok(ListPage { total, start_index: query.start_index, resources })
    }
}

/// Missing keys sort last in ascending order (and first in descending: the reverse).
fn compare_keys(a: Option<&SortKey>, b: Option<&SortKey>, order: SortOrder) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    let asc = match (a, b) {
        (Some(a), Some(b)) => a.partial_cmp(b).unwrap_or(Equal),
        (Some(_), None) => Less,
        (None, Some(_)) => Greater,
        (None, None) => Equal,
    };
    match order {
        SortOrder::Ascending => asc,
        SortOrder::Descending => asc.reverse(),
    }
}
