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
//!
//! # Which rules apply ([`effective_rules`])
//! Per component, the most specific rule wins: a rule for the device itself, else the rules
//! of the groups it belongs to, else the all-devices (`*`) rule. When several of the device's
//! groups have a rule for the same component, `require` beats `delete` (deleting what another
//! group needs would make the device flip between the two), and among `require` rules the
//! highest minimum sequence number wins (ties: the first group by name).
//!
//! # Rollouts and retired versions ([`choose_version`], [`apply_rollouts`])
//! Retired catalog versions are never offered. A version under a rollout that is not
//! completed is held back: only devices the rollout permits are offered it (running: the
//! selected devices of its target; paused: only those that already started, i.e. were
//! offered it; aborted: nobody; completed: every device of the target, and the version is no
//! longer held back). Every other device gets the newest version that is neither retired nor
//! held back for it. A rollout that permits a device also acts as a `require` rule at the
//! rollout's sequence number (raising a weaker `require`); an explicit `delete` rule wins
//! over it. An aborted rollout does not take the version back from devices that installed
//! it: SUIT rollback protection (the sequence number only grows) forbids a downgrade, so the
//! way out is a newer version.
//!
//! # Percentage selection ([`selected`])
//! A device is in a percentage rollout when the first eight bytes of SHA-256(rollout id ||
//! thumbprint), read big-endian, modulo 10000 are below the share in basis points. The draw is
//! fixed per rollout and device, so raising the share only adds devices.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::component::ComponentKey;
use crate::store::{FULL_SHARE, GROUP_TARGET_PREFIX, PolicyAction, PolicyRow, RolloutState};

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

/// One rule per component from the candidate rows of one device (its own, its groups',
/// the all-devices ones), by the precedence in the module documentation. `rows` may come in
/// any order; the result is ordered by component id.
pub fn effective_rules(device_hex: &str, rows: Vec<PolicyRow>) -> Vec<PolicyRow> {
    let rank = |row: &PolicyRow| -> u8 {
        if row.device == device_hex {
            0
        } else if row.device.starts_with(GROUP_TARGET_PREFIX) {
            1
        } else {
            2
        }
    };
    let mut best: BTreeMap<Vec<u8>, PolicyRow> = BTreeMap::new();
    for row in rows {
        let better = match best.get(&row.component_id) {
            None => true,
            Some(current) => {
                let (new_rank, old_rank) = (rank(&row), rank(current));
                if new_rank != old_rank {
                    new_rank < old_rank
                } else if new_rank == 1 {
                    // Two groups: require beats delete, then the higher minimum, then the
                    // first group by name.
                    let key = |r: &PolicyRow| {
                        (
                            r.action == PolicyAction::Require,
                            r.min_sequence,
                            core::cmp::Reverse(r.device.clone()),
                        )
                    };
                    key(&row) > key(current)
                } else {
                    false
                }
            }
        };
        if better {
            best.insert(row.component_id.clone(), row);
        }
    }
    best.into_values().collect()
}

/// Whether a device falls in a percentage rollout's share (`basis_points` of 10000).
pub fn selected(rollout_id: &str, thumbprint: &[u8], basis_points: u32) -> bool {
    if basis_points >= FULL_SHARE {
        return true;
    }
    let digest =
        Sha256::new().chain_update(rollout_id.as_bytes()).chain_update(thumbprint).finalize();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % u64::from(FULL_SHARE) < u64::from(basis_points)
}

/// One rollout as it concerns one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutView {
    /// Rollout id.
    pub id: String,
    /// The component (catalog manifest name).
    pub component: ComponentKey,
    /// The version it rolls out.
    pub sequence_number: u64,
    /// Its state.
    pub state: RolloutState,
    /// The device is in its target and selected (share or list).
    pub covers: bool,
    /// The device already started (has a progress row: offered, installed or failed).
    pub started: bool,
}

impl RolloutView {
    /// Whether this rollout lets the device be offered its version.
    pub fn permits(&self) -> bool {
        match self.state {
            RolloutState::Running | RolloutState::Completed => self.covers,
            RolloutState::Paused => self.covers && self.started,
            RolloutState::Aborted => false,
        }
    }
}

/// The version of `component` to offer a device: the newest of `versions` (the offerable,
/// i.e. not retired, catalog versions, in any order) that no rollout holds back from it.
pub fn choose_version(
    component: &ComponentKey,
    versions: &[u64],
    rollouts: &[RolloutView],
) -> Option<u64> {
    let allowed = |seq: u64| {
        let of_version: Vec<&RolloutView> = rollouts
            .iter()
            .filter(|r| &r.component == component && r.sequence_number == seq)
            .collect();
        let held = of_version.iter().any(|r| r.state != RolloutState::Completed);
        !held || of_version.iter().any(|r| r.permits())
    };
    versions.iter().copied().filter(|s| allowed(*s)).max()
}

/// Adds the rollouts that permit the device as `require` rules: a rule of its own for the
/// component is raised to the rollout's version when it is a weaker `require`, kept when it
/// is a `delete`, and a missing rule is added (with `device` = `rollout:<id>`).
pub fn apply_rollouts(rules: &mut Vec<(ComponentKey, PolicyRow)>, rollouts: &[RolloutView]) {
    for r in rollouts.iter().filter(|r| r.permits()) {
        match rules.iter_mut().find(|(k, _)| k == &r.component) {
            Some((_, rule)) => {
                if rule.action == PolicyAction::Require && rule.min_sequence < r.sequence_number {
                    rule.min_sequence = r.sequence_number;
                }
            }
            None => rules.push((
                r.component.clone(),
                PolicyRow {
                    device: format!("rollout:{}", r.id),
                    component_id: r.component.as_cbor().to_vec(),
                    action: PolicyAction::Require,
                    min_sequence: r.sequence_number,
                },
            )),
        }
    }
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

    fn row(target: &str, name: &str, action: PolicyAction, min: u64) -> PolicyRow {
        PolicyRow {
            device: target.into(),
            component_id: key(name).as_cbor().to_vec(),
            action,
            min_sequence: min,
        }
    }

    #[test]
    fn device_rule_beats_groups_which_beat_all_devices() {
        let dev = "ab".repeat(32);
        let rows = vec![
            row("*", "a", PolicyAction::Require, 1),
            row("group:x", "a", PolicyAction::Delete, 0),
            row("group:y", "a", PolicyAction::Require, 2),
            row("group:z", "a", PolicyAction::Require, 5),
            row("*", "b", PolicyAction::Require, 1),
            row("group:x", "b", PolicyAction::Delete, 0),
            row("*", "c", PolicyAction::Require, 1),
            row(&dev, "c", PolicyAction::Delete, 0),
            row("group:x", "c", PolicyAction::Require, 9),
        ];
        let rules = effective_rules(&dev, rows.clone());
        let find = |n: &str| rules.iter().find(|r| r.component_id == key(n).as_cbor()).unwrap();
        assert_eq!((find("a").device.as_str(), find("a").min_sequence), ("group:z", 5));
        assert_eq!(find("b").action, PolicyAction::Delete);
        assert_eq!(find("c").device, dev);
        // The order of the candidate rows does not matter.
        let mut reversed = rows;
        reversed.reverse();
        assert_eq!(effective_rules(&dev, reversed), rules);
    }

    #[test]
    fn percentage_selection_is_stable_and_grows() {
        let devices: Vec<[u8; 32]> =
            (0..1000_u32).map(|i| Sha256::digest(i.to_be_bytes()).into()).collect();
        let at = |bp| devices.iter().filter(|d| selected("r", *d, bp)).count();
        let (ten, fifty) = (at(1000), at(5000));
        assert!((70..=130).contains(&ten), "{ten}");
        assert!((440..=560).contains(&fifty), "{fifty}");
        assert!(devices.iter().all(|d| !selected("r", d, 1000) || selected("r", d, 5000)));
        assert_eq!(at(0), 0);
        assert_eq!(at(10_000), 1000);
        // Another rollout draws other devices.
        assert!(devices.iter().any(|d| selected("r", d, 1000) != selected("s", d, 1000)));
    }

    fn view(state: RolloutState, covers: bool, started: bool) -> RolloutView {
        RolloutView {
            id: "r".into(),
            component: key("a"),
            sequence_number: 3,
            state,
            covers,
            started,
        }
    }

    #[test]
    fn rollouts_hold_versions_back_from_devices_they_do_not_permit() {
        let versions = [1, 2, 3];
        let pick = |v: RolloutView| choose_version(&key("a"), &versions, &[v]);
        assert_eq!(pick(view(RolloutState::Running, true, false)), Some(3));
        assert_eq!(pick(view(RolloutState::Running, false, false)), Some(2));
        assert_eq!(pick(view(RolloutState::Paused, true, false)), Some(2));
        assert_eq!(pick(view(RolloutState::Paused, true, true)), Some(3));
        assert_eq!(pick(view(RolloutState::Aborted, true, true)), Some(2));
        assert_eq!(pick(view(RolloutState::Completed, false, false)), Some(3));
        // Other components are not affected.
        assert_eq!(
            choose_version(&key("b"), &versions, &[view(RolloutState::Running, false, false)]),
            Some(3)
        );
        assert_eq!(choose_version(&key("a"), &[], &[]), None);
    }

    #[test]
    fn permitting_rollouts_raise_require_rules_but_not_deletions() {
        let mut rules = vec![];
        apply_rollouts(&mut rules, &[view(RolloutState::Running, true, false)]);
        assert_eq!(rules.len(), 1);
        assert_eq!((rules[0].1.action, rules[0].1.min_sequence), (PolicyAction::Require, 3));
        assert_eq!(rules[0].1.device, "rollout:r");
        let mut rules = vec![rule("a", PolicyAction::Require, 1)];
        apply_rollouts(&mut rules, &[view(RolloutState::Running, true, false)]);
        assert_eq!(rules[0].1.min_sequence, 3);
        let mut rules = vec![rule("a", PolicyAction::Delete, 0)];
        apply_rollouts(&mut rules, &[view(RolloutState::Completed, true, false)]);
        assert_eq!(rules[0].1.action, PolicyAction::Delete);
        let mut rules = vec![];
        apply_rollouts(&mut rules, &[view(RolloutState::Running, false, false)]);
        assert!(rules.is_empty());
    }
}
