//! Okta's SCIM 2.0 client (`idp-traffic.md` §2, from Okta's SCIM 2.0 reference): existence
//! checks with paging, the create body with `password` and `groups`, path-less deactivation,
//! AIW's PUT for everything, and Group Push.

use super::Idp::Okta;
use super::Outcome::{Error, Status};
use super::Then::{CreatedShows, Gone, Members, Replied, Shows};
use super::{delete, get, on, patch, post, put, replays};

/// Okta's documented create body.
const CREATE: &str = r#"{
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": true
}"#;

/// The same body for a userName that exists in another case.
const CREATE_DUPLICATE: &str = r#"{
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "Seed.User@Example.com",
    "name": {"givenName": "Seed", "familyName": "User"},
    "emails": [{"primary": true, "value": "seed.user@example.com", "type": "work"}],
    "displayName": "Seed User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h8",
    "groups": [],
    "password": "1mz050nq",
    "active": true
}"#;

/// An AIW app's deactivation: the full user PUT back with `active` false (§2 "AIW (custom)
/// apps send PUT for everything, deactivation included").
const PUT_DEACTIVATE: &str = r#"{
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "{user}",
    "userName": "seed.user@example.com",
    "name": {"givenName": "Seed", "familyName": "User"},
    "emails": [{"primary": true, "value": "seed.user@example.com", "type": "work"}],
    "displayName": "Seed User",
    "locale": "en-US",
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "groups": [],
    "active": false,
    "meta": {"resourceType": "User", "created": "2019-06-17T22:22:14.000Z", "lastModified": "2019-06-17T22:22:14.000Z"}
}"#;

replays! {
    /// §2 existence check: `%20` spaces, Okta's paging, an empty ListResponse with integers.
    okta_existence_check_with_paging_is_an_empty_list: on(Okta, &[
        get("/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100"),
    ])
    .then(&[Replied(r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]}"#)]);

    /// §2 Test Connection: `GET /Users?startIndex=1&count=2`.
    okta_test_connection_pages_two_users: on(Okta, &[get("/Users?startIndex=1&count=2")])
        .then(&[Replied(r#"{"totalResults":4,"startIndex":1,"itemsPerPage":2}"#)]);

    /// §2 / §5 "`password` and `groups: []` in `POST /Users`": accepted, never returned; the
    /// reply is the created user (an empty body fails Okta).
    okta_create_with_password_and_empty_groups: on(Okta, &[post("/Users", CREATE)])
        .expect(Status(201))
        .then(&[
            Replied(r#"{"userName":"test.user@okta.local","active":true,"password":null}"#),
            CreatedShows(r#"{"userName":"test.user@okta.local","externalId":"00ujl29u0le5T6Aj10h7","locale":"en-US","displayName":"Test User","password":null}"#),
        ]);

    /// §2 / §4.2: a POST of an existing userName (any case) is 409 with the SCIM error schema.
    okta_duplicate_username_is_409_uniqueness: on(Okta, &[post("/Users", CREATE_DUPLICATE)])
        .expect(Error(409, Some("uniqueness")))
        .then(&[Shows("/Users?filter=userName%20eq%20%22seed.user%40example.com%22", r#"{"totalResults":1}"#)]);

    /// §2 / §5 "Path-less `replace` with `{"active": false}`": Okta's deactivation.
    okta_deactivate_with_pathless_replace: on(Okta, &[
        patch("/Users/{user}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}"#),
    ])
    .then(&[Shows("/Users/{user}", r#"{"active":false,"userName":"seed.user@example.com"}"#)]);

    /// §2 / §5 "`id`, `schemas`, `meta` inside a path-less value": ignored.
    okta_pathless_value_with_id_schemas_and_meta_is_applied_without_them: on(Okta, &[
        patch("/Users/{user}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"{user}","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"meta":{"resourceType":"User"},"active":true,"displayName":"Seed U. User"}}]}"#),
    ])
    .then(&[Shows("/Users/{user}", r#"{"id":"{user}","displayName":"Seed U. User","active":true,"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]}"#)]);

    /// §2 / §4.1: AIW apps deactivate with a full PUT.
    okta_aiw_deactivates_with_put: on(Okta, &[put("/Users/{user}", PUT_DEACTIVATE)])
        .then(&[Shows("/Users/{user}", r#"{"id":"{user}","active":false,"displayName":"Seed User","locale":"en-US"}"#)]);

    /// §2 Group Push create: `{"displayName": …, "members": []}`.
    okta_group_push_creates_an_empty_group: on(Okta, &[
        post("/Groups", r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Test SCIMv2","members":[]}"#),
    ])
    .expect(Status(201))
    .then(&[CreatedShows(r#"{"displayName":"Test SCIMv2"}"#)]);

    /// §2 / §5 Group Push rename `{"op":"replace","value":{"id":…,"displayName":…}}`.
    okta_group_push_rename_with_id_in_the_value: on(Okta, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"{group}","displayName":"Engineering Renamed"}}]}"#),
    ])
    .then(&[Shows("/Groups/{group}", r#"{"id":"{group}","displayName":"Engineering Renamed"}"#), Members(&["{m1}", "{m2}"])]);

    /// §2 Group Push membership add, with `display`.
    okta_group_push_adds_members: on(Okta, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"{user}","display":"seed.user@example.com"}]}]}"#),
    ])
    .then(&[Members(&["{m1}", "{m2}", "{user}"])]);

    /// §2 / §5 `members[value eq "…"]`: the removal really removes (authentik #25686 /
    /// #24173 answered 200 and did nothing).
    okta_group_push_filtered_remove_really_removes: on(Okta, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"{m1}\"]"}]}"#),
    ])
    .then(&[Members(&["{m2}"])]);

    /// §2 / §5 "`replace` of all `members`".
    okta_group_push_replaces_all_members: on(Okta, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"members","value":[{"value":"{user}","display":"seed.user@example.com"},{"value":"{m2}","display":"member.two@example.com"}]}]}"#),
    ])
    .then(&[Members(&["{m2}", "{user}"])]);

    /// A full push of a group whose members were all unassigned.
    okta_group_push_replaces_members_with_none: on(Okta, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"members","value":[]}]}"#),
    ])
    .then(&[Members(&[])]);

    /// §2: a membership update as Okta sends it, the rename riding along.
    okta_group_push_membership_update_with_the_rename_riding_along: on(Okta, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"{group}","displayName":"Engineering"}},{"op":"remove","path":"members[value eq \"{m1}\"]"},{"op":"add","path":"members","value":[{"value":"{user}","display":"seed.user@example.com"}]}]}"#),
    ])
    .then(&[Shows("/Groups/{group}", r#"{"displayName":"Engineering"}"#), Members(&["{m2}", "{user}"])]);

    /// §2 Group Push unlinked with "Delete the group in the target app".
    okta_group_push_unlink_deletes_the_group: on(Okta, &[delete("/Groups/{group}")])
        .expect(Status(204))
        .then(&[Gone("/Groups/{group}")]);
}
