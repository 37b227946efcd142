//! `teep tam group …`, `teep tam rollout …` and `teep tam admission …`: device groups, staged
//! rollouts and the enrolment allow and block lists (docs/operating.md). Also the fleet parts
//! of `teep tam tc retire`, `teep tam device add --cert` and `teep tam device history`. The
//! commands act as the operator `cli`; each change is in the audit log.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use teep_tam::fleet::{AdmissionList, AdmissionRule, RolloutSpec};
use teep_tam::store::RolloutSelection;
use teep_tam::{Admin, ComponentKey, PolicyTarget, TamConfig, Wire};

use crate::unix_now;

/// `teep tam group …`
#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a device group.
    Create {
        /// The group's name.
        name: String,
        /// The device-admin principal that administers it (default: the operator only).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Delete a group with its memberships and policy rules.
    Delete {
        /// The group's name.
        name: String,
    },
    /// List groups.
    List,
    /// Show a group and its members.
    Show {
        /// The group's name.
        name: String,
    },
    /// Add a device to a group (a device may be in several).
    Add {
        /// The group's name.
        name: String,
        /// Device thumbprint (hex, or a unique prefix of at least 8 digits).
        device: String,
    },
    /// Remove a device from a group.
    Remove {
        /// The group's name.
        name: String,
        /// Device thumbprint (hex, or a unique prefix of at least 8 digits).
        device: String,
    },
    /// Whether members' RequestTA (requested-tc-list) is honoured: `on`, `off`, or `inherit`
    /// (the TAM-wide setting, `teep tam policy allow-request`).
    AllowRequest {
        /// The group's name.
        name: String,
        /// `on`, `off` or `inherit`.
        setting: String,
    },
}

/// `teep tam rollout …`
#[derive(Subcommand, Debug)]
pub enum RolloutCommand {
    /// Start rolling out one catalog version to a share of a group (or of all devices), or
    /// to listed devices.
    Create {
        /// A name for the rollout.
        id: String,
        /// Component id: parts separated by `/`, each text or `0x`-prefixed hex.
        #[arg(long)]
        component: String,
        /// The catalog version (manifest sequence number).
        #[arg(long)]
        sequence: u64,
        /// The target group; without it, all devices.
        #[arg(long)]
        group: Option<String>,
        /// Share of the target in percent (for example 5 or 12.5).
        #[arg(long, conflicts_with = "device", required_unless_present = "device")]
        percent: Option<String>,
        /// Listed devices instead of a share (repeat the option).
        #[arg(long)]
        device: Vec<String>,
    },
    /// Pause: devices that have not started are offered nothing new.
    Pause {
        /// The rollout.
        id: String,
    },
    /// Resume a paused rollout.
    Resume {
        /// The rollout.
        id: String,
    },
    /// Abort: the version is offered to nobody; devices that installed it keep it.
    Abort {
        /// The rollout.
        id: String,
    },
    /// Complete: the version becomes the desired version for the whole target.
    Complete {
        /// The rollout.
        id: String,
    },
    /// Raise the share of a percentage rollout (it never shrinks).
    Raise {
        /// The rollout.
        id: String,
        /// The new share in percent.
        #[arg(long)]
        percent: String,
    },
    /// List rollouts.
    List,
    /// Progress of a rollout: selected, pending, offered, installed, failed (with reasons).
    Status {
        /// The rollout.
        id: String,
    },
}

/// `teep tam admission …`
#[derive(Subcommand, Debug)]
pub enum AdmissionCommand {
    /// Add an allow list entry: when the allow list is not empty, automatic and certificate
    /// enrolment admit only matching Agents.
    Allow {
        #[command(flatten)]
        rule: RuleArgs,
    },
    /// Add a block list entry: matching Agents are refused (a thumbprint also blocks the
    /// enrolled device).
    Block {
        #[command(flatten)]
        rule: RuleArgs,
    },
    /// Remove an allow list entry.
    Unallow {
        #[command(flatten)]
        rule: RuleArgs,
    },
    /// Remove a block list entry.
    Unblock {
        #[command(flatten)]
        rule: RuleArgs,
    },
    /// List both lists.
    List,
}

/// What an allow or block list entry matches (exactly one).
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct RuleArgs {
    /// An Agent key thumbprint (64 hex digits).
    #[arg(long)]
    thumbprint: Option<String>,
    /// A certificate subject pattern, e.g. `CN=dev-*, O=Acme` (`*` matches any run).
    #[arg(long)]
    subject: Option<String>,
    /// A certificate issuer pattern.
    #[arg(long)]
    issuer: Option<String>,
}

impl RuleArgs {
    fn rule(self) -> anyhow::Result<AdmissionRule> {
        if let Some(t) = self.thumbprint {
            let bytes = hex::decode(t.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
            let t = bytes.context("a thumbprint is 64 hex digits (see `teep tam device list`)")?;
            return Ok(AdmissionRule::Thumbprint(t));
        }
        if let Some(s) = self.subject {
            return Ok(AdmissionRule::Subject(s));
        }
        match self.issuer {
            Some(i) => Ok(AdmissionRule::Issuer(i)),
            None => anyhow::bail!("give --thumbprint, --subject or --issuer"),
        }
    }
}

/// Parses a percentage (`25`, `12.5`, `0.01`) into basis points.
pub fn basis_points(text: &str) -> anyhow::Result<u32> {
    let bad =
        || anyhow::anyhow!("percent {text:?}: write a number from 0 to 100, at most two decimals");
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: u32 = whole.parse().map_err(|_| bad())?;
    let frac: u32 =
        if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().map_err(|_| bad())? };
    let bp = whole.checked_mul(100).and_then(|w| w.checked_add(frac)).ok_or_else(bad)?;
    anyhow::ensure!(bp <= 10_000, "percent {text:?} is above 100");
    Ok(bp)
}

fn percent(bp: u32) -> String {
    if bp.is_multiple_of(100) {
        format!("{}%", bp / 100)
    } else {
        format!("{}.{:02}%", bp / 100, bp % 100)
    }
}

fn component(text: &str) -> anyhow::Result<ComponentKey> {
    ComponentKey::parse_text(text).map_err(|e| {
        anyhow::anyhow!(
            "component id {text:?}: {e} (write parts separated by `/`, each text or 0x-hex)"
        )
    })
}

fn show_component(id: &[u8]) -> String {
    ComponentKey::from_cbor(id).map(|c| c.to_string()).unwrap_or_else(|_| hex::encode(id))
}

/// Runs `teep tam group …`.
pub async fn group(admin: &Admin, command: GroupCommand) -> anyhow::Result<ExitCode> {
    let now = unix_now();
    match command {
        GroupCommand::Create { name, owner } => {
            let row = admin.create_group(&name, owner.as_deref(), now).await?;
            say!(
                "group {} created (owner {})",
                row.name,
                row.owner.as_deref().unwrap_or("operator")
            );
        }
        GroupCommand::Delete { name } => {
            admin.delete_group(&name, now).await?;
            say!("group {name} deleted");
        }
        GroupCommand::List => {
            for g in admin.groups().await? {
                say!(
                    "{}\t{} devices\towner {}\trequests {}",
                    g.name,
                    g.members,
                    g.owner.as_deref().unwrap_or("operator"),
                    match g.allow_request {
                        Some(true) => "on",
                        Some(false) => "off",
                        None => "inherit",
                    }
                );
            }
        }
        GroupCommand::Show { name } => {
            let g = admin.group(&name).await?;
            say!("group {}", g.name);
            say!("  owner      {}", g.owner.as_deref().unwrap_or("operator"));
            say!("  created    {}", crate::format_time(g.created_at));
            say!("  members    {}", g.members);
            for d in admin.group_devices(&name).await? {
                say!("    {}", hex::encode(d));
            }
        }
        GroupCommand::Add { name, device } => {
            let id = admin.resolve_device(&device).await?;
            admin.add_group_device(&name, &id, now).await?;
            say!("device {} added to group {name}", hex::encode(id));
        }
        GroupCommand::Remove { name, device } => {
            let id = admin.resolve_device(&device).await?;
            admin.remove_group_device(&name, &id, now).await?;
            say!("device {} removed from group {name}", hex::encode(id));
        }
        GroupCommand::AllowRequest { name, setting } => {
            let allow = match setting.as_str() {
                "on" => Some(true),
                "off" => Some(false),
                "inherit" => None,
                other => anyhow::bail!("{other:?}: write on, off or inherit"),
            };
            admin.set_group_allow_request(&name, allow, now).await?;
            say!("group {name}: requests {setting}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `teep tam rollout …`.
pub async fn rollout(admin: &Admin, command: RolloutCommand) -> anyhow::Result<ExitCode> {
    let now = unix_now();
    match command {
        RolloutCommand::Create { id, component: c, sequence, group, percent: share, device } => {
            let target = match group {
                Some(g) => PolicyTarget::Group(g),
                None => PolicyTarget::AllDevices,
            };
            let spec = match share {
                Some(p) => RolloutSpec::Percent(basis_points(&p)?),
                None => {
                    let mut list = Vec::new();
                    for d in &device {
                        list.push(admin.resolve_device(d).await?);
                    }
                    RolloutSpec::Devices(list)
                }
            };
            let row =
                admin.create_rollout(&id, &component(&c)?, sequence, &target, &spec, now).await?;
            say!("rollout {} started: {c} sequence {sequence} to {}", row.id, row.target);
        }
        RolloutCommand::Pause { id } => {
            admin.pause_rollout(&id, now).await?;
            say!("rollout {id} paused");
        }
        RolloutCommand::Resume { id } => {
            admin.resume_rollout(&id, now).await?;
            say!("rollout {id} resumed");
        }
        RolloutCommand::Abort { id } => {
            admin.abort_rollout(&id, now).await?;
            say!("rollout {id} aborted (devices that installed the version keep it)");
        }
        RolloutCommand::Complete { id } => {
            admin.complete_rollout(&id, now).await?;
            say!("rollout {id} completed");
        }
        RolloutCommand::Raise { id, percent: p } => {
            let bp = basis_points(&p)?;
            admin.raise_rollout_share(&id, bp, now).await?;
            say!("rollout {id} now selects {}", percent(bp));
        }
        RolloutCommand::List => {
            for r in admin.rollouts().await? {
                let share = match r.selection {
                    RolloutSelection::Percent { basis_points } => percent(basis_points),
                    RolloutSelection::Devices => "listed devices".into(),
                };
                say!(
                    "{}\t{}\t{} sequence {}\tto {}\t{share}",
                    r.id,
                    r.state.as_str(),
                    show_component(&r.component_id),
                    r.sequence_number,
                    r.target
                );
            }
        }
        RolloutCommand::Status { id } => {
            let p = admin.rollout_progress(&id).await?;
            let r = &p.rollout;
            say!("rollout {}", r.id);
            say!("  state      {}", r.state.as_str());
            say!("  version    {} sequence {}", show_component(&r.component_id), r.sequence_number);
            say!("  target     {}", r.target);
            say!("  created    {} by {}", crate::format_time(r.created_at), r.created_by);
            say!("  selected   {}", p.selected);
            say!("  pending    {} ({} offered)", p.pending, p.offered);
            say!("  installed  {}", p.installed);
            say!("  failed     {}", p.failed.len());
            for (device, reason) in &p.failed {
                say!("    {}\t{reason}", hex::encode(device));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `teep tam admission …`.
pub async fn admission(admin: &Admin, command: AdmissionCommand) -> anyhow::Result<ExitCode> {
    let now = unix_now();
    match command {
        AdmissionCommand::Allow { rule } => {
            admin.add_admission(AdmissionList::Allow, &rule.rule()?, now).await?;
            say!("added to the allow list");
        }
        AdmissionCommand::Block { rule } => {
            admin.add_admission(AdmissionList::Block, &rule.rule()?, now).await?;
            say!("added to the block list");
        }
        AdmissionCommand::Unallow { rule } => {
            admin.remove_admission(AdmissionList::Allow, &rule.rule()?, now).await?;
            say!("removed from the allow list");
        }
        AdmissionCommand::Unblock { rule } => {
            admin.remove_admission(AdmissionList::Block, &rule.rule()?, now).await?;
            say!("removed from the block list");
        }
        AdmissionCommand::List => {
            for e in admin.admission_list().await? {
                say!("{}\t{}\t{}", e.list, e.kind, e.pattern);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `teep tam tc retire`: retires (or with `undo` reinstates) one catalog version.
pub async fn retire(admin: &Admin, c: &str, sequence: u64, undo: bool) -> anyhow::Result<ExitCode> {
    admin.retire_tc(&component(c)?, sequence, !undo, unix_now()).await?;
    if undo {
        say!("{c} sequence {sequence} is offered again");
    } else {
        say!("{c} sequence {sequence} retired: it is never offered again");
    }
    Ok(ExitCode::SUCCESS)
}

/// `teep tam device add --cert`: enrols a device by its certificate chain to a manufacturer
/// CA of `[agents] manufacturer_cas`.
pub async fn enroll_by_certificate(
    admin: &Admin,
    config: &TamConfig,
    chain: &Path,
    label: Option<&str>,
    wire: Wire,
) -> anyhow::Result<teep_tam::store::DeviceRow> {
    let cas = teep_tam::x509::ManufacturerCas::load(config)
        .context("cannot load [agents] manufacturer_cas")?;
    let bytes = crate::input::read(chain, crate::input::DOCUMENT_LIMIT)?;
    Ok(admin.enroll_device_x509(&bytes, &cas, label, wire, unix_now()).await?)
}

/// `teep tam device history`: one page of a device's sessions, newest first.
pub async fn history(
    admin: &Admin,
    device: &str,
    limit: u32,
    before: Option<i64>,
) -> anyhow::Result<ExitCode> {
    let id = admin.resolve_device(device).await?;
    let page = admin.device_history(&id, limit, before).await?;
    for e in &page {
        say!("{}\t{}\t{}\t{}", e.id, crate::format_time(e.at), e.kind, e.detail);
    }
    if let Some(last) = page.last().filter(|_| page.len() as u32 == limit) {
        eprintln!("next page: --before {}", last.id);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_become_basis_points() {
        assert_eq!(basis_points("25").unwrap(), 2500);
        assert_eq!(basis_points("12.5").unwrap(), 1250);
        assert_eq!(basis_points("0.01").unwrap(), 1);
        assert_eq!(basis_points("100").unwrap(), 10_000);
        for bad in ["100.01", "-1", "1.234", "", "x", ".5", "1e2"] {
            assert!(basis_points(bad).is_err(), "{bad}");
        }
        assert_eq!(percent(1250), "12.50%");
        assert_eq!(percent(500), "5%");
    }
}
