//! Fault points of the store's commit protocol, for crash-consistency tests.
//!
//! Issue 6 item 1 asks that a crash at any instant of an install, update or delete leaves the
//! previous or the new state (draft-ietf-suit-manifest-34 §6: all-or-nothing install). To test
//! that, a test names one step of the commit path at which the Agent process calls
//! [`std::process::abort`], then reopens the state directory and checks what it finds.
//!
//! The points are compiled in always and are inert unless selected, either by the environment
//! variable [`FAULT_POINT_ENV`] read once by [`super::SoftwareTee::open`] or by
//! [`super::SoftwareTee::set_fault_point`]. Both are local to the device: nothing a TAM, a
//! manifest or the Broker sends can select a point.
//!
//! | name | where the process stops |
//! |---|---|
//! | `commit-begun` | commit started: images staged, no record written yet |
//! | `staging-written` | every staged file written and fsynced, staging directory not yet |
//! | `staging-synced` | staging directory fsynced, no journal yet |
//! | `journal-written` | `journal/commit.tmp` written, not fsynced |
//! | `journal-synced` | `journal/commit.tmp` fsynced, not yet renamed |
//! | `journal-published` | `journal/commit.json` in place and its directory fsynced (commit point) |
//! | `op-N` | after the N-th journal operation (rename or delete, from 1), also during replay |
//! | `applied` | every operation applied and the directories fsynced, journal still present |
//! | `journal-removed` | journal removed, in-memory index not yet reloaded |

use std::fmt;

/// Environment variable naming the [`FaultPoint`] at which the Agent process aborts.
pub const FAULT_POINT_ENV: &str = "TEEP_AGENT_FAULT_POINT";

/// One step of the commit path at which a test can make the process abort.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    /// Commit started: images staged, no record written yet.
    CommitBegun,
    /// Every staged file written and fsynced; the staging directory not yet fsynced.
    StagingWritten,
    /// The staging directory fsynced; no journal yet.
    StagingSynced,
    /// The journal written to its temporary file, not fsynced.
    JournalWritten,
    /// The temporary journal fsynced, not yet renamed into place.
    JournalSynced,
    /// The journal renamed into place and its directory fsynced: the commit point.
    JournalPublished,
    /// After the N-th journal operation (1-based), in a commit or in a replay at open.
    AfterOp(usize),
    /// Every journal operation applied and the directories fsynced; the journal still present.
    Applied,
    /// The journal removed; the in-memory index not yet reloaded.
    JournalRemoved,
}

impl FaultPoint {
    /// Every point without an operation number, in the order the commit path reaches them
    /// (the [`FaultPoint::AfterOp`] points come between `JournalPublished` and `Applied`).
    pub const STEPS: [FaultPoint; 8] = [
        FaultPoint::CommitBegun,
        FaultPoint::StagingWritten,
        FaultPoint::StagingSynced,
        FaultPoint::JournalWritten,
        FaultPoint::JournalSynced,
        FaultPoint::JournalPublished,
        FaultPoint::Applied,
        FaultPoint::JournalRemoved,
    ];

    /// Parses a name of the table in the module documentation.
    pub fn parse(name: &str) -> Option<Self> {
        let point = match name {
            "commit-begun" => Self::CommitBegun,
            "staging-written" => Self::StagingWritten,
            "staging-synced" => Self::StagingSynced,
            "journal-written" => Self::JournalWritten,
            "journal-synced" => Self::JournalSynced,
            "journal-published" => Self::JournalPublished,
            "applied" => Self::Applied,
            "journal-removed" => Self::JournalRemoved,
            other => {
                let n: usize = other.strip_prefix("op-")?.parse().ok()?;
                if n == 0 {
                    return None;
                }
                Self::AfterOp(n)
            }
        };
        Some(point)
    }
}

impl fmt::Display for FaultPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::CommitBegun => "commit-begun",
            Self::StagingWritten => "staging-written",
            Self::StagingSynced => "staging-synced",
            Self::JournalWritten => "journal-written",
            Self::JournalSynced => "journal-synced",
            Self::JournalPublished => "journal-published",
            Self::AfterOp(n) => return write!(f, "op-{n}"),
            Self::Applied => "applied",
            Self::JournalRemoved => "journal-removed",
        };
        f.write_str(name)
    }
}

/// Aborts the process when `selected` is `at`.
pub(super) fn check(selected: Option<FaultPoint>, at: FaultPoint) {
    if selected == Some(at) {
        tracing::error!(fault_point = %at, "aborting at the selected fault point");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for point in FaultPoint::STEPS.into_iter().chain([FaultPoint::AfterOp(1)]) {
            assert_eq!(FaultPoint::parse(&point.to_string()), Some(point));
        }
        assert_eq!(FaultPoint::parse("op-12"), Some(FaultPoint::AfterOp(12)));
        for bad in ["", "op-0", "op-", "op-x", "op--1", "Applied", "journal"] {
            assert_eq!(FaultPoint::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_unselected_point_is_inert() {
        check(None, FaultPoint::Applied);
        check(Some(FaultPoint::AfterOp(2)), FaultPoint::AfterOp(1));
    }
}
