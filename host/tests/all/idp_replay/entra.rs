//! Microsoft Entra ID (`idp-traffic.md` §3): the documented requests of Microsoft's "Develop
//! and plan provisioning for a SCIM endpoint" page, without the `aadOptscim062020` flag
//! (capitalised ops, string booleans, value-list member removal) and with it (path-less
//! dotted and URN keys, filtered member removal).

use super::Idp::Entra;
use super::Outcome::Status;
use super::Then::{CreatedShows, Gone, Members, Replied, Shows};
use super::{delete, get, on, patch, post, replays};

/// "Create User", as documented.
const CREATE: &str = r#"{
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ff",
    "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
    "active": true,
    "emails": [{
        "primary": true,
        "type": "work",
        "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
    }],
    "meta": {
        "resourceType": "User"
    },
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName"
    },
    "roles": []
}"#;

/// "Example 2. Provision a user": explicit nulls for every unmapped attribute. (The page
/// prints the enterprise URN as `…:enterprise:2.0User`, a typo that real traffic does not
/// carry; it is corrected here so that this test is about the nulls.)
const CREATE_WITH_NULLS: &str = r#"{
   "schemas":
   [
     "urn:ietf:params:scim:schemas:core:2.0:User",
     "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
   "externalId":"jyoung2",
   "userName":"jyoung@testuser.com",
   "active":true,
   "addresses":null,
   "displayName":"Joy Young",
   "emails": [
     {
       "type":"work",
       "value":"jyoung@Contoso.com",
       "primary":true}],
   "meta": {
     "resourceType":"User"},
    "name":{
     "familyName":"Young",
     "givenName":"Joy"},
   "phoneNumbers":null,
   "preferredLanguage":null,
   "title":null,
   "department":null,
   "manager":null}"#;

/// "Update User [Multi-valued properties]".
const UPDATE_MULTI_VALUED: &str = r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [
            {
            "op": "Replace",
            "path": "emails[type eq \"work\"].value",
            "value": "updatedEmail@microsoft.com"
            },
            {
            "op": "Replace",
            "path": "name.familyName",
            "value": "updatedFamilyName"
            }
    ]
}"#;

/// Disable without the flag: `Replace` with the string `"False"` (§3.2).
const DISABLE: &str = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}"#;

replays! {
    /// §3.3 "Get User by query, zero results".
    entra_username_query_with_zero_results_is_an_empty_list: on(Entra, &[
        get("/Users?filter=userName%20eq%20%22non-existent%20user%22"),
    ])
    .then(&[Replied(r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}"#)]);

    /// §3.3 "Create User": a client `meta` and an empty `roles` are accepted.
    entra_create_user_as_documented: on(Entra, &[post("/Users", CREATE)])
        .expect(Status(201))
        .then(&[CreatedShows(r#"{
            "externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ff","userName":"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee","active":true,
            "emails":[{"primary":true,"type":"work","value":"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"}],
            "name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},
            "meta":{"resourceType":"User"}}"#)]);

    /// §5 "explicit nulls": Microsoft's "Example 2" body, nulls treated as absent.
    entra_create_user_with_explicit_nulls: on(Entra, &[post("/Users", CREATE_WITH_NULLS)])
        .expect(Status(201))
        .then(&[CreatedShows(r#"{"userName":"jyoung@testuser.com","displayName":"Joy Young","addresses":null,"phoneNumbers":null,"title":null,"manager":null,"department":null}"#)]);

    /// §3.1 / §5 "`externalId eq "…"` lookups": quoted.
    entra_external_id_query_quoted: on(Entra, &[
        get("/Users?filter=externalId%20eq%20%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%22"),
    ])
    .then(&[Replied(r#"{"totalResults":1,"Resources":[{"id":"{user}"}]}"#)]);

    /// §3.4 / §5 "Unquoted filter value": Microsoft's `filter=externalId eq jyoung`.
    entra_external_id_query_unquoted: on(Entra, &[get("/Users?filter=externalId+eq+jyoung")])
        .then(&[Replied(r#"{"totalResults":1,"Resources":[{"id":"{bare}","externalId":"jyoung"}]}"#)]);

    /// §3.4 / §5: Test Connection looks up a random GUID; an empty list, never a 400
    /// (OctopusDeploy/Issues#9841).
    entra_test_connection_external_id_miss_is_an_empty_list: on(Entra, &[
        get("/Users?filter=externalId%20eq%20%22d2d7e8b1-4f3c-4a1b-9a55-3c1f2b9e0c77%22"),
    ])
    .then(&[Replied(r#"{"totalResults":0,"Resources":[]}"#)]);

    /// §3.1 matching on `emails[type eq "work"].value`.
    entra_work_email_query: on(Entra, &[
        get("/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22seed.user%40example.com%22"),
    ])
    .then(&[Replied(r#"{"totalResults":1,"Resources":[{"id":"{user}"}]}"#)]);

    /// §3.1 "only `eq` and `and`": Microsoft's manager reference check (unquoted values,
    /// `attributes=id`).
    entra_manager_reference_check_with_and: on(Entra, &[
        get("/Users?filter=id%20eq%20{user}%20and%20manager%20eq%20{m1}&attributes=id"),
    ])
    .then(&[Replied(r#"{"totalResults":1,"Resources":[{"id":"{user}"}]}"#)]);

    /// §3.3 / §5 capitalised `Replace` and `emails[type eq "work"].value`: the work e-mail
    /// changes, the home one stays.
    entra_update_multi_valued_with_capitalised_replace: on(Entra, &[patch("/Users/{user}", UPDATE_MULTI_VALUED)])
        .then(&[Shows("/Users/{user}", r#"{
            "emails":[{"value":"updatedEmail@microsoft.com","type":"work","primary":true},{"value":"seed@home.example","type":"home"}],
            "name":{"familyName":"updatedFamilyName","givenName":"Seed"}}"#)]);

    /// The same replace on a user with a home e-mail but no work e-mail: one is added.
    entra_work_email_replace_on_a_user_without_a_work_email: on(Entra, &[patch("/Users/{bare}", UPDATE_MULTI_VALUED)])
        .then(&[Shows("/Users/{bare}", r#"{
            "emails":[{"value":"joy@home.example","type":"home"},{"value":"updatedEmail@microsoft.com","type":"work"}],
            "name":{"familyName":"updatedFamilyName"}}"#)]);

    /// The same replace on a user with no e-mail at all.
    entra_work_email_replace_on_a_user_without_any_email: on(Entra, &[patch("/Users/{m1}", UPDATE_MULTI_VALUED)])
        .then(&[Shows("/Users/{m1}", r#"{"emails":[{"value":"updatedEmail@microsoft.com","type":"work"}]}"#)]);

    /// An `Add` of `emails[type eq "work"].value` (what Entra sends when the attribute had
    /// no value before) on a user without a work e-mail.
    entra_add_work_email_value_on_a_user_without_one: on(Entra, &[
        patch("/Users/{bare}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"emails[type eq \"work\"].value","value":"joy.young@contoso.com"}]}"#),
    ])
    .then(&[Shows("/Users/{bare}", r#"{"emails":[{"value":"joy@home.example","type":"home"},{"value":"joy.young@contoso.com","type":"work"}]}"#)]);

    /// A manager cleared in Entra: `Remove` of the URN path.
    entra_remove_manager_by_urn_path: on(Entra, &[
        patch("/Users/{user}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]}"#),
    ])
    .then(&[Shows("/Users/{user}", r#"{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":null,"employeeNumber":"1001"}}"#)]);

    /// §4.2 "`userName` equality must be case-insensitive for every kind": an Entra lookup
    /// that misses on case would create a duplicate (langwatch/tasks#616).
    entra_username_query_matches_in_any_case: on(Entra, &[get("/Users?filter=userName%20eq%20%22SEED.USER%40EXAMPLE.COM%22")])
        .then(&[Replied(r#"{"totalResults":1,"Resources":[{"id":"{user}"}]}"#)]);

    /// §3.2 "many `Replace` ops with paths such as `emails[type eq "work"].value`": Entra's
    /// default address and phone mappings, one op per sub-attribute. The four address ops
    /// fill one work address; the phones are two values.
    entra_several_filtered_paths_build_one_element_each: on(Entra, &[
        patch("/Users/{m1}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
            {"op":"Replace","path":"addresses[type eq \"work\"].streetAddress","value":"1 Microsoft Way"},
            {"op":"Replace","path":"addresses[type eq \"work\"].locality","value":"Redmond"},
            {"op":"Replace","path":"addresses[type eq \"work\"].postalCode","value":"98052"},
            {"op":"Replace","path":"addresses[type eq \"work\"].country","value":"US"},
            {"op":"Replace","path":"phoneNumbers[type eq \"work\"].value","value":"+1 425 555 0100"},
            {"op":"Replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 425 555 0101"}]}"#),
    ])
    .then(&[Shows("/Users/{m1}", r#"{
        "addresses":[{"type":"work","streetAddress":"1 Microsoft Way","locality":"Redmond","postalCode":"98052","country":"US"}],
        "phoneNumbers":[{"type":"work","value":"+1 425 555 0100"},{"type":"mobile","value":"+1 425 555 0101"}]}"#)]);

    /// A B2B guest's userName (`#EXT#`) created, then found by an encoded filter.
    entra_guest_username_with_ext_marker_is_found: on(Entra, &[
        post("/Users", r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"externalId":"guest-1","userName":"joy_contoso.com#EXT#@fabrikam.onmicrosoft.com","active":true}"#),
        get("/Users?filter=userName%20eq%20%22joy_contoso.com%23EXT%23%40fabrikam.onmicrosoft.com%22"),
    ])
    .then(&[Replied(r#"{"totalResults":1,"Resources":[{"userName":"joy_contoso.com#EXT#@fabrikam.onmicrosoft.com"}]}"#)]);

    /// §3.3 "Update User [Single-valued properties]".
    entra_update_username: on(Entra, &[
        patch("/Users/{user}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"userName","value":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]}"#),
    ])
    .then(&[Shows("/Users/{user}", r#"{"userName":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}"#)]);

    /// §3.2 `urn:…:enterprise:2.0:User:employeeNumber` paths.
    entra_replace_by_enterprise_urn_path: on(Entra, &[
        patch("/Users/{user}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"2"}]}"#),
    ])
    .then(&[Shows("/Users/{user}", r#"{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"2","department":"Engineering"}}"#)]);

    /// §3.2 / §5 "String booleans": disable with `"value":"False"`.
    entra_disable_with_string_false: on(Entra, &[patch("/Users/{user}", DISABLE)])
        .then(&[Shows("/Users/{user}", r#"{"active":false}"#)]);

    /// §3.3 "Disable User" as documented (a boolean, `Operations` before `schemas`).
    entra_disable_with_boolean_false: on(Entra, &[
        patch("/Users/{user}", r#"{"Operations":[{"op":"Replace","path":"active","value":false}],"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}"#),
    ])
    .then(&[Shows("/Users/{user}", r#"{"active":false}"#)]);

    /// §3.1 "Users with `active=false` must still be returned by GET and by filter queries".
    entra_disabled_user_is_still_returned_by_get_and_filters: on(Entra, &[
        patch("/Users/{user}", DISABLE),
        get("/Users?filter=userName%20eq%20%22seed.user%40example.com%22"),
    ])
    .then(&[
        Replied(r#"{"totalResults":1,"Resources":[{"id":"{user}","active":false}]}"#),
        Shows("/Users/{user}", r#"{"id":"{user}","active":false}"#),
        Shows("/Users?filter=externalId%20eq%20%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%22", r#"{"totalResults":1,"Resources":[{"id":"{user}","active":false}]}"#),
        Shows("/Users?startIndex=1&count=100", r#"{"totalResults":4}"#),
    ]);

    /// §3.1 / §5 "`manager` as a plain string" in a create.
    entra_manager_as_a_plain_string_on_create: on(Entra, &[
        post("/Users", r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"externalId":"5c0e5f0a","userName":"managed@testuser.com","active":true,"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"1","manager":"123456"}}"#),
    ])
    .expect(Status(201))
    .then(&[CreatedShows(r#"{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"1","manager":{"value":"123456"}}}"#)]);

    /// §5 "`manager` as a plain string" in a `Replace` of the URN path.
    entra_manager_as_a_plain_string_on_patch: on(Entra, &[
        patch("/Users/{user}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"{m2}"}]}"#),
    ])
    .then(&[Shows("/Users/{user}", r#"{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"{m2}"},"employeeNumber":"1001"}}"#)]);

    /// Microsoft's "Example 5. Update a user": `Add` to the bare path `manager` with a
    /// one-element list holding `$ref`.
    entra_manager_add_as_in_example_5: on(Entra, &[
        patch("/Users/{user}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"manager","value":[{"$ref":"http://example.com/scim/Users/{m2}","value":"{m2}"}]}]}"#),
    ])
    .then(&[Shows("/Users/{user}", r#"{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"{m2}"}}}"#)]);

    /// §3.2 with the flag / §5 "Path-less value with dotted / URN keys".
    entra_flag_pathless_replace_with_dotted_and_urn_keys: on(Entra, &[
        patch("/Users/{user}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"displayName":"Test User 2","name.givenName":"Test","name.familyName":"User 2","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Employee number","active":false}}]}"#),
    ])
    .then(&[Shows("/Users/{user}", r#"{
        "displayName":"Test User 2","name":{"givenName":"Test","familyName":"User 2"},"active":false,"name.givenName":null,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"Employee number","department":"Engineering"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":null}"#)]);

    /// §3.2 with the flag: member removal by `members[value eq "…"]`.
    entra_flag_remove_member_by_value_filter: on(Entra, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"{m1}\"]"}]}"#),
    ])
    .then(&[Members(&["{m2}"])]);

    /// §3.3 "Create Group", as documented (Microsoft's own group schema URI in `schemas`).
    entra_create_group_as_documented: on(Entra, &[
        post("/Groups", r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"displayName","meta":{"resourceType":"Group"}}"#),
    ])
    .expect(Status(201))
    .then(&[CreatedShows(r#"{"displayName":"displayName","externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"}"#)]);

    /// §3.3 / §3.1 "Create Group" with `members: []`.
    entra_create_group_with_empty_members: on(Entra, &[
        post("/Groups", r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"displayName","meta":{"resourceType":"Group"},"members":[]}"#),
    ])
    .expect(Status(201))
    .then(&[CreatedShows(r#"{"displayName":"displayName"}"#)]);

    /// §3.3 "Get Group" with `excludedAttributes=members`.
    entra_get_group_without_members: on(Entra, &[get("/Groups/{group}?excludedAttributes=members")])
        .then(&[Replied(r#"{"id":"{group}","displayName":"Engineering","members":null}"#)]);

    /// §3.3 "Get Group by displayName": `excludedAttributes=members&filter=displayName eq "…"`.
    entra_get_group_by_display_name_without_members: on(Entra, &[
        get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22Engineering%22"),
    ])
    .then(&[Replied(r#"{"totalResults":1,"Resources":[{"id":"{group}","displayName":"Engineering","members":null}]}"#)]);

    /// §3.3 "Update Group [Non-member attributes]": members untouched.
    entra_group_replace_display_name: on(Entra, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]}"#),
    ])
    .then(&[Shows("/Groups/{group}", r#"{"displayName":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}"#), Members(&["{m1}", "{m2}"])]);

    /// §3.3 "Add Members" / §5 capitalised `Add` with `"$ref": null`.
    entra_add_members_with_null_ref: on(Entra, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"{user}"}]}]}"#),
    ])
    .then(&[Members(&["{m1}", "{m2}", "{user}"])]);

    /// §3.3 "Remove Members" / §5 "`Remove` on `members` with a `value` array".
    entra_remove_members_by_value_list_with_null_ref: on(Entra, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{m1}"}]}]}"#),
    ])
    .then(&[Members(&["{m2}"])]);

    /// §8.6 "make adds and removes idempotent": an `Add` of a member already there…
    entra_add_of_an_existing_member_changes_nothing: on(Entra, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"{m1}"}]}]}"#),
    ])
    .then(&[Members(&["{m1}", "{m2}"])]);

    /// … and a `Remove` of a user who is not a member.
    entra_remove_of_a_non_member_changes_nothing: on(Entra, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{user}"}]}]}"#),
    ])
    .then(&[Members(&["{m1}", "{m2}"])]);

    /// Gallery checklist "Support updating multiple group memberships with a single PATCH":
    /// one operation per member.
    entra_several_membership_changes_in_one_patch: on(Entra, &[
        patch("/Groups/{group}", r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"{user}"}]},{"op":"Add","path":"members","value":[{"$ref":null,"value":"{bare}"}]},{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{m1}"}]}]}"#),
    ])
    .then(&[Members(&["{bare}", "{m2}", "{user}"])]);

    /// §3.3 "Delete User" → 204; the user also leaves its groups.
    entra_delete_user_is_204: on(Entra, &[delete("/Users/{m1}")])
        .expect(Status(204))
        .then(&[Gone("/Users/{m1}"), Members(&["{m2}"])]);

    /// §3.3 "Delete Group" → 204.
    entra_delete_group_is_204: on(Entra, &[delete("/Groups/{group}")])
        .expect(Status(204))
        .then(&[Gone("/Groups/{group}")]);

    /// §3.1 / §3.3 schema discovery: `GET /Schemas` is a ListResponse.
    entra_schema_discovery_is_a_list_response: on(Entra, &[get("/Schemas")])
        .then(&[Replied(r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"]}"#)]);
}
