//! The registry row: how a plugin is listed in the one table of plugins
//! (`plugins::REGISTRY`, our plugin.cfg). A row's position is the plugin's place in
//! every chain, whatever order a Corefile lists it in; its role says what the server does with
//! the plugin's directives.

use std::net::IpAddr;

use super::setup::{BlockSetup, SetupError};
use crate::corefile::{Corefile, CorefileError, Directive};

/// Sets a plugin up in one server block from its directives there (one, or every line of a
/// plugin that repeats): adds its handler to the chain, its HTTP endpoints, its readiness,
/// its start-up work (see [`BlockSetup`]). Owns every error message about its directives.
pub type SetupFn = fn(&mut BlockSetup<'_>, &[&Directive]) -> Result<(), SetupError>;

/// The addresses a block listens on, from its directives (CoreDNS's `bind`), read before the
/// block is set up.
pub type ListenFn = fn(&[&Directive]) -> Result<Vec<IpAddr>, SetupError>;

/// What the server does with a plugin's directives.
#[derive(Clone, Copy)]
pub enum Role {
    /// A CoreDNS plugin Signpost does not build in: a Corefile naming it is refused with a
    /// message that says so (rather than "unknown plugin").
    Unsupported,
    /// Set up once per server block by its [`SetupFn`].
    Setup(SetupFn),
    /// Chooses the block's listening addresses.
    Listen(ListenFn),
}

/// One row of the registry.
#[derive(Clone, Copy)]
pub struct Registration {
    /// The Corefile directive (and the `plugin` label of metrics).
    pub name: &'static str,
    /// Several lines of the plugin in one block make one plugin (rewrite rules, log rules,
    /// bind addresses); for the others a second line is an error.
    pub repeats: bool,
    pub role: Role,
}

impl Registration {
    pub const fn unsupported(name: &'static str) -> Self {
        Self {
            name,
            repeats: false,
            role: Role::Unsupported,
        }
    }

    pub const fn setup(name: &'static str, setup: SetupFn) -> Self {
        Self {
            name,
            repeats: false,
            role: Role::Setup(setup),
        }
    }

    /// A plugin whose lines in one block add up (see [`Registration::repeats`]).
    pub const fn repeated(name: &'static str, setup: SetupFn) -> Self {
        Self {
            name,
            repeats: true,
            role: Role::Setup(setup),
        }
    }

    pub const fn listen(name: &'static str, listen: ListenFn) -> Self {
        Self {
            name,
            repeats: true,
            role: Role::Listen(listen),
        }
    }

    pub fn supported(&self) -> bool {
        !matches!(self.role, Role::Unsupported)
    }
}

/// A plugin's place in `registry` and its row.
pub fn find<'r>(registry: &'r [Registration], name: &str) -> Option<(usize, &'r Registration)> {
    registry.iter().enumerate().find(|(_, r)| r.name == name)
}

/// Checks that every directive of every block names a plugin the registry supports.
pub fn check_plugins(corefile: &Corefile, registry: &[Registration]) -> Result<(), CorefileError> {
    for block in &corefile.blocks {
        for d in &block.directives {
            match find(registry, &d.name) {
                Some((_, row)) if row.supported() => {}
                Some(_) => {
                    return Err(CorefileError::UnsupportedPlugin(
                        d.location.clone(),
                        d.name.clone(),
                    ));
                }
                None if d.name == "multicluster" => {
                    return Err(CorefileError::MulticlusterDirective(d.location.clone()));
                }
                None => {
                    return Err(CorefileError::UnknownPlugin(
                        d.location.clone(),
                        d.name.clone(),
                    ));
                }
            }
        }
    }
    Ok(())
}
