//! A rules module that misbehaves on request, for the host's tests: the text setting
//! `mode` picks what the attribute decision (`map_attributes`) does; with the text setting `only_user`, only for the
//! person with that `userName` (others are mapped as `ok`).
//!
//! | `mode` | `map_attributes` |
//! | --- | --- |
//! | `trap` | executes `unreachable` |
//! | `loop` | never returns |
//! | `memory` | allocates 1 MiB blocks until memory runs out |
//! | `hoard` | allocates and writes the number setting `hoard_mb` MiB (default 4), then never returns: a memory-hungry decision that holds its memory until its deadline |
//! | `panic` | panics (a trap, since guests abort on panic) |
//! | `invalid-username` | provisions username `"Not Valid!"` (upper-case, a space, a `!`) |
//! | `reject` | rejects with `"not allowed: test"` |
//! | `log-flood` | logs 10,000 lines, then maps as `ok` |
//! | `find-user` | looks up the text setting `lookup` with `find-user` (through `Input::confluence_user`) and maps plainly, except: full name = `<full name>\|<e-mail>\|<active>` of the user found (`-` for what is unknown, `unknown` for nobody), groups `add` = that user's groups, `remove` = their granted groups |
//! | `find-user-scan` | calls `find-user` 1,000 times (past the host's cap), then maps as `ok` |
//! | `ok` (or no `mode`) | logs one line, then maps plainly |
//!
//! Mapping plainly: username = `userName` lower-cased, full name = `displayName` (else the
//! username as sent), e-mail = the primary address, active as sent; every IdP group joins
//! (and creates) the same-named group, lower-cased; no custom fields. `map_custom_fields`
//! and `map_groups` behave the same in every mode but `find-user`.
//!
//! It declares its settings `mode`, `only_user` and `lookup` (text), and `hoard_mb` (number).

use usersync_rules::{directory, log, AttributeDecision, GroupDecision, Input, Rules, SettingDeclaration, UserMapping};

/// The hostile module.
pub struct Hostile;

impl Rules for Hostile {
    fn map_attributes(input: &Input) -> AttributeDecision {
        // `only_user`: misbehave for that userName only (so the host's self-test passes).
        let targeted = input.setting_text("only_user").is_none_or(|u| u == input.person.user_name);
        let mode = if targeted { input.setting_text("mode").unwrap_or("ok") } else { "ok" };
        match mode {
            "trap" => trap(),
            "loop" => loop {
                core::hint::black_box(0);
            },
            "memory" => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                loop {
                    blocks.push(vec![1u8; 1 << 20]);
                    core::hint::black_box(&blocks);
                }
            }
            "hoard" => {
                let mib = usize::try_from(input.setting_number("hoard_mb").unwrap_or(4)).unwrap_or(0);
                let blocks: Vec<Vec<u8>> = (0..mib).map(|_| vec![1u8; 1 << 20]).collect();
                loop {
                    core::hint::black_box(&blocks);
                }
            }
            "panic" => panic!("deliberate panic"),
            "invalid-username" => AttributeDecision::Provision(UserMapping {
                username: "Not Valid!".into(),
                full_name: "X".into(),
                email: "x@example.com".into(),
                active: true,
            }),
            "reject" => AttributeDecision::Reject("not allowed: test".into()),
            "log-flood" => {
                for n in 0..10_000 {
                    log::debug!("line {n}");
                }
                plain(input)
            }
            "find-user" => {
                let found = input.confluence_user(input.setting_text("lookup").unwrap_or_default());
                let full_name = if found.exists {
                    format!(
                        "{}|{}|{}",
                        found.full_name.as_deref().unwrap_or("-"),
                        found.email.as_deref().unwrap_or("-"),
                        found.active.map_or("-", |a| if a { "active" } else { "inactive" })
                    )
                } else {
                    "unknown".into()
                };
                match plain(input) {
                    AttributeDecision::Provision(m) => AttributeDecision::Provision(UserMapping { full_name, ..m }),
                    other => other,
                }
            }
            "find-user-scan" => {
                for n in 0..1_000 {
                    core::hint::black_box(directory::find_user(&format!("user-{n}")));
                }
                plain(input)
            }
            _ => {
                log::info!("mapping");
                plain(input)
            }
        }
    }

    fn map_groups(input: &Input) -> GroupDecision {
        let mut groups = GroupDecision::empty();
        if input.setting_text("mode") == Some("find-user") {
            let found = input.confluence_user(input.setting_text("lookup").unwrap_or_default());
            found.groups.iter().for_each(|g| groups.add_group(g.clone()));
            found.granted.iter().for_each(|g| groups.remove_group(g.clone()));
            return groups;
        }
        for name in input.person.group_names() {
            groups.create_group(name.to_lowercase());
        }
        groups
    }

    fn settings() -> Vec<SettingDeclaration> {
        vec![
            SettingDeclaration::text("mode", "What to do wrong (see the crate docs)."),
            SettingDeclaration::text("only_user", "Misbehave only for the person with this userName."),
            SettingDeclaration::text("lookup", "The username mode find-user looks up."),
            SettingDeclaration::number("hoard_mb", 4, "The MiB mode hoard allocates."),
        ]
    }
}

usersync_rules::export_rules!(Hostile);

fn plain(input: &Input) -> AttributeDecision {
    let p = &input.person;
    AttributeDecision::Provision(UserMapping {
        username: p.user_name.to_lowercase(),
        full_name: p.display_name.clone().unwrap_or_else(|| p.user_name.clone()),
        email: p.primary_email().unwrap_or_default().to_string(),
        active: p.active,
    })
}

/// A wasm `unreachable` instruction (natively, where this crate only has to compile, an
/// abort).
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}
