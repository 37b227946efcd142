//! Who performs an administrative operation, and with which role (RFC 9397 §2–4: the TAM
//! serves Trusted Component developers and device administrators; an operator runs it).
//!
//! Every [`Admin`](crate::Admin) carries an [`Actor`]. The `teep tam` commands act as the
//! operator `cli` (whoever can read the TAM's database is its operator); the admin REST API
//! acts as the principal its API token or client certificate names. Authorisation checks
//! and the audit log both use the actor.

use std::fmt;

/// What an actor may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Runs the TAM: everything.
    Operator,
    /// A Trusted Component developer: its own TC signer keys and the Trusted Components they
    /// authenticate, nothing else.
    Developer,
    /// A device administrator: its own device groups, their devices, policies and rollouts.
    DeviceAdmin,
}

impl Role {
    /// The name used in tokens, the database and the API (`operator`, `developer`,
    /// `device-admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Developer => "developer",
            Role::DeviceAdmin => "device-admin",
        }
    }

    /// Parses [`Role::as_str`]'s names.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "operator" => Some(Role::Operator),
            "developer" => Some(Role::Developer),
            "device-admin" => Some(Role::DeviceAdmin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named principal with a role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Actor {
    /// The principal's name (unique among principals).
    pub name: String,
    /// Its role.
    pub role: Role,
}

impl Actor {
    /// The actor of the `teep tam` commands: the operator `cli`.
    pub fn cli() -> Actor {
        Actor { name: "cli".to_owned(), role: Role::Operator }
    }

    /// An actor with the given name and role.
    pub fn new(name: impl Into<String>, role: Role) -> Actor {
        Actor { name: name.into(), role }
    }

    /// True for the operator role.
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in [Role::Operator, Role::Developer, Role::DeviceAdmin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(Actor::cli().is_operator());
    }
}
