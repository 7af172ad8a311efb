//! OneLogin's "SCIM Provisioner with SAML (SCIM v2 Enterprise)" (`idp-traffic.md` §1): the
//! admin-written JSON template (§1.2), the call sequence of a real tenant (§1.3) and every
//! group-membership PATCH shape (§1.4).

use super::Idp::OneLogin;
use super::Outcome::{Error, Status};
use super::Then::{CreatedShows, Gone, Members, MembersInclude, Replied, Shows};
use super::{delete, get, on, patch, post, put, replays};

/// The v2 Enterprise connector's default template as rendered for a new user (authentik
/// #11249 capture): non-RFC URNs, `"id": null`, `emails` as an object, `active` quoted, the
/// SCIM 1.1-style `manager.managerId`.
const V2_CREATE: &str = r#"{"schemas":["urn:scim:schemas:core:2.0","urn:scim:schemas:extension:enterprise:2.0"],"id":null,"userName":"onelogin-test-user01","name":{"familyName":" User 01","givenName":"AAA Test"},"emails":{"value":"onelogin-test-user01@example.com","type":"work","primary":true},"title":"Tester","active":"true","urn:scim:schemas:extension:enterprise:2.0":{"department":"QA","manager":{"managerId":"{m1}","displayName":"Member One"}}}"#;

/// The same template re-rendered for the fixture's `{user}` after an admin edit.
const V2_UPDATE: &str = r#"{"schemas":["urn:scim:schemas:core:2.0","urn:scim:schemas:extension:enterprise:2.0"],"id":null,"userName":"seed.user@example.com","name":{"familyName":"User-Renamed","givenName":"Seed"},"emails":{"value":"seed.user@example.com","type":"work","primary":true},"title":"Staff Engineer","active":"true","urn:scim:schemas:extension:enterprise:2.0":{"department":"Ops","manager":{"managerId":"{m1}","displayName":"Member One"}}}"#;

/// Suspend (§1.3 step 4): the template re-rendered with `{$user.active}` false, unquoted…
const V2_SUSPEND: &str = r#"{"schemas":["urn:scim:schemas:core:2.0","urn:scim:schemas:extension:enterprise:2.0"],"id":null,"userName":"seed.user@example.com","name":{"familyName":"User","givenName":"Seed"},"emails":{"value":"seed.user@example.com","type":"work","primary":true},"title":"Engineer","active":false,"urn:scim:schemas:extension:enterprise:2.0":{"department":"Engineering","manager":{"managerId":"{m1}","displayName":"Member One"}}}"#;

/// … and quoted, as in Keepnet's recommended template (`"active": "{$user.active}"`).
const V2_SUSPEND_QUOTED: &str = r#"{"schemas":["urn:scim:schemas:core:2.0","urn:scim:schemas:extension:enterprise:2.0"],"id":null,"userName":"seed.user@example.com","name":{"familyName":"User","givenName":"Seed"},"emails":{"value":"seed.user@example.com","type":"work","primary":true},"title":"Engineer","active":"false","urn:scim:schemas:extension:enterprise:2.0":{"department":"Engineering","manager":{"managerId":"{m1}","displayName":"Member One"}}}"#;

/// The template re-rendered for `{m1}`, a member of `{group}`: no group data in it.
const V2_UPDATE_MEMBER: &str = r#"{"schemas":["urn:scim:schemas:core:2.0","urn:scim:schemas:extension:enterprise:2.0"],"id":null,"userName":"member.one@example.com","name":{"familyName":"One-Renamed","givenName":"Member"},"emails":{"value":"member.one@example.com","type":"work","primary":true},"active":"true","urn:scim:schemas:extension:enterprise:2.0":{"department":"QA"}}"#;

/// OneLogin's documented SCIM 1.1 template (define-user-schema page), rendered.
const SCIM11_CREATE: &str = r#"{"schemas":["urn:scim:schemas:core:1.0","urn:scim:schemas:extension:enterprise:1.0"],"userName":"legacy.user@example.com","name":{"givenName":"Legacy","familyName":"User"},"emails":{"value":"legacy.user@example.com","type":"work","primary":true},"title":"Archivist","urn:scim:schemas:extension:enterprise:1.0":{"department":"Records","manager":{"managerId":"{m1}","displayName":"Member One"}}}"#;

/// Keepnet's recommended template, rendered: RFC URNs but `"active"` quoted, `"id": null`,
/// a client-sent `meta`, and the enterprise key without its URN in `schemas`.
const KEEPNET_CREATE: &str = r#"{ "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": "Sales", "manager": { "managerId": "{m1}", "displayName": "Member One" } }, "active": "true", "emails": [ { "value": "keep.net@example.com", "type": "work", "primary": true } ], "meta": { "resourceType": "User" }, "name": { "familyName": "Net", "givenName": "Keep", "formatted": "Keep Net" }, "userName": "keep.net@example.com", "id": null, "schemas": [ "urn:ietf:params:scim:schemas:core:2.0:User" ] }"#;

/// The Staffbase pattern: a custom extension the admin added to the template and that this
/// server's config does not declare.
const CUSTOM_EXTENSION_CREATE: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:showcase:2.0:User"],"userName":"custom.attr@example.com","name":{"givenName":"Custom","familyName":"Attr"},"emails":[{"value":"custom.attr@example.com","type":"work","primary":true}],"costCentre":"CC-42","urn:ietf:params:scim:schemas:extension:showcase:2.0:User":{"custom_department":"Field Sales"}}"#;

replays! {
    /// §1.1 "Enable" / §1.3 create step 1 / §5 existence check: `+` spaces, trailing `&`.
    onelogin_enable_check_for_an_unknown_username_is_an_empty_list: on(OneLogin, &[
        get("/Users?filter=userName+eq+%22onelogin-test-user01%22&"),
    ])
    .then(&[Replied(r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}"#)]);

    /// §1.5 / §5 "`+` for spaces; trailing `&`": the same lookup finds an existing user.
    onelogin_username_filter_with_plus_spaces_and_trailing_ampersand_finds_the_user: on(OneLogin, &[
        get("/Users?filter=userName+eq+%22seed.user%40example.com%22&"),
    ])
    .then(&[Replied(r#"{"totalResults":1,"Resources":[{"id":"{user}","userName":"seed.user@example.com"}]}"#)]);

    /// §5 "SCIM 1.1 URNs and non-RFC 2.0 URNs": `urn:scim:schemas:core:2.0` and
    /// `urn:scim:schemas:extension:enterprise:2.0` become the RFC 7643 URNs.
    onelogin_v2_template_non_rfc_urns_are_aliased: on(OneLogin, &[post("/Users", V2_CREATE)])
        .expect(Status(201))
        .then(&[CreatedShows(r#"{
            "schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"QA"},
            "urn:scim:schemas:extension:enterprise:2.0":null}"#)]);

    /// §5 "`emails` as an object": wrapped as a one-element list.
    onelogin_emails_object_is_wrapped_in_a_list: on(OneLogin, &[post("/Users", V2_CREATE)])
        .then(&[CreatedShows(r#"{"emails":[{"value":"onelogin-test-user01@example.com","type":"work","primary":true}]}"#)]);

    /// §5 "String booleans": `"active": "true"`.
    onelogin_string_active_true_is_a_boolean: on(OneLogin, &[post("/Users", V2_CREATE)])
        .then(&[CreatedShows(r#"{"active":true}"#)]);

    /// §5 "`"id": null`": ignored; the server assigns the id, the rest is stored as sent
    /// (the family name's leading space included).
    onelogin_id_null_is_ignored_and_the_server_assigns_the_id: on(OneLogin, &[post("/Users", V2_CREATE)])
        .expect(Status(201))
        .then(&[CreatedShows(r#"{"userName":"onelogin-test-user01","name":{"familyName":" User 01","givenName":"AAA Test"},"title":"Tester"}"#)]);

    /// §5 "`manager` as an object (`managerId`)".
    onelogin_manager_id_object_becomes_manager_value: on(OneLogin, &[post("/Users", V2_CREATE)])
        .then(&[CreatedShows(r#"{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"{m1}"}}}"#)]);

    /// §1.2 documented SCIM 1.1 template: 1.0 URNs, `emails` object, `managerId`.
    onelogin_scim11_template_is_accepted_and_normalised: on(OneLogin, &[post("/Users", SCIM11_CREATE)])
        .expect(Status(201))
        .then(&[CreatedShows(r#"{
            "schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName":"legacy.user@example.com","title":"Archivist",
            "emails":[{"value":"legacy.user@example.com","type":"work","primary":true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Records","manager":{"value":"{m1}"}},
            "urn:scim:schemas:extension:enterprise:1.0":null}"#)]);

    /// §1.2 Keepnet template: quoted `active`, `"id": null`, client `meta`, and an extension
    /// present but not listed in `schemas`.
    onelogin_keepnet_template_with_quoted_active_and_nulls: on(OneLogin, &[post("/Users", KEEPNET_CREATE)])
        .expect(Status(201))
        .then(&[CreatedShows(r#"{
            "schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "active":true,"name":{"familyName":"Net","givenName":"Keep","formatted":"Keep Net"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","manager":{"value":"{m1}"}}}"#)]);

    /// §5 "Unknown attributes and custom extension URNs": kept verbatim, not rejected.
    onelogin_unknown_attributes_and_custom_extensions_are_kept: on(OneLogin, &[post("/Users", CUSTOM_EXTENSION_CREATE)])
        .expect(Status(201))
        .then(&[CreatedShows(r#"{"costCentre":"CC-42","urn:ietf:params:scim:schemas:extension:showcase:2.0:User":{"custom_department":"Field Sales"}}"#)]);

    /// §1.3 update: the whole template re-rendered and PUT to `/Users/{id}?` (trailing `?`).
    onelogin_put_with_trailing_question_mark_replaces_the_mapped_attributes: on(OneLogin, &[put("/Users/{user}?", V2_UPDATE)])
        .then(&[Shows("/Users/{user}", r#"{
            "userName":"seed.user@example.com","name":{"familyName":"User-Renamed","givenName":"Seed"},"title":"Staff Engineer","active":true,
            "emails":[{"value":"seed.user@example.com","type":"work","primary":true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops","manager":{"value":"{m1}"}}}"#)]);

    /// §1.3 step 4 / §4.1: Suspend as a PUT with `"active": false`.
    onelogin_suspend_by_put_with_boolean_false: on(OneLogin, &[put("/Users/{user}?", V2_SUSPEND)])
        .then(&[Shows("/Users/{user}", r#"{"active":false,"userName":"seed.user@example.com"}"#)]);

    /// §1.3 step 4 / §5 string booleans: Suspend as a PUT with `"active": "false"`.
    onelogin_suspend_by_put_with_string_false: on(OneLogin, &[put("/Users/{user}?", V2_SUSPEND_QUOTED)])
        .then(&[Shows("/Users/{user}", r#"{"active":false}"#)]);

    /// §1.3 step 4: "Accept both the PUT and the PATCH form" (the PATCH body is not published;
    /// this is the RFC form).
    onelogin_suspend_by_patch: on(OneLogin, &[
        patch("/Users/{user}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}"#),
    ])
    .then(&[Shows("/Users/{user}", r#"{"active":false}"#)]);

    /// §5 "Full re-rendered PUT without group data": memberships are kept.
    onelogin_rerendered_put_keeps_group_memberships: on(OneLogin, &[put("/Users/{m1}?", V2_UPDATE_MEMBER)])
        .then(&[Shows("/Users/{m1}", r#"{"name":{"familyName":"One-Renamed"}}"#), Members(&["{m1}", "{m2}"])]);

    /// §1.3 step 5: Provisioning → Refresh entitlements calls `GET /Groups`.
    onelogin_refresh_entitlements_lists_the_groups: on(OneLogin, &[get("/Groups")])
        .then(&[Replied(r#"{"totalResults":1,"Resources":[{"id":"{group}","displayName":"Engineering"}]}"#)]);

    /// §1.3 step 5: "Map from OneLogin" creates a group named after a role.
    onelogin_rules_create_a_group_named_after_a_role: on(OneLogin, &[
        post("/Groups", r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Role Admin","members":[]}"#),
    ])
    .expect(Status(201))
    .then(&[CreatedShows(r#"{"displayName":"Role Admin"}"#)]);

    /// §1.4 `{"op":"add","path":"members","value":[…]}`.
    onelogin_members_add: on(OneLogin, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"{user}"}]}]}"#),
    ])
    .then(&[Members(&["{m1}", "{m2}", "{user}"])]);

    /// §1.4 `{"op":"remove","path":"members","value":[…]}`.
    onelogin_members_remove_by_value_list: on(OneLogin, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members","value":[{"value":"{m1}"}]}]}"#),
    ])
    .then(&[Members(&["{m2}"])]);

    /// §1.4 `{"op":"remove","path":"members[value eq \"id\"]"}`.
    onelogin_members_remove_by_value_filter: on(OneLogin, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"{m1}\"]"}]}"#),
    ])
    .then(&[Members(&["{m2}"])]);

    /// §1.4 `{"op":"replace","path":"members","value":[…]}`.
    onelogin_members_replace: on(OneLogin, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"members","value":[{"value":"{user}"}]}]}"#),
    ])
    .then(&[Members(&["{user}"])]);

    /// §1.4 path-less `{"op":"add","value":{"members":[…]}}` (WSO2 style).
    onelogin_members_pathless_add: on(OneLogin, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","value":{"members":[{"value":"{user}"}]}}]}"#),
    ])
    .then(&[Members(&["{m1}", "{m2}", "{user}"])]);

    /// §1.4 / §5: the SCIM 1.1 body without `Operations` (onelogin-scim-php GroupController).
    onelogin_members_scim11_body_without_operations: on(OneLogin, &[
        patch("/Groups/{group}", r#"{"members":[{"value":"{user}"},{"value":"{m1}","operation":"delete"}]}"#),
    ])
    .then(&[Members(&["{m2}", "{user}"])]);

    /// §1.4: the same, as SCIM 1.1 writes it (`schemas` 1.0, `display`).
    onelogin_members_scim11_body_with_schemas_and_display: on(OneLogin, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:scim:schemas:core:1.0"],"members":[{"display":"Seed User","value":"{user}"},{"display":"Member Two","value":"{m2}","operation":"delete"}]}"#),
    ])
    .then(&[Members(&["{m1}", "{user}"])]);

    /// §1.4 SCIM 1.1: deleting a member that is not in the group changes nothing (the PHP
    /// sample skips it).
    onelogin_members_scim11_delete_of_a_non_member_changes_nothing: on(OneLogin, &[
        patch("/Groups/{group}", r#"{"members":[{"value":"{user}","operation":"delete"}]}"#),
    ])
    .then(&[Members(&["{m1}", "{m2}"])]);

    /// §1.4 / §5 "op names in any case".
    onelogin_members_capitalised_op: on(OneLogin, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"{user}"}]}]}"#),
    ])
    .then(&[Members(&["{m1}", "{m2}", "{user}"])]);

    /// §1.4 / §5 "`delete` as an operation name".
    onelogin_members_delete_op_is_remove: on(OneLogin, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"delete","path":"members","value":[{"value":"{m1}"}]}]}"#),
    ])
    .then(&[Members(&["{m2}"])]);

    /// §1.6 / §5 "Group-member PATCH before the user's POST has finished": accepted, the
    /// existing members untouched.
    onelogin_member_patch_naming_a_user_not_yet_created_is_accepted: on(OneLogin, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"{unknown}"}]}]}"#),
    ])
    .then(&[MembersInclude(&["{m1}", "{m2}"])]);

    /// §1.6 / §4.2: a POST of an existing userName (in another case) adopts the user
    /// instead of answering 409, which OneLogin would mark Failed.
    onelogin_duplicate_post_adopts_the_existing_user: on(OneLogin, &[
        post("/Users", r#"{"schemas":["urn:scim:schemas:core:2.0"],"id":null,"userName":"SEED.USER@example.com","name":{"familyName":"User","givenName":"Seed"},"emails":{"value":"seed.user@example.com","type":"work","primary":true},"active":"true"}"#),
    ])
    .then(&[Replied(r#"{"id":"{user}"}"#)]);

    /// §1.3 step 3: Delete; the user leaves its groups too.
    onelogin_delete_user: on(OneLogin, &[delete("/Users/{m1}")])
        .then(&[Gone("/Users/{m1}"), Members(&["{m2}"])]);

    /// §1.3 "Get User by ID", with the trailing `?` OneLogin leaves on its URLs.
    onelogin_get_user_by_id_with_trailing_question_mark: on(OneLogin, &[get("/Users/{user}?")])
        .then(&[Replied(r#"{"id":"{user}","userName":"seed.user@example.com"}"#)]);

    /// §1.6: after a delete OneLogin keeps PUTting to the old `/Users/{id}`; that is a 404
    /// (a Failed task), not a re-create.
    onelogin_put_to_a_deleted_user_is_404: on(OneLogin, &[delete("/Users/{user}"), put("/Users/{user}?", V2_UPDATE)])
        .expect(Error(404, None))
        .then(&[Gone("/Users/{user}"), Shows("/Users?filter=userName+eq+%22seed.user%40example.com%22&", r#"{"totalResults":0}"#)]);

    /// §1.1 / §4.3: errors are `application/json` too (checked on every reply).
    onelogin_unknown_user_is_a_404_scim_error: on(OneLogin, &[get("/Users/{unknown}")])
        .expect(Error(404, None));
}
