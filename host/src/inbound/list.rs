//! Listing and searching (RFC 7644 §3.4.2, §3.4.3): filter, sort, paginate, project.
//!
//! Lookups by `id`, `userName`, `externalId` and group `displayName` use the snapshot's
//! indexes; any other filter scans the app's resources in creation order, which is also the
//! stable order of unsorted pages.

use std::sync::Arc;

use serde_json::Value;

use super::{App, Inbound};
use crate::scim::error::{ScimError, ScimResult, ScimType};
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

/// How a list is paged: by position (RFC 7644 §3.4.2.4) or by cursor (RFC 9865).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `startIndex`, 1-based.
    Index(usize),
    /// `cursor`: the first page, or the page after the resource with this sequence number.
    Cursor(Option<u64>),
}

impl Paging {
    /// Cursors are opaque to clients; inside they are the creation sequence number of the
    /// last resource returned, so a walk is stable while resources come and go.
    fn cursor_after(seq: u64) -> String {
        format!("s{seq:x}")
    }

    fn parse_cursor(text: &str) -> ScimResult<Option<u64>> {
        if text.is_empty() {
            return Ok(None);
        }
        text.strip_prefix('s').and_then(|hex| u64::from_str_radix(hex, 16).ok()).map(Some).ok_or_else(|| {
            ScimError::bad_request(ScimType::InvalidCursor, format!("{text:?} is not a cursor this server issued"))
        })
    }
}

/// The parameters of a list or search, from the query string or a SearchRequest body.
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
    pub paging: Paging,
    /// `None`: the server's page size.
    pub count: Option<usize>,
    pub projection: Projection,
}

impl ListQuery {
    /// From parameters looked up by name (already URL-decoded; names matched as the caller
    /// sees fit): `filter`, `sortBy`, `sortOrder`, `startIndex`, `cursor`, `count`,
    /// `attributes`, `excludedAttributes`.
    ///
    /// # Errors
    /// 400 `invalidFilter` for a filter that does not parse; 400 `invalidValue` for a
    /// non-numeric `startIndex`/`count`, an unknown `sortOrder`, or `startIndex` with
    /// `cursor`; 400 `invalidCursor`; path errors for `sortBy` and the projection lists.
    pub fn from_lookup(param: impl Fn(&str) -> Option<String>) -> ScimResult<ListQuery> {
        let filter = match param("filter").as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(Filter::parse(f)?),
        };
        let sort_by = match param("sortBy").as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(AttrPath::parse(s)?),
        };
        let sort_order = match param("sortOrder").as_deref().map(str::trim) {
            None | Some("") => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("descending") => SortOrder::Descending,
            Some(s) => {
                return Err(ScimError::invalid_value(format!("sortOrder must be ascending or descending, not {s:?}")))
            }
        };
        let int = |name: &str| -> ScimResult<Option<i64>> {
            match param(name).as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) => s
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer, not {s:?}"))),
            }
        };
        // RFC 7644 §3.4.2.4: startIndex < 1 is read as 1, a negative count as 0.
        let start_index = int("startIndex")?;
        let paging = match (param("cursor"), start_index) {
            (Some(_), Some(_)) => {
                return Err(ScimError::invalid_value("startIndex and cursor cannot be used together"));
            }
            (Some(cursor), None) => Paging::Cursor(Paging::parse_cursor(cursor.trim())?),
            (None, start) => Paging::Index(start.map_or(1, |i| i.max(1)) as usize),
        };
        if matches!(paging, Paging::Cursor(_)) && sort_by.is_some() {
            return Err(ScimError::invalid_value("cursor pages follow creation order; sortBy needs startIndex paging"));
        }
        let count = int("count")?.map(|c| c.max(0) as usize);
        let projection = Projection::parse(param("attributes").as_deref(), param("excludedAttributes").as_deref())?;
        Ok(ListQuery { filter, sort_by, sort_order, paging, count, projection })
    }

    /// From a SearchRequest body (RFC 7644 §3.4.3): the same members, JSON-typed.
    ///
    /// # Errors
    /// As [`ListQuery::from_lookup`], and 400 `invalidSyntax` for members of the wrong type.
    pub fn from_search_body(body: &Value) -> ScimResult<ListQuery> {
        let Value::Object(map) = body else {
            return Err(ScimError::invalid_syntax("a SearchRequest must be a JSON object"));
        };
        let mut texts = Vec::new();
        for (key, value) in map {
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => {
                    let parts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                    parts
                        .ok_or_else(|| ScimError::invalid_syntax(format!("{key} must be a list of strings")))?
                        .join(",")
                }
                _ if key.eq_ignore_ascii_case("schemas") => continue,
                _ => return Err(ScimError::invalid_syntax(format!("{key} has the wrong type"))),
            };
            texts.push((key.clone(), text));
        }
        ListQuery::from_lookup(|name| texts.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()))
    }
}

/// A resource that matched, with its parsed form when the filter or sort needed it.
type Candidate = (Arc<StoredResource>, Option<Value>);

/// One page of results, each resource already serialised.
pub struct ListPage {
    pub total: usize,
    /// `Some` for index paging; cursor pages have no position.
    pub start_index: Option<usize>,
    /// Cursor paging: the cursor of the next page, when there is one.
    pub next_cursor: Option<String>,
    /// Each resource's JSON: a stored resource's own bytes, shared, or its projection.
    pub resources: Vec<Arc<[u8]>>,
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

        if let Paging::Cursor(after) = query.paging {
            return self.list_by_cursor(app, kinds, query, after, page_size);
        }
        let start_index = match query.paging {
            Paging::Index(i) => i,
            Paging::Cursor(_) => 1,
        };
        let unfiltered = query.filter.is_none() && query.sort_by.is_none();
        let mut matched: Vec<Candidate> = Vec::new();
        let mut total = 0;
        for &kind in kinds {
            let coll = snap.collection(&app.name, kind).unwrap_or(&empty);
            let rt = app.schemas.of(kind);
            if unfiltered {
                // No filter, no sort: count without reading, and take the page by position.
                let skip = (start_index - 1).saturating_sub(total);
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
            // The index answered the filter and nothing is sorted: no candidate needs parsing.
            if query.sort_by.is_none() && query.filter.as_ref().is_some_and(|f| f.index_decides(rt)) {
                matched.extend(candidates.map(|r| (r.clone(), None)));
                continue;
            }
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
            matched = matched.into_iter().skip(start_index - 1).take(page_size).collect();
        }
        let resources = render(app, &query.projection, matched)?;
        Ok(ListPage { total, start_index: Some(start_index), next_cursor: None, resources })
    }

    /// RFC 9865 cursor paging, in creation order, on one resource type.
    fn list_by_cursor(
        &self,
        app: &App,
        kinds: &[ResourceKind],
        query: &ListQuery,
        after: Option<u64>,
        page_size: usize,
    ) -> ScimResult<ListPage> {
        let &[kind] = kinds else {
            return Err(ScimError::invalid_value("cursor paging is offered on /Users and /Groups, not across both"));
        };
        let snap = self.snapshot();
        let empty = Collection::default();
        let coll = snap.collection(&app.name, kind).unwrap_or(&empty);
        let rt = app.schemas.of(kind);
        let from = after.map_or(0, |s| s.saturating_add(1));
        let (total, mut page): (usize, Vec<(u64, Candidate)>) = match &query.filter {
            None => (
                coll.len(),
                coll.after_seq(from).take(page_size + 1).map(|(seq, r)| (seq, (r.clone(), None))).collect(),
            ),
            Some(filter) => {
                let candidates: Box<dyn Iterator<Item = &Arc<StoredResource>>> = match filter.index_lookup(rt) {
                    Some((IndexedAttr::Id, v)) => Box::new(coll.get(v).into_iter()),
                    Some((IndexedAttr::UserName | IndexedAttr::DisplayName, v)) => {
                        Box::new(coll.by_name(&v.to_lowercase()).into_iter())
                    }
                    Some((IndexedAttr::ExternalId, v)) => Box::new(coll.by_external_id(v)),
                    None => Box::new(coll.iter()),
                };
                let decided = filter.index_decides(rt);
                let mut all = Vec::new();
                for r in candidates {
                    if decided {
                        all.push((coll.seq_of(&r.id).unwrap_or(0), (r.clone(), None)));
                        continue;
                    }
                    let value =
                        r.value().map_err(|e| ScimError::internal(format!("stored resource unreadable: {e}")))?;
                    if filter.matches(&value, rt) {
                        all.push((coll.seq_of(&r.id).unwrap_or(0), (r.clone(), Some(value))));
                    }
                }
                all.sort_by_key(|(seq, _)| *seq);
                let total = all.len();
                (total, all.into_iter().filter(|(seq, _)| *seq >= from).take(page_size + 1).collect())
            }
        };
        let next_cursor = if page.len() > page_size {
            page.truncate(page_size);
            page.last().map(|(seq, _)| Paging::cursor_after(*seq))
        } else {
            None
        };
        let resources = render(app, &query.projection, page.into_iter().map(|(_, c)| c).collect())?;
        Ok(ListPage { total, start_index: None, next_cursor, resources })
    }
}

/// Serialises a page: stored bytes as they are, or projected.
fn render(app: &App, projection: &Projection, matched: Vec<Candidate>) -> ScimResult<Vec<Arc<[u8]>>> {
    let mut resources = Vec::with_capacity(matched.len());
    for (r, value) in matched {
        if projection.is_identity() {
            resources.push(r.json.clone());
            continue;
        }
        let value = match value {
            Some(v) => v,
            None => r.value().map_err(|e| ScimError::internal(e.to_string()))?,
        };
        let projected = projection.apply(&value, app.schemas.of(r.kind));
        resources.push(Arc::from(serde_json::to_vec(&projected).map_err(|e| ScimError::internal(e.to_string()))?));
    }
    Ok(resources)
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
