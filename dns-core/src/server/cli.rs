//! What both binaries' command lines share: Go-style single-dash flags (CoreDNS's and
//! node-cache's `-conf`, `-plugins`, `-localip`), and the `check` subcommand's report and exit
//! code.

use std::path::Path;

use crate::corefile::{Corefile, CorefileError};
use crate::plugin::build::Dependencies;
use crate::plugin::registry::Registration;

/// Go's flag package takes `-flag` as `--flag`; CoreDNS's and node-cache's manifests are
/// written that way.
pub fn go_style_args(args: impl Iterator<Item = String>) -> Vec<String> {
    args.enumerate()
        .map(|(i, arg)| {
            let single_dash_word = arg.len() > 2
                && arg.starts_with('-')
                && !arg.starts_with("--")
                && arg[1..].starts_with(|c: char| c.is_ascii_alphabetic());
            if i > 0 && single_dash_word {
                format!("-{arg}")
            } else {
                arg
            }
        })
        .collect()
}

/// `check` exits 0: the Corefile starts (some parts may be accepted and ignored).
pub const CHECK_STARTS: i32 = 0;
/// `check` exits 1: a part is refused; the Corefile would not start.
pub const CHECK_REFUSED: i32 = 1;
/// `check` exits 2: the Corefile could not be read or parsed.
pub const CHECK_UNREADABLE: i32 = 2;

/// `check --conf FILE`: prints every server block and plugin of the Corefile at `path` with
/// its verdict to stdout (errors reading it to stderr) and returns the exit code.
pub fn check(path: &Path, deps: &Dependencies, registry: &[Registration]) -> i32 {
    check_parsed(path, crate::corefile::load(path), deps, registry)
}

/// [`check`] of a Corefile already read (nodelocal fills its template first).
pub fn check_parsed(
    path: &Path,
    corefile: Result<Corefile, CorefileError>,
    deps: &Dependencies,
    registry: &[Registration],
) -> i32 {
    match corefile {
        Err(e) => {
            eprintln!("{e}");
            println!("{}: would not start", path.display());
            CHECK_UNREADABLE
        }
        Ok(corefile) => {
            let report = crate::plugin::build::check(&corefile, deps, registry);
            print!("{report}");
            if report.starts() {
                println!("{}: starts", path.display());
                CHECK_STARTS
            } else {
                println!("{}: would not start", path.display());
                CHECK_REFUSED
            }
        }
    }
}

/// `-plugins`: the plugins built in, as CoreDNS's flag lists them.
pub fn plugin_list(registry: &[Registration]) -> String {
    let mut names: Vec<&str> = registry
        .iter()
        .filter(|r| r.supported())
        .map(|r| r.name)
        .collect();
    names.sort_unstable();
    let mut out = String::from(
        "Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\nOther plugins:\n",
    );
    for name in names {
        out.push_str("  dns.");
        out.push_str(name);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::go_style_args;

    #[test]
    fn single_dash_words_become_long_flags() {
        let args = ["prog", "-conf", "x", "--plugins", "-5", "-", "check"].map(String::from);
        assert_eq!(
            go_style_args(args.into_iter()),
            ["prog", "--conf", "x", "--plugins", "-5", "-", "check"]
        );
    }
}
