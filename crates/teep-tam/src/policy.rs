//! Deciding what an Update carries (draft-ietf-teep-protocol-26 §8.1.1, last paragraphs: the
//! TAM "determines, in any implementation specific manner, which Trusted Components need to
//! be installed, updated, or deleted").
//!
//! The rules here, applied to one device:
//! 1. A `require` rule installs the newest catalog version of its component when the device
//!    lacks the component or reports a sequence number below the rule's minimum (or none).
//! 2. A component the Agent lists in requested-tc-list is installed from the catalog unless a
//!    `delete` rule names it, unless the device already has that catalog version, and only
//!    when the catalog version reaches the requested tc-manifest-sequence-number.
//! 3. A `delete` rule puts an installed component into unneeded-manifest-list; a component
//!    the Agent lists as unneeded goes there too unless a `require` rule keeps it.
//!
//! The function is pure: the caller fetches the rules, the reported state and the catalog.

use std::collections::{BTreeMap, BTreeSet};

use crate::component::ComponentKey;
use crate::store::{PolicyAction, PolicyRow};

/// What the TAM knows about one device when it decides.
#[derive(Clone, Debug, Default)]
pub struct DeviceView {
    /// Installed components (from tc-list) with their sequence numbers, when reported.
    pub installed: BTreeMap<ComponentKey, Option<u64>>,
    /// Components the Agent asked for (requested-tc-list), with the lowest acceptable
    /// sequence number it named (tc-manifest-sequence-number), if any.
    pub requested: BTreeMap<ComponentKey, Option<u64>>,
    /// Components the Agent no longer needs (unneeded-manifest-list of the QueryResponse).
    pub unneeded: BTreeSet<ComponentKey>,
}

/// The newest catalog version of a component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    /// suit-manifest-sequence-number.
    pub sequence_number: u64,
    /// Signed SUIT envelope.
    pub envelope: Vec<u8>,
}

/// What to put in the Update.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Components to install or update, with the catalog entry to send.
    pub install: Vec<(ComponentKey, CatalogEntry)>,
    /// Components to delete (unneeded-manifest-list).
    pub delete: Vec<ComponentKey>,
    /// Rules that could not be satisfied (no catalog entry, or none new enough).
    pub unsatisfiable: Vec<ComponentKey>,
}

impl Plan {
    /// True when the Update would carry nothing, so the TAM answers 204.
    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.delete.is_empty()
    }
}

/// Computes the plan for one device. `catalog` maps a component to its newest version.
pub fn plan(
    rules: &[(ComponentKey, PolicyRow)],
    device: &DeviceView,
    catalog: &BTreeMap<ComponentKey, CatalogEntry>,
) -> Plan {
    let mut out = Plan::default();
    let mut install: BTreeSet<ComponentKey> = BTreeSet::new();
    let mut delete: BTreeSet<ComponentKey> = BTreeSet::new();
    let rule_of = |key: &ComponentKey| rules.iter().find(|(k, _)| k == key).map(|(_, r)| r);

    // Step 1 and 3: the rules.
    for (key, rule) in rules {
        match rule.action {
            PolicyAction::Require => {
                let have = device.installed.get(key);
                let below = match have {
                    None => true,
                    Some(None) => rule.min_sequence > 0,
                    Some(Some(seq)) => *seq < rule.min_sequence,
                };
                if !below {
                    continue;
                }
                match catalog.get(key) {
                    Some(entry) if entry.sequence_number >= rule.min_sequence => {
                        install.insert(key.clone());
                    }
                    _ => out.unsatisfiable.push(key.clone()),
                }
            }
            PolicyAction::Delete => {
                if device.installed.contains_key(key) {
                    delete.insert(key.clone());
                }
            }
        }
    }

    // Step 2: what the Agent asked for.
    for (key, minimum) in &device.requested {
        if matches!(rule_of(key).map(|r| r.action), Some(PolicyAction::Delete)) {
            continue;
        }
        let Some(entry) = catalog.get(key) else { continue };
        if minimum.is_some_and(|min| entry.sequence_number < min) {
            out.unsatisfiable.push(key.clone());
            continue;
        }
        let current = device.installed.get(key).copied().flatten();
        if current.is_none_or(|seq| seq < entry.sequence_number) {
            install.insert(key.clone());
        }
    }

    // Step 3, second half: what the Agent no longer needs.
    for key in &device.unneeded {
        if !matches!(rule_of(key).map(|r| r.action), Some(PolicyAction::Require)) {
            delete.insert(key.clone());
        }
    }

    for key in install {
        if let Some(entry) = catalog.get(&key) {
            out.install.push((key, entry.clone()));
        }
    }
    out.delete = delete.into_iter().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ComponentKey {
        ComponentKey::parse_text(name).unwrap()
    }

    fn rule(name: &str, action: PolicyAction, min: u64) -> (ComponentKey, PolicyRow) {
        let k = key(name);
        let row = PolicyRow {
            device: "*".into(),
            component_id: k.as_cbor().to_vec(),
            action,
            min_sequence: min,
        };
        (k, row)
    }

    fn catalog(entries: &[(&str, u64)]) -> BTreeMap<ComponentKey, CatalogEntry> {
        entries
            .iter()
            .map(|(n, s)| (key(n), CatalogEntry { sequence_number: *s, envelope: vec![*s as u8] }))
            .collect()
    }

    #[test]
    fn installs_missing_and_outdated_required_components() {
        let rules = [rule("a", PolicyAction::Require, 0), rule("b", PolicyAction::Require, 3)];
        let mut device = DeviceView::default();
        device.installed.insert(key("b"), Some(2));
        let plan = plan(&rules, &device, &catalog(&[("a", 1), ("b", 3)]));
        let names: Vec<_> = plan.install.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(plan.delete.is_empty());
    }

    #[test]
    fn up_to_date_device_needs_nothing() {
        let rules = [rule("a", PolicyAction::Require, 2)];
        let mut device = DeviceView::default();
        device.installed.insert(key("a"), Some(2));
        assert!(plan(&rules, &device, &catalog(&[("a", 5)])).is_empty());
    }

    #[test]
    fn unsatisfiable_rules_are_reported() {
        let rules = [rule("a", PolicyAction::Require, 9), rule("z", PolicyAction::Require, 0)];
        let p = plan(&rules, &DeviceView::default(), &catalog(&[("a", 5)]));
        assert!(p.is_empty());
        assert_eq!(p.unsatisfiable, [key("a"), key("z")]);
    }

    #[test]
    fn deletes_only_installed_components() {
        let rules = [rule("a", PolicyAction::Delete, 0), rule("b", PolicyAction::Delete, 0)];
        let mut device = DeviceView::default();
        device.installed.insert(key("a"), None);
        assert_eq!(plan(&rules, &device, &catalog(&[])).delete, [key("a")]);
    }

    #[test]
    fn honours_requests_unless_policy_deletes() {
        let rules = [rule("x", PolicyAction::Delete, 0), rule("k", PolicyAction::Require, 0)];
        let mut device = DeviceView::default();
        device.requested.insert(key("r"), None);
        device.requested.insert(key("x"), None);
        device.requested.insert(key("unknown"), None);
        device.requested.insert(key("new"), Some(2));
        device.installed.insert(key("k"), Some(1));
        device.unneeded.insert(key("k"));
        device.unneeded.insert(key("old"));
        let p = plan(&rules, &device, &catalog(&[("r", 1), ("x", 1), ("k", 1), ("new", 1)]));
        assert_eq!(p.install.len(), 1);
        assert_eq!(p.install[0].0, key("r"));
        assert_eq!(p.delete, [key("old")]);
        assert_eq!(p.unsatisfiable, [key("new")]);
    }
}
