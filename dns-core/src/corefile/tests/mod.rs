//! Corefile parser table tests: structure, env, snippets, imports, and every error's location.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

fn env(key: &str) -> Option<String> {
    match key {
        "ZONE" => Some("cluster.local".into()),
        "PORT" => Some("5353".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn parse_ok(src: &str) -> Corefile {
    parse_str(src, "Corefile", &env).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(src: &str) -> String {
    parse_str(src, "Corefile", &env)
        .expect_err("should fail")
        .to_string()
}

struct MapReader(BTreeMap<PathBuf, String>);

impl SourceReader for MapReader {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not found"))
    }
    fn glob(&self, pattern: &Path) -> std::io::Result<Vec<PathBuf>> {
        let pattern = pattern.to_string_lossy();
        Ok(self
            .0
            .keys()
            .filter(|k| glob_match(&pattern, &k.to_string_lossy()))
            .cloned()
            .collect())
    }
}

#[test]
fn kubeadm_default_corefile() {
    let src = include_str!("../../../../examples/kubeadm.Corefile");
    let c = parse_ok(src);
    assert_eq!(c.blocks.len(), 1);
    let b = &c.blocks[0];
    assert_eq!(
        b.keys,
        vec![ServerKey {
            scheme: Scheme::Dns,
            zone: Name::root(),
            port: 53
        }]
    );
    let names: Vec<&str> = b.directives.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "errors",
            "health",
            "ready",
            "kubernetes",
            "prometheus",
            "forward",
            "cache",
            "loop",
            "reload",
            "loadbalance"
        ]
    );
    let k = &b.directives[3];
    assert_eq!(
        k.arg_values().collect::<Vec<_>>(),
        ["cluster.local", "in-addr.arpa", "ip6.arpa"]
    );
    assert_eq!(k.block.len(), 3);
    assert_eq!(
        k.block[1].arg_values().collect::<Vec<_>>(),
        ["in-addr.arpa", "ip6.arpa"]
    );
    // Lines count from the file's top (two comment lines precede the block).
    assert_eq!(k.location.to_string(), "Corefile:9:5");
    assert_eq!(k.block[2].args[0].location.to_string(), "Corefile:12:12");
    // Every plugin kubeadm's Corefile uses is supported.
    assert_eq!(
        crate::plugin::registry::check_plugins(&c, crate::plugins::REGISTRY),
        Ok(())
    );
}

use hickory_proto::rr::Name;

#[test]
fn server_keys() {
    let c = parse_ok("cluster.local:5353 dns://Example.ORG, 198.18.0.0/16:53 2001:db8::/32 {\n}\n");
    let keys: Vec<(String, u16)> = c.blocks[0]
        .keys
        .iter()
        .map(|k| (k.zone.to_string(), k.port))
        .collect();
    assert_eq!(
        keys,
        [
            ("cluster.local.".to_string(), 5353),
            ("example.org.".to_string(), 53),
            ("18.198.in-addr.arpa.".to_string(), 53),
            ("8.b.d.0.1.0.0.2.ip6.arpa.".to_string(), 53),
        ]
    );
    assert!(parse_err("a.b:99999 {\n}").contains("Corefile:1:1: invalid server key \"a.b:99999\""));
    assert!(parse_err("198.18.0.0/12 {\n}").contains("prefix"));
    assert!(parse_err("tls://.:853 {\n}").contains("only dns://"));
}

#[test]
fn several_blocks_and_ports() {
    let c = parse_ok("cluster.local:53 {\n  kubernetes\n}\n\n.:5353 {\n  log\n  errors\n}\n");
    assert_eq!(c.blocks.len(), 2);
    assert_eq!(c.blocks[1].keys[0].port, 5353);
    assert_eq!(c.blocks[1].location.to_string(), "Corefile:5:1");
}

#[test]
fn comments_and_quotes() {
    let c = parse_ok(
        "# top\n.:53 { # open\n  log . \"{remote} - {type} # not a comment\" # trailing\n}\n",
    );
    let log = &c.blocks[0].directives[0];
    assert_eq!(
        log.arg_values().collect::<Vec<_>>(),
        [".", "{remote} - {type} # not a comment"]
    );
    assert_eq!(log.args[1].location.to_string(), "Corefile:3:9");
    let c = parse_ok(".:53 {\n  log \"say \\\"hi\\\"\"\n}");
    assert_eq!(c.blocks[0].directives[0].args[0].value, "say \"hi\"");
}

#[test]
fn env_substitution() {
    let c = parse_ok(
        "{$ZONE}:{$PORT} {\n  kubernetes {$ZONE} {$MISSING:fallback} x{$EMPTY:d}y {$MISSING}\n}\n",
    );
    assert_eq!(c.blocks[0].keys[0].zone.to_string(), "cluster.local.");
    assert_eq!(c.blocks[0].keys[0].port, 5353);
    let args: Vec<&str> = c.blocks[0].directives[0].arg_values().collect();
    assert_eq!(args, ["cluster.local", "fallback", "xdy", ""]);
}

#[test]
fn snippets() {
    let src = "(common) {\n  errors\n  log\n}\n\n.:53 {\n  import common\n  kubernetes\n}\ncluster.local:54 {\n  import common\n}\n";
    let c = parse_ok(src);
    let names: Vec<&str> = c.blocks[0]
        .directives
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["errors", "log", "kubernetes"]);
    assert_eq!(c.blocks[1].directives.len(), 2);
    // A directive keeps the location where the snippet wrote it.
    assert_eq!(
        c.blocks[0].directives[0].location.to_string(),
        "Corefile:2:3"
    );
    // Two pastes of one snippet in a row stay two directives each.
    let c = parse_ok("(one) {\n  log\n}\n.:53 {\n  import one\n  import one\n}\n");
    assert_eq!(c.blocks[0].directives.len(), 2);
    assert!(c.blocks[0].directives.iter().all(|d| d.args.is_empty()));
    assert!(
        parse_err("(a) {\n import b\n}\n(b) {\n import a\n}\n.:53 {\n import a\n}\n")
            .contains("import cycle")
    );
    assert_eq!(
        parse_err("(a) {\n}\n(a) {\n}\n"),
        "Corefile:3:1: snippet \"a\" is defined twice"
    );
}

#[test]
fn file_imports() {
    let reader = MapReader(
        [
            (
                PathBuf::from("/etc/coredns/Corefile"),
                ".:53 {\n  import plugins/*.conf\n}\nimport extra.server\n".to_string(),
            ),
            (
                PathBuf::from("/etc/coredns/plugins/a.conf"),
                "errors\n".to_string(),
            ),
            (
                PathBuf::from("/etc/coredns/plugins/b.conf"),
                "log\n".to_string(),
            ),
            (
                PathBuf::from("/etc/coredns/extra.server"),
                "example.org:53 {\n  log\n}\n".to_string(),
            ),
            (
                PathBuf::from("/etc/coredns/loop"),
                "import loop\n".to_string(),
            ),
        ]
        .into(),
    );
    let path = Path::new("/etc/coredns/Corefile");
    let src = reader.read(path).unwrap();
    let c = parse(&src, path, &env, &reader).unwrap();
    assert_eq!(c.blocks.len(), 2);
    let names: Vec<&str> = c.blocks[0]
        .directives
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["errors", "log"]);
    assert_eq!(
        c.blocks[0].directives[1].location.to_string(),
        "/etc/coredns/plugins/b.conf:1:1"
    );
    let e = parse(
        "import loop\n",
        Path::new("/etc/coredns/loop"),
        &env,
        &reader,
    )
    .unwrap_err();
    assert!(e.to_string().contains("import cycle"), "{e}");
    let e = parse(".:53 {\n  import nothing.conf\n}", path, &env, &reader).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/coredns/Corefile:2:10: import \"nothing.conf\": no such file or snippet"
    );
    // parse_str has no files at all.
    assert!(parse_err(".:53 {\n import x.conf\n}").contains("Corefile:2:9: import"));
}

#[test]
fn errors_carry_file_line_col() {
    let cases = [
        (
            ".:53 {\n  log\n",
            "Corefile:1:6: missing '}' to close the block opened here",
        ),
        (".:53 {\n  log\n}\n}\n", "Corefile:4:1: unexpected '}'"),
        (
            ".:53\n",
            "Corefile:1:1: server block has no '{' after its keys",
        ),
        (
            ".:53 {\n  log \"open\n}\n",
            "Corefile:2:7: unterminated quoted string",
        ),
        ("{\n}\n", "Corefile:1:1: unexpected '{'"),
        (
            ".:53 {\n  kubernetes {\n    pods insecure\n}\n",
            "Corefile:1:6: missing '}' to close the block opened here",
        ),
        (".:53 {\n  {\n}\n", "Corefile:2:3: unexpected '{'"),
    ];
    for (src, want) in cases {
        assert_eq!(parse_err(src), want, "{src:?}");
    }
}

#[test]
fn hostile_input_never_panics() {
    let deep = format!(".:53 {{\n{}\n", "a {\n".repeat(10_000));
    assert!(
        parse_err(&deep).contains("nesting deeper") || parse_err(&deep).contains("missing '}'")
    );
    let deep_closed = format!(".:53 {{\n{}{}}}\n", "a {\n".repeat(100), "}\n".repeat(100));
    assert!(parse_err(&deep_closed).contains("nesting deeper than 32"));
    let huge = format!(".:53 {{\n log {}\n}}", "x".repeat(100_000));
    assert!(parse_err(&huge).contains("token too long"));
    for src in [
        "",
        "\"",
        "}",
        "{",
        "(",
        "()",
        "(x)",
        "(x) {",
        "import",
        "{$",
        "{$X",
        ".:53 { import }",
        "\u{0}\u{ffff}",
        "a:b:c {\n}",
    ] {
        let _ = parse_str(src, "Corefile", &env);
    }
    assert_eq!(parse_ok("").blocks.len(), 0);
}

/// Go's duration syntax, as Corefile options and node-cache's flags take it.
#[test]
fn durations_in_go_syntax() {
    use std::time::Duration;
    let ok = [
        ("0", Duration::ZERO),
        ("250ms", Duration::from_millis(250)),
        ("2s", Duration::from_secs(2)),
        ("1.5s", Duration::from_millis(1500)),
        ("1m", Duration::from_secs(60)),
        ("2h", Duration::from_secs(7200)),
        ("10us", Duration::from_micros(10)),
        ("5ns", Duration::from_nanos(5)),
    ];
    for (text, want) in ok {
        assert_eq!(crate::corefile::parse_duration(text), Ok(want), "{text}");
    }
    for bad in ["250", "", "s", "1d", "-1s", "1e400s", "x5s"] {
        assert!(crate::corefile::parse_duration(bad).is_err(), "{bad}");
    }
}

/// k3s and AKS import `custom/*.override` from an optional ConfigMap's mount: no directory is
/// no match, as Go's filepath.Glob has it, not an error.
#[test]
fn a_glob_in_a_missing_directory_matches_nothing() {
    use crate::corefile::{FsReader, SourceReader};
    let dir = std::env::temp_dir().join(format!("signpost-no-such-dir-{}", std::process::id()));
    assert!(
        FsReader
            .glob(&dir.join("custom/*.override"))
            .unwrap()
            .is_empty()
    );
}
