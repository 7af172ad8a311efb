//! SCIM schemas (RFC 7643 §2, §4, §7, §8.7): attribute definitions, the core User, Group and
//! Enterprise User schemas, custom extensions declared in config, and the resource types
//! that tie them together.
//!
//! Attribute names are matched case-insensitively everywhere (RFC 7643 §2.1); the
//! definitions carry the canonical spelling that stored resources use.

use std::sync::Arc;

use serde_json::{json, Map, Value};

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SERVICE_PROVIDER_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Non-RFC URNs that identity providers send, and the RFC 7643 URN each stands for.
/// OneLogin's documented templates use the SCIM 1.1 URNs; its v2 connector sends
/// `urn:scim:schemas:core:2.0` (see `shared/reference/idp-traffic.md` §1.2).
const URN_ALIASES: &[(&str, &str)] = &[
    ("urn:scim:schemas:core:1.0", CORE_USER),
    ("urn:scim:schemas:core:2.0", CORE_USER),
    ("urn:scim:schemas:core:2.0:user", CORE_USER),
    ("urn:scim:schemas:extension:enterprise:1.0", ENTERPRISE_USER),
    ("urn:scim:schemas:extension:enterprise:2.0", ENTERPRISE_USER),
    ("urn:scim:schemas:extension:enterprise:2.0:user", ENTERPRISE_USER),
];

/// Maps an IdP's non-RFC schema URN to the RFC one; other URNs are returned unchanged.
pub fn canonical_urn(urn: &str) -> &str {
    URN_ALIASES.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(urn)).map_or(urn, |(_, canonical)| canonical)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "string" => AttrType::String,
            "boolean" => AttrType::Boolean,
            "decimal" => AttrType::Decimal,
            "integer" => AttrType::Integer,
            "datetime" => AttrType::DateTime,
            "binary" => AttrType::Binary,
            "reference" => AttrType::Reference,
            "complex" => AttrType::Complex,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeDef {
    /// Canonical spelling, as stored.
    pub name: String,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: Vec<String>,
    pub reference_types: Vec<String>,
    pub description: String,
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A single-valued, optional, read-write, case-insensitive attribute of type `ty`.
    pub fn new(name: &str, ty: AttrType) -> Self {
        Self {
            name: name.to_owned(),
            ty,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            description: String::new(),
            sub_attributes: Vec::new(),
        }
    }

    fn string(name: &str) -> Self {
        Self::new(name, AttrType::String)
    }

    fn boolean(name: &str) -> Self {
        Self::new(name, AttrType::Boolean)
    }

    fn reference(name: &str, types: &[&str]) -> Self {
        let mut a = Self::new(name, AttrType::Reference);
        a.reference_types = types.iter().map(|t| (*t).to_owned()).collect();
        a
    }

    fn complex(name: &str, subs: Vec<AttributeDef>) -> Self {
        let mut a = Self::new(name, AttrType::Complex);
        a.sub_attributes = subs;
        a
    }

    fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }

    fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }

    fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }

    fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    fn describe(mut self, d: &str) -> Self {
        self.description = d.to_owned();
        self
    }

    /// The sub-attribute called `name` (case-insensitive).
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 representation used by `/Schemas`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.ty.as_str()));
        m.insert("multiValued".into(), json!(self.multi_valued));
        m.insert("description".into(), json!(self.description));
        m.insert("required".into(), json!(self.required));
        if !self.canonical_values.is_empty() {
            m.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if matches!(self.ty, AttrType::String | AttrType::Reference | AttrType::Binary) {
            m.insert("caseExact".into(), json!(self.case_exact));
        }
        m.insert("mutability".into(), json!(self.mutability.as_str()));
        m.insert("returned".into(), json!(self.returned.as_str()));
        if self.ty != AttrType::Complex {
            m.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
        }
        if self.ty == AttrType::Reference {
            m.insert("referenceTypes".into(), json!(self.reference_types));
        }
        if !self.sub_attributes.is_empty() {
            let subs: Vec<Value> = self.sub_attributes.iter().map(AttributeDef::to_json).collect();
            m.insert("subAttributes".into(), Value::Array(subs));
        }
        Value::Object(m)
    }
}

/// One schema (core or extension).
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub id: String,
    pub name: String,
    pub description: String,
    pub attributes: Vec<AttributeDef>,
}

impl Schema {
    /// The top-level attribute called `name` (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 representation, with `meta` pointing at `base_url`/Schemas/<id>.
    pub fn to_json(&self, base_url: &str) -> Value {
        let attrs: Vec<Value> = self.attributes.iter().map(AttributeDef::to_json).collect();
        json!({
            "schemas": [SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": attrs,
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base_url}/Schemas/{}", self.id),
            }
        })
    }
}

/// The attributes every resource has (RFC 7643 §3.1): `id`, `externalId`, `meta`.
/// They belong to no schema's attribute list but are resolvable like core attributes.
pub fn common_attributes() -> &'static [AttributeDef] {
    static COMMON: std::sync::OnceLock<Vec<AttributeDef>> = std::sync::OnceLock::new();
    COMMON.get_or_init(|| {
        let dt = |n: &str| AttributeDef::new(n, AttrType::DateTime).mutability(Mutability::ReadOnly);
        vec![
            AttributeDef::string("id")
                .case_exact()
                .mutability(Mutability::ReadOnly)
                .returned(Returned::Always)
                .unique(Uniqueness::Server),
            AttributeDef::string("externalId").case_exact(),
            AttributeDef::complex(
                "meta",
                vec![
                    AttributeDef::string("resourceType").case_exact().mutability(Mutability::ReadOnly),
                    dt("created"),
                    dt("lastModified"),
                    AttributeDef::reference("location", &["uri"]).case_exact().mutability(Mutability::ReadOnly),
                    AttributeDef::string("version").case_exact().mutability(Mutability::ReadOnly),
                ],
            )
            .mutability(Mutability::ReadOnly),
        ]
    })
}

fn multi_valued_complex(name: &str, types: &[&str], value_ty: AttrType) -> AttributeDef {
    AttributeDef::complex(
        name,
        vec![
            AttributeDef::new("value", value_ty),
            AttributeDef::string("display"),
            AttributeDef::string("type").canonical(types),
            AttributeDef::boolean("primary"),
        ],
    )
    .multi()
}

/// The core User schema (RFC 7643 §4.1).
pub fn core_user_schema() -> Schema {
    use AttrType::*;
    let name = AttributeDef::complex(
        "name",
        vec![
            AttributeDef::string("formatted"),
            AttributeDef::string("familyName"),
            AttributeDef::string("givenName"),
            AttributeDef::string("middleName"),
            AttributeDef::string("honorificPrefix"),
            AttributeDef::string("honorificSuffix"),
        ],
    );
    let addresses = AttributeDef::complex(
        "addresses",
        vec![
            AttributeDef::string("formatted"),
            AttributeDef::string("streetAddress"),
            AttributeDef::string("locality"),
            AttributeDef::string("region"),
            AttributeDef::string("postalCode"),
            AttributeDef::string("country"),
            AttributeDef::string("type").canonical(&["work", "home", "other"]),
            AttributeDef::boolean("primary"),
        ],
    )
    .multi();
    let groups = AttributeDef::complex(
        "groups",
        vec![
            AttributeDef::string("value").mutability(Mutability::ReadOnly),
            AttributeDef::reference("$ref", &["User", "Group"]).mutability(Mutability::ReadOnly),
            AttributeDef::string("display").mutability(Mutability::ReadOnly),
            AttributeDef::string("type").canonical(&["direct", "indirect"]).mutability(Mutability::ReadOnly),
        ],
    )
    .multi()
    .mutability(Mutability::ReadOnly);
    Schema {
        id: CORE_USER.to_owned(),
        name: "User".to_owned(),
        description: "User Account".to_owned(),
        attributes: vec![
            AttributeDef::string("userName")
                .required()
                .unique(Uniqueness::Server)
                .describe("Unique identifier for the User, typically used to sign in; unique per app, compared case-insensitively."),
            name,
            AttributeDef::string("displayName"),
            AttributeDef::string("nickName"),
            AttributeDef::reference("profileUrl", &["external"]),
            AttributeDef::string("title"),
            AttributeDef::string("userType"),
            AttributeDef::string("preferredLanguage"),
            AttributeDef::string("locale"),
            AttributeDef::string("timezone"),
            AttributeDef::boolean("active"),
            AttributeDef::string("password")
                .mutability(Mutability::WriteOnly)
                .returned(Returned::Never)
                .describe("Accepted from identity providers that send it and never stored or returned."),
            multi_valued_complex("emails", &["work", "home", "other"], String),
            multi_valued_complex("phoneNumbers", &["work", "home", "mobile", "fax", "pager", "other"], String),
            multi_valued_complex("ims", &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"], String),
            multi_valued_complex("photos", &["photo", "thumbnail"], Reference),
            addresses,
            groups,
            multi_valued_complex("entitlements", &[], String),
            multi_valued_complex("roles", &[], String),
            multi_valued_complex("x509Certificates", &[], Binary),
        ],
    }
}

/// The core Group schema (RFC 7643 §4.2).
pub fn core_group_schema() -> Schema {
    let members = AttributeDef::complex(
        "members",
        vec![
            AttributeDef::string("value").mutability(Mutability::Immutable),
            AttributeDef::reference("$ref", &["User", "Group"]).mutability(Mutability::Immutable),
            AttributeDef::string("display").mutability(Mutability::ReadOnly),
            AttributeDef::string("type").canonical(&["User", "Group"]).mutability(Mutability::Immutable),
        ],
    )
    .multi();
    Schema {
        id: CORE_GROUP.to_owned(),
        name: "Group".to_owned(),
        description: "Group".to_owned(),
        attributes: vec![
            AttributeDef::string("displayName")
                .required()
                .unique(Uniqueness::Server)
                .describe("Human-readable name of the Group; unique per app, compared case-insensitively."),
            members,
        ],
    }
}

/// The Enterprise User extension (RFC 7643 §4.3).
pub fn enterprise_user_schema() -> Schema {
    Schema {
        id: ENTERPRISE_USER.to_owned(),
        name: "EnterpriseUser".to_owned(),
        description: "Enterprise User".to_owned(),
        attributes: vec![
            AttributeDef::string("employeeNumber"),
            AttributeDef::string("costCenter"),
            AttributeDef::string("organization"),
            AttributeDef::string("division"),
            AttributeDef::string("department"),
            AttributeDef::complex(
                "manager",
                vec![
                    AttributeDef::string("value"),
                    AttributeDef::reference("$ref", &["User"]),
                    AttributeDef::string("displayName").mutability(Mutability::ReadOnly),
                ],
            ),
        ],
    }
}

/// The kind of resource a [`ResourceType`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "/Users",
            ResourceKind::Group => "/Groups",
        }
    }
}

/// A resource type (RFC 7643 §6): its core schema and its extensions.
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub kind: ResourceKind,
    pub core: Arc<Schema>,
    /// Extension schemas with whether each is required.
    pub extensions: Vec<(Arc<Schema>, bool)>,
}

/// Where an attribute path landed: the schema it belongs to and its definition.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttr<'a> {
    /// `None` for core and common attributes; the extension's URN otherwise (the key under
    /// which the extension's attributes are stored in a resource).
    pub extension: Option<&'a str>,
    pub attr: &'a AttributeDef,
}

impl ResourceType {
    /// The schema with this URN (case-insensitive, IdP aliases honoured): core or extension.
    pub fn schema(&self, urn: &str) -> Option<&Schema> {
        let urn = canonical_urn(urn);
        if self.core.id.eq_ignore_ascii_case(urn) {
            return Some(&self.core);
        }
        self.extensions.iter().map(|(s, _)| s.as_ref()).find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Is `urn` an extension schema of this type? Returns its canonical id.
    pub fn extension_urn(&self, urn: &str) -> Option<&str> {
        let urn = canonical_urn(urn);
        self.extensions.iter().map(|(s, _)| s.id.as_str()).find(|id| id.eq_ignore_ascii_case(urn))
    }

    /// All schema URNs of this type, core first.
    pub fn schema_urns(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.core.id.as_str()).chain(self.extensions.iter().map(|(s, _)| s.id.as_str()))
    }

    /// Resolves a top-level attribute name. With `urn` it looks in that schema only; without,
    /// in the common attributes, then the core schema, then (so that IdPs that omit the URN
    /// still reach `employeeNumber`) each extension in order.
    pub fn resolve(&self, urn: Option<&str>, name: &str) -> Option<ResolvedAttr<'_>> {
        if let Some(urn) = urn {
            let schema = self.schema(urn)?;
            let attr = schema.attribute(name)?;
            let extension = (schema.id != self.core.id).then_some(schema.id.as_str());
            return Some(ResolvedAttr { extension, attr });
        }
        if let Some(attr) = common_attributes().iter().find(|a| a.name.eq_ignore_ascii_case(name)) {
            return Some(ResolvedAttr { extension: None, attr });
        }
        if let Some(attr) = self.core.attribute(name) {
            return Some(ResolvedAttr { extension: None, attr });
        }
        self.extensions
            .iter()
            .find_map(|(s, _)| s.attribute(name).map(|attr| ResolvedAttr { extension: Some(s.id.as_str()), attr }))
    }

    /// The RFC 7643 §6 representation used by `/ResourceTypes`.
    pub fn to_json(&self, base_url: &str) -> Value {
        let exts: Vec<Value> =
            self.extensions.iter().map(|(s, required)| json!({"schema": s.id, "required": required})).collect();
        let name = self.kind.as_str();
        json!({
            "schemas": [RESOURCE_TYPE],
            "id": name,
            "name": name,
            "endpoint": self.kind.endpoint(),
            "description": if self.kind == ResourceKind::User { "User Account" } else { "Group" },
            "schema": self.core.id,
            "schemaExtensions": exts,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base_url}/ResourceTypes/{name}"),
            }
        })
    }
}

/// The schemas one app serves: User (core + enterprise + the app's custom extensions) and
/// Group (core + the app's custom group extensions).
#[derive(Debug, Clone)]
pub struct AppSchemas {
    pub user: ResourceType,
    pub group: ResourceType,
}

impl AppSchemas {
    /// Builds the schemas for an app with these custom extensions (see [`CustomExtension`]).
    pub fn new(custom: &[CustomExtension]) -> Self {
        let mut user_ext = vec![(Arc::new(enterprise_user_schema()), false)];
        let mut group_ext = Vec::new();
        for ext in custom {
            let schema = Arc::new(ext.schema.clone());
            match ext.applies_to {
                ResourceKind::User => user_ext.push((schema, false)),
                ResourceKind::Group => group_ext.push((schema, false)),
            }
        }
        Self {
            user: ResourceType { kind: ResourceKind::User, core: Arc::new(core_user_schema()), extensions: user_ext },
            group: ResourceType {
                kind: ResourceKind::Group,
                core: Arc::new(core_group_schema()),
                extensions: group_ext,
            },
        }
    }

    pub fn of(&self, kind: ResourceKind) -> &ResourceType {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }

    /// Every schema served by `/Schemas`, core User and Group first.
    pub fn all_schemas(&self) -> Vec<&Schema> {
        let mut out: Vec<&Schema> = vec![&self.user.core, &self.group.core];
        out.extend(self.user.extensions.iter().map(|(s, _)| s.as_ref()));
        out.extend(self.group.extensions.iter().map(|(s, _)| s.as_ref()));
        out
    }
}

/// A custom extension schema declared in an app's configuration (OneLogin admins add
/// custom attributes; Staffbase's pattern is `urn:ietf:params:scim:schemas:extension:<Company>:2.0:User`).
#[derive(Debug, Clone)]
pub struct CustomExtension {
    pub applies_to: ResourceKind,
    pub schema: Schema,
}

impl CustomExtension {
    /// An extension of `applies_to` with string-typed (or typed) attributes.
    pub fn new(applies_to: ResourceKind, urn: &str, name: &str, attributes: Vec<AttributeDef>) -> Self {
        Self {
            applies_to,
            schema: Schema {
                id: urn.to_owned(),
                name: name.to_owned(),
                description: format!("Custom extension {name}"),
                attributes,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_to_rfc_urns() {
        assert_eq!(canonical_urn("urn:scim:schemas:core:1.0"), CORE_USER);
        assert_eq!(canonical_urn("URN:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0"), ENTERPRISE_USER);
        assert_eq!(canonical_urn("urn:example:other"), "urn:example:other");
    }

    #[test]
    fn resolve_is_case_insensitive_and_reaches_extensions() {
        let s = AppSchemas::new(&[]);
        let r = s.user.resolve(None, "USERNAME").map(|r| r.attr.name.as_str());
        assert_eq!(r, Some("userName"));
        let r = s.user.resolve(None, "employeeNumber");
        assert_eq!(r.and_then(|r| r.extension), Some(ENTERPRISE_USER));
        let r = s.user.resolve(Some("urn:scim:schemas:extension:enterprise:1.0"), "department");
        assert!(r.is_some());
        assert!(s.user.resolve(Some(CORE_GROUP), "userName").is_none());
        assert_eq!(s.user.resolve(None, "meta").map(|r| r.attr.ty), Some(AttrType::Complex));
    }
}
