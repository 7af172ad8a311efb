//! The fixed sample user that [`super::fuzz_one`] and the filter tests evaluate against:
//! every kind of attribute a filter can reach (core, complex, multi-valued, enterprise
//! extension, `meta`, and attributes no schema defines, stored verbatim).

use serde_json::{json, Value};

use crate::scim::schema::{CORE_USER, ENTERPRISE_USER};

pub(super) fn user() -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "jyoung",
        "userName": "Alice.Smith@example.com",
        "name": {"givenName": "Alice", "familyName": "Smith", "formatted": "Alice Smith"},
        "displayName": "Alice Smith",
        "title": "Engineer",
        "nickName": "",
        "active": true,
        "emails": [
            {"value": "alice@example.com", "type": "work", "primary": true},
            {"value": "Alice@Home.example", "type": "home"}
        ],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
        "x509Certificates": [{"value": "TUlJRA=="}],
        "meta": {
            "resourceType": "User",
            "created": "2023-06-01T12:00:00Z",
            "lastModified": "2024-03-15T09:30:00.5+01:00",
            "version": "W/\"3\""
        },
        ENTERPRISE_USER: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        },
        "costBand": "B7",
        "CustomTags": ["Blue", "green"],
        "loginCount": 42,
        "motto": "say \"hi\" \u{2014} Café",
        "urn:example:custom:2.0:User": {"badge": "X-1"}
    })
}
