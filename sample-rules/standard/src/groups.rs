//! The group mapping: manual mappings, on-the-fly groups, default groups, and removals,
//! under grant semantics: `add` is every group the app wants the user in now.

use usersync_rules::{normalize_group, ConfluenceUser, GroupDecision, IdpGroup, Input};

use crate::settings::Settings;

/// The group decision for the Confluence user `target` (the one the attribute decision is
/// about; see the crate documentation for the order of the rules).
///
/// `default_groups_new` is wanted when Confluence does not have the user yet, and after
/// that for as long as the app holds the grant (`target.granted`), so the next decision
/// does not revoke it. With `keep_existing_groups` off, `remove` lists the user's current
/// groups that the app neither wants nor granted (granted ones are revoked by the host when
/// left out of `add`), except `default_groups_new`.
pub fn map_groups(input: &Input, s: &Settings<'_>, target: &ConfluenceUser) -> GroupDecision {
    let mut decision = GroupDecision::empty();
    let considered =
        input.person.groups.iter().filter(|g| s.group_filter.as_ref().is_none_or(|re| re.is_match(&g.display_name)));
    for group in considered {
        let mut mapped = s.group_mapping.iter().filter(|(idp, _)| names(idp, group)).map(|(_, c)| c).peekable();
        if mapped.peek().is_some() {
            for confluence in mapped {
                if s.on_the_fly {
                    decision.create_group(confluence.clone());
                } else {
                    decision.add_group(confluence.clone());
                }
            }
        } else if s.on_the_fly && !s.import_only_mapped_groups && on_the_fly_accepts(s, &group.display_name) {
            let name = match &s.on_the_fly_rewrite {
                Some(rewrite) => normalize_group(&rewrite.apply(&group.display_name)),
                None => normalize_group(&group.display_name),
            };
            decision.create_group(name);
        }
    }

    for group in &s.default_groups_all {
        decision.add_group(group.clone());
    }
    for group in &s.default_groups_new {
        if !target.exists || target.holds_grant(group) {
            decision.add_group(group.clone());
        }
    }

    if !s.keep_existing_groups && target.exists {
        for current in &target.groups {
            let current = normalize_group(current);
            let kept = decision.add.contains(&current) || s.default_groups_new.contains(&current);
            if !kept && !target.holds_grant(&current) {
                decision.remove_group(current);
            }
        }
    }
    decision
}

/// Whether a `group_mapping` key names this IdP group: its display name (in any case,
/// non-ASCII letters included: `Équipe` names `ÉQUIPE`) or its id.
fn names(key: &str, group: &IdpGroup) -> bool {
    let name = group.display_name.trim();
    key.eq_ignore_ascii_case(name) || key.to_lowercase() == name.to_lowercase() || key == group.id
}

fn on_the_fly_accepts(s: &Settings<'_>, display_name: &str) -> bool {
    s.on_the_fly_include.as_ref().is_none_or(|re| re.is_match(display_name))
        && !s.on_the_fly_exclude.as_ref().is_some_and(|re| re.is_match(display_name))
}

#[cfg(test)]
mod names_tests {
    use super::*;

    #[test]
    fn mapping_keys_match_names_in_any_case_and_ids() {
        let group = IdpGroup { id: "g-1".into(), display_name: " Équipe Données ".into() };
        assert!(names("équipe données", &group));
        assert!(names("ÉQUIPE DONNÉES", &group));
        assert!(names("g-1", &group));
        assert!(!names("G-1", &group), "ids are exact");
        assert!(!names("Équipe", &group));
    }
}
