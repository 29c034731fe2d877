//! loadbalance: setup (every option, errors with their place, weight file errors with their
//! line), the weight file format, the weighted choice with a seeded generator, `prefer`'s
//! order, and the chain.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{ask, no_env, router};
use crate::corefile::parse_str;
use crate::plugins::loadbalance::{self, LoadBalance, Policy, cidr_contains, parse_cidr};

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn a(owner: &str, last: u8) -> Record {
    Record::from_rdata(
        name(owner),
        60,
        RData::A(A(Ipv4Addr::new(198, 18, 0, last))),
    )
}

fn aaaa(owner: &str, last: u16) -> Record {
    Record::from_rdata(
        name(owner),
        60,
        RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))),
    )
}

fn setup(text: &str) -> Result<LoadBalance, String> {
    let c = parse_str(
        &format!(".:53 {{\n loadbalance {text}\n}}\n"),
        "Corefile",
        &no_env,
    )
    .map_err(|e| e.to_string())?;
    loadbalance::parse(&c.blocks[0].directives[0]).map_err(|e| e.to_string())
}

/// A weight file in a directory of its own; the directory goes when the value is dropped.
struct TempFile {
    dir: std::path::PathBuf,
    path: String,
}

impl TempFile {
    fn new(tag: &str, text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "signpost-lb-{tag}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("weights");
        std::fs::write(&path, text).unwrap();
        Self {
            path: path.display().to_string(),
            dir,
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const WEIGHTS: &str = "# comment\n\nWWW.example.test\n198.18.0.1 3\n198.18.0.2 1\n  198.18.0.3 2  \n\nv6.example.test.\n2001:db8::1 255\n";

#[test]
fn loadbalance_every_option() {
    let lb = setup("").unwrap();
    assert!(matches!(lb.policy, Policy::RoundRobin) && lb.prefer.is_empty());
    let lb = setup("round_robin {\n prefer 198.18.0.1/15 2001:db8::/32\n prefer 10.0.0.0/8\n }")
        .unwrap();
    assert_eq!(
        lb.prefer,
        [
            parse_cidr("198.18.0.0/15").unwrap(),
            parse_cidr("2001:db8::/32").unwrap(),
            parse_cidr("10.0.0.0/8").unwrap(),
        ]
    );
    let file = TempFile::new("setup", WEIGHTS);
    let lb = setup(&format!("weighted {}", file.path)).unwrap();
    let Policy::Weighted(w) = &lb.policy else {
        panic!("not weighted")
    };
    assert_eq!(w.reload, std::time::Duration::from_secs(30));
    assert_eq!(w.weights()[&name("www.example.test.")].len(), 3);
    let lb = setup(&format!("weighted {} {{\n reload 0\n }}", file.path)).unwrap();
    let Policy::Weighted(w) = &lb.policy else {
        panic!("not weighted")
    };
    assert!(w.reload.is_zero());
    // A missing file is retried when it is reloaded (CoreDNS warns and starts).
    assert!(setup("weighted /nonexistent/signpost/weights").is_ok());
}

#[test]
fn loadbalance_errors_name_the_place() {
    let bad = TempFile::new("bad", "www.example.test\n198.18.0.1 3\n198.18.0.2 0\n");
    let cases = [
        (
            "weighted".to_string(),
            "Corefile:2:14: loadbalance: missing weight file argument".to_string(),
        ),
        (
            "weighted a b".into(),
            "Corefile:2:25: loadbalance: unexpected argument(s)".into(),
        ),
        (
            "weighted w {\n reload\n }".into(),
            "Corefile:3:2: loadbalance: reload duration value is missing".into(),
        ),
        (
            "weighted w {\n reload soon\n }".into(),
            "Corefile:3:9: loadbalance: invalid reload duration 'soon'".into(),
        ),
        (
            "weighted w {\n reload 1s 2s\n }".into(),
            "Corefile:3:12: loadbalance: unexpected argument".into(),
        ),
        (
            "weighted w {\n prefer 198.18.0.0/15\n }".into(),
            "Corefile:3:2: loadbalance: unknown property \"prefer\"".into(),
        ),
        (
            "weighted /nonexistent/signpost/weights {\n reload 0\n }".into(),
            "Corefile:2:23: loadbalance: weight file open error".into(),
        ),
        (
            format!("weighted {}", bad.path),
            format!(
                "Corefile:2:23: loadbalance: {}:3: wrong weight value: \"0\"",
                bad.path
            ),
        ),
        (
            "{\n prefer 198.18.0.0/33\n }".into(),
            "Corefile:3:9: loadbalance: invalid CIDR \"198.18.0.0/33\"".into(),
        ),
        (
            "{\n prefer 198.18.0.0/15 nonsense\n }".into(),
            "Corefile:3:23: loadbalance: invalid CIDR \"nonsense\"".into(),
        ),
        (
            "round_robin {\n reload 10s\n }".into(),
            "Corefile:3:2: loadbalance: unknown property \"reload\"".into(),
        ),
    ];
    for (text, want) in cases {
        let got = setup(&text).unwrap_err();
        assert!(got.starts_with(&want), "{text:?}: {got}");
    }
}

#[test]
fn weight_file_format() {
    let w = loadbalance::parse_weights(WEIGHTS, "w").unwrap();
    assert_eq!(
        w[&name("www.example.test.")],
        [
            ("198.18.0.1".parse::<IpAddr>().unwrap(), 3),
            ("198.18.0.2".parse().unwrap(), 1),
            ("198.18.0.3".parse().unwrap(), 2),
        ]
    );
    assert_eq!(w[&name("v6.example.test.")].len(), 1);
    let cases = [
        ("198.18.0.1 3\n", "w:1: missing domain name"),
        (
            "x.test\n198.18.0.1\n",
            "w:2: wrong domain name: \"198.18.0.1\"",
        ),
        (
            "x.test\nnot-an-ip 3\n",
            "w:2: wrong IP address: \"not-an-ip\"",
        ),
        (
            "x.test\n198.18.0.1 256\n",
            "w:2: wrong weight value: \"256\"",
        ),
        ("x.test\n198.18.0.1 -1\n", "w:2: wrong weight value"),
        (
            "# c\nx.test\n198.18.0.1 1 2\n",
            "w:3: could not parse weight line",
        ),
    ];
    for (text, want) in cases {
        let got = loadbalance::parse_weights(text, "w").unwrap_err();
        assert!(got.starts_with(want), "{text:?}: {got}");
    }
}

#[test]
fn weighted_choice_follows_the_weights() {
    let w = loadbalance::parse_weights(WEIGHTS, "w").unwrap();
    // Heaviest first: .1 (3), .3 (2), .2 (1): draws 0-2, 3-4, 5.
    let addresses = [
        a("www.example.test.", 1),
        a("www.example.test.", 2),
        a("www.example.test.", 3),
    ];
    for (draw, want) in [(0, 0), (2, 0), (3, 2), (4, 2), (5, 1)] {
        assert_eq!(
            loadbalance::top_index(&addresses, &w, |n| {
                assert_eq!(n, 6);
                draw
            }),
            want,
            "draw {draw}"
        );
    }
    // Unlisted addresses (and other names) weigh 1.
    let other = [a("other.test.", 1), a("other.test.", 2)];
    assert_eq!(loadbalance::top_index(&other, &w, |n| n - 1), 1);
    // Seeded: the ratio converges to 3:1:2.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut counts = [0u32; 3];
    for _ in 0..6000 {
        counts[loadbalance::top_index(&addresses, &w, |n| rng.u32(..n))] += 1;
    }
    for (got, want) in counts.iter().zip([3000, 1000, 2000]) {
        assert!(got.abs_diff(want) < 200, "{counts:?}");
    }
}

#[test]
fn weighted_moves_the_choice_to_the_top() {
    let w = loadbalance::parse_weights(WEIGHTS, "w").unwrap();
    let mx = Record::from_rdata(
        name("www.example.test."),
        60,
        RData::MX(MX::new(10, name("mail.example.test."))),
    );
    let alias = Record::from_rdata(
        name("web.example.test."),
        60,
        RData::CNAME(CNAME(name("www.example.test."))),
    );
    let mut records = vec![
        a("www.example.test.", 1),
        mx.clone(),
        alias.clone(),
        a("www.example.test.", 2),
        a("www.example.test.", 3),
    ];
    // Draw 5: .2, swapped with the first address.
    loadbalance::weighted(&mut records, &w, |_| 5);
    assert_eq!(
        records,
        [
            alias,
            a("www.example.test.", 2),
            a("www.example.test.", 1),
            a("www.example.test.", 3),
            mx.clone()
        ]
    );
    // A section without addresses is untouched.
    let mut only_mx = vec![mx.clone(), mx];
    loadbalance::weighted(&mut only_mx, &w, |_| panic!("no draw"));
    assert_eq!(only_mx.len(), 2);
}

#[test]
fn cidr_parse_and_contains() {
    let cases = [
        ("198.18.0.0/15", "198.19.255.255", true),
        ("198.18.0.0/15", "198.20.0.0", false),
        ("198.18.7.9/32", "198.18.7.9", true),
        ("0.0.0.0/0", "203.0.113.1", true),
        ("2001:db8::/32", "2001:db8:ffff::1", true),
        ("2001:db8::/32", "198.18.0.1", false),
        ("198.18.0.0/15", "::ffff:198.18.0.1", true),
        ("::/0", "2001:db8::1", true),
    ];
    for (cidr, ip, want) in cases {
        let c = parse_cidr(cidr).unwrap();
        assert_eq!(cidr_contains(&c, ip.parse().unwrap()), want, "{cidr} {ip}");
    }
    for bad in [
        "198.18.0.0",
        "198.18.0.0/",
        "198.18.0.0/33",
        "::/129",
        "x/8",
        "1.2.3.4/+8",
    ] {
        assert!(parse_cidr(bad).is_none(), "{bad}");
    }
}

#[test]
fn prefer_orders_by_subnet() {
    let subnets = [
        parse_cidr("2001:db8::/32").unwrap(),
        parse_cidr("198.18.0.2/31").unwrap(),
    ];
    let mx = Record::from_rdata(name("x."), 60, RData::MX(MX::new(10, name("mail.x."))));
    let alias = Record::from_rdata(name("y."), 60, RData::CNAME(CNAME(name("x."))));
    let mut records = vec![
        mx.clone(),
        a("x.", 1),
        a("x.", 3),
        aaaa("x.", 1),
        alias.clone(),
        a("x.", 2),
    ];
    loadbalance::prefer(&mut records, &subnets);
    assert_eq!(
        records,
        [alias, aaaa("x.", 1), a("x.", 3), a("x.", 2), a("x.", 1), mx]
    );
}

/// The weight file is read again when it changes; a bad new file keeps the last good weights.
#[test]
fn weight_file_reload() {
    let file = TempFile::new("reload", "www.example.test\n198.18.0.1 3\n");
    let lb = setup(&format!("weighted {}", file.path)).unwrap();
    let Policy::Weighted(w) = &lb.policy else {
        panic!("not weighted")
    };
    let www = name("www.example.test.");
    assert_eq!(w.weights()[&www][0].1, 3);
    std::fs::write(&file.path, "www.example.test\n198.18.0.1 9\n").unwrap();
    w.refresh();
    assert_eq!(w.weights()[&www][0].1, 9);
    std::fs::write(&file.path, "www.example.test\n198.18.0.1 nine\n").unwrap();
    w.refresh();
    assert_eq!(w.weights()[&www][0].1, 9);
}

/// In the chain: `prefer` puts the pod in the preferred subnet first on every answer.
#[tokio::test]
async fn prefer_in_the_chain() {
    let r = router(
        ".:53 {\n loadbalance round_robin {\n  prefer 198.19.2.2/32\n }\n kubernetes cluster.local\n}\n",
    );
    for _ in 0..16 {
        let m = ask(&r, "db.prod.svc.cluster.local.").await;
        assert!(m.answers.len() >= 2);
        assert_eq!(m.answers[0].record_type(), RecordType::A);
        assert_eq!(m.answers[0].data, RData::A(A(Ipv4Addr::new(198, 19, 2, 2))));
    }
}

/// In the chain: with weight 255 against 1 for the others, the heavy pod is nearly always first.
#[tokio::test]
async fn weighted_in_the_chain() {
    let file = TempFile::new("chain", "db.prod.svc.cluster.local\n198.19.2.2 255\n");
    let r = router(&format!(
        ".:53 {{\n loadbalance weighted {} {{\n  reload 0\n }}\n kubernetes cluster.local\n}}\n",
        file.path
    ));
    let mut heavy = 0;
    for _ in 0..100 {
        let m = ask(&r, "db.prod.svc.cluster.local.").await;
        if m.answers[0].data == RData::A(A(Ipv4Addr::new(198, 19, 2, 2))) {
            heavy += 1;
        }
    }
    assert!(heavy > 90, "{heavy}");
}
