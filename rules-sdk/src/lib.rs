//! Write a UserSync rules module: the WebAssembly component that decides, for each person
//! an identity provider sends, which Confluence user they become, which custom profile
//! fields they get, and which groups they join.
//!
//! The contract is the WIT world `usersync:rules/rules@2.0.0` (`rules-sdk/wit/rules.wit`).
//! This crate generates its bindings and adds what a module author needs on top:
//!
//! - the [`Rules`] trait, one method per decision, each with a default, plus
//!   [`Rules::settings`], the settings the module declares; and [`export_rules!`], which
//!   wires an implementation to the world's exports;
//! - lookups on the person by SCIM path ([`Person::attribute`]), the app's settings
//!   ([`Input::setting_text`] and friends) and their declarations ([`SettingDeclaration`]),
//!   [`regex`] (`regex-lite`: small, so modules stay quick to instantiate);
//! - what Confluence holds: the person's record ([`Input::confluence`]: does Confluence
//!   have them, their current values and groups, which groups this app granted) and any
//!   other username's ([`Input::confluence_user`], through the host's `find-user`);
//! - Confluence's naming rules ([`normalize_username`], [`normalize_email`],
//!   [`normalize_group`], [`slug`]);
//! - logging through the host ([`log`]), and constructors for tests ([`Person::new`],
//!   [`Input::new`], [`Input::with_setting`], [`Input::with_confluence`],
//!   [`ConfluenceUser::existing`], [`directory::set_test_directory`]).
//!
//! # Groups are grants
//!
//! [`GroupDecision::add`] is the complete set of Confluence groups the app wants the person
//! in, in every decision: not a change. The host remembers which memberships each app
//! granted ([`ConfluenceUser::granted`]) and revokes one as soon as no decision of the app
//! wants it; memberships others gave are left alone. [`GroupDecision::create`] lists groups
//! of `add` to create if missing. [`GroupDecision::remove`] lists groups the app did *not*
//! grant that the person should leave anyway (the standard module's
//! `keep_existing_groups = false`).
//!
//! # A complete module
//!
//! ```
//! use usersync_rules::{
//!     export_rules, log, normalize_group, slug, AttributeDecision, GroupDecision, Input, Rules, SettingDeclaration,
//! };
//!
//! /// Everyone gets the default attribute mapping; contractors are refused; each person
//! /// joins `dept-<department>` (created if missing) and the groups the app lists in its
//! /// `extra_groups` setting.
//! pub struct AcmeRules;
//!
//! impl Rules for AcmeRules {
//!     fn map_attributes(input: &Input) -> AttributeDecision {
//!         if input.person.attribute("userType").is_some_and(|t| t.eq_ignore_ascii_case("contractor")) {
//!             return AttributeDecision::Reject("contractors are provisioned by hand".into());
//!         }
//!         usersync_rules::defaults::map_attributes(input)
//!     }
//!
//!     fn map_groups(input: &Input) -> GroupDecision {
//!         let mut groups = GroupDecision::empty();
//!         if let Some(department) = input.person.attribute("department") {
//!             log::info!("department {department}");
//!             groups.create_group(format!("dept-{}", slug(department)));
//!         }
//!         for group in input.setting_list("extra_groups") {
//!             groups.add_group(normalize_group(group));
//!         }
//!         groups
//!     }
//!     // `map_custom_fields` keeps its default: no custom fields.
//!
//!     fn settings() -> Vec<SettingDeclaration> {
//!         vec![SettingDeclaration::text_list("extra_groups", "Confluence groups everyone joins.")]
//!     }
//! }
//!
//! export_rules!(AcmeRules);
//!
//! # use usersync_rules::{Person, SettingValue, Source};
//! # let mut person = Person::new(Source::Scim, "Ada@Example.com");
//! # person.emails.push(usersync_rules::TypedValue { value: "ada@example.com".into(), kind: None, primary: true });
//! # person.attributes.push(usersync_rules::Attribute { schema: None, name: "department".into(), values: vec!["Research & Development".into()] });
//! # let input = Input::new(person).with_setting("extra_groups", SettingValue::TextList(vec!["Staff".into()]));
//! # let groups = AcmeRules::map_groups(&input);
//! # assert_eq!(groups.add, ["dept-research-development", "staff"]);
//! # assert_eq!(groups.create, ["dept-research-development"]);
//! ```
//!
//! # Building
//!
//! A module is a library crate with `crate-type = ["cdylib"]` (add `"rlib"` to test it
//! natively) that depends on this crate. Build it with
//!
//! ```text
//! usersync rules build <crate-dir>
//! ```
//!
//! which runs `cargo build --release --target wasm32-unknown-unknown` (the release profile
//! tuned through cargo's environment) and wraps the core module into a component. The
//! module imports nothing but `usersync:rules/host` (logging and `find-user`): no WASI, so
//! no files, network, environment, clock or randomness.
//!
//! # Natively
//!
//! The crate also compiles for the host's target, so a module's logic can be unit-tested
//! with `cargo test`: [`export_rules!`] then exports nothing, [`log`] writes nowhere, and
//! `find-user` is answered from a per-thread directory the test sets
//! ([`directory::set_test_directory`]).

#[cfg(all(target_arch = "wasm32", feature = "bump-allocator"))]
mod alloc;
mod confluence;
mod construct;
mod decision;
mod declare;
pub mod defaults;
pub mod directory;
pub mod log;
mod names;
mod path;
mod person;
mod settings;

pub use decision::UserFields;
pub use names::{is_usable_email, normalize_email, normalize_group, normalize_username, slug};
pub use settings::SettingError;

/// The regular-expression engine modules use: [`regex-lite`](https://docs.rs/regex-lite),
/// chosen over `regex` for its small code size (a module instantiates per decision).
pub use regex_lite as regex;
pub use regex_lite::Regex;

/// The contract's records, as `wit-bindgen` generates them from `rules-sdk/wit`.
///
/// Use the re-exports at the crate root; this module is public only so that the glue
/// [`export_rules!`] expands to can reach it.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "rules",
        pub_export_macro: true,
        export_macro_name: "__export_rules_world",
        default_bindings_module: "::usersync_rules::bindings",
        runtime_path: "::usersync_rules::__private::wit_bindgen::rt",
        additional_derives: [Clone, PartialEq, Eq],
    });
}

pub use bindings::usersync::rules::types::{
    App, Attribute, AttributeDecision, ConfluenceUser, CustomField, Decisions, Enterprise, GroupDecision, IdpGroup,
    Input, LogLevel, Name, Person, Setting, SettingDeclaration, SettingKind, SettingValue, Source, TypedValue,
    UserMapping,
};

// Lets the generated bindings name this crate by its path from any crate, this one included.
extern crate self as usersync_rules;

/// What [`export_rules!`] expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::Guest;
    pub use wit_bindgen;
}

/// A rules module: the three decisions the host asks for, for each person it provisions,
/// and the settings it reads.
///
/// Every method has a default, so a module implements only the decisions it changes. The
/// host calls [`decide`](Rules::decide) once per person, in a fresh instance; by default it
/// runs the three decision methods in turn. A module whose decisions share costly work
/// (parsing settings, compiling regular expressions) overrides `decide` to do it once. The
/// host calls [`settings`](Rules::settings) once, when it loads the module.
///
/// # Defaults
///
/// - [`map_attributes`](Rules::map_attributes): [`defaults::map_attributes`] (username from
///   `userName`, or `userPrincipalName` / `sAMAccountName` / `uid` for LDAP; the primary
///   e-mail; the display name; `active` as the identity provider says), and a rejection
///   for a person without a usable username or e-mail address.
/// - [`map_custom_fields`](Rules::map_custom_fields): no custom fields.
/// - [`map_groups`](Rules::map_groups): no groups granted, none removed
///   ([`GroupDecision::empty`]).
/// - [`settings`](Rules::settings): none declared (an app that sets any is refused).
pub trait Rules {
    /// The Confluence user this person becomes: provision, skip quietly, or reject.
    ///
    /// A [`AttributeDecision::Reject`] is reported to the identity provider, and nothing of
    /// the person is stored.
    fn map_attributes(input: &Input) -> AttributeDecision {
        defaults::map_attributes(input)
    }

    /// The custom profile fields to set. Default: none.
    fn map_custom_fields(input: &Input) -> Vec<CustomField> {
        let _ = input;
        Vec::new()
    }

    /// The groups the app wants the user in (all of them, every time: groups it granted
    /// before and leaves out are revoked), those to create if missing, and groups it did
    /// not grant that the user should leave; in Confluence group names (lower-case).
    /// Default: none ([`GroupDecision::empty`]).
    fn map_groups(input: &Input) -> GroupDecision {
        let _ = input;
        GroupDecision::empty()
    }

    /// All three decisions: what the host calls. Default: [`Decisions::of`], the three
    /// methods above in turn.
    fn decide(input: &Input) -> Decisions {
        Decisions::of::<Self>(input)
    }

    /// The app settings the module reads, each with its kind, default and a line of help
    /// (see [`SettingDeclaration`]'s constructors). The host refuses to load the module for
    /// an app with a setting not declared here, or of the wrong kind, and shows the
    /// declaration to administrators. Default: none.
    fn settings() -> Vec<SettingDeclaration> {
        Vec::new()
    }

    /// The Confluence groups `app`'s settings put people in that the module never creates
    /// (they must exist in Confluence): the host checks them when it loads the module and
    /// reports the missing ones before traffic. Default: none claimed.
    fn groups_needed(app: &App) -> Vec<String> {
        let _ = app;
        Vec::new()
    }
}

/// Exports a [`Rules`] implementation as the module's `decide`, `settings` and
/// `groups-needed`. Use it once,
/// in the module's `lib.rs`:
///
/// ```
/// struct MyRules;
/// impl usersync_rules::Rules for MyRules {}
/// usersync_rules::export_rules!(MyRules);
/// ```
///
/// Off wasm32 it exports nothing (and so the crate can be an `rlib` linked next to other
/// modules, for tests and benchmarks).
#[macro_export]
macro_rules! export_rules {
    ($rules:ty) => {
        #[allow(unsafe_code, dead_code)]
        const _: () = {
            struct __UsersyncRulesExport;

            impl $crate::__private::Guest for __UsersyncRulesExport {
                fn decide(input: $crate::Input) -> $crate::Decisions {
                    <$rules as $crate::Rules>::decide(&input)
                }

                fn settings() -> ::std::vec::Vec<$crate::SettingDeclaration> {
                    <$rules as $crate::Rules>::settings()
                }

                fn groups_needed(app: $crate::App) -> ::std::vec::Vec<::std::string::String> {
                    <$rules as $crate::Rules>::groups_needed(&app)
                }
            }

            #[cfg(target_arch = "wasm32")]
    $crate::bindings::__export_rules_world!(__UsersyncRulesExport with_types_in $crate::bindings);
        };
    };
}
