//! The differential test: one generated cluster state on the test control plane (with
//! ServiceImports for `clusterset.local`, the `multicluster` zone), CoreDNS
//! (`$SIGNPOST_COREDNS`, built by scripts/baseline/coredns-build) and cluster-dns both watching
//! it with one Corefile, thousands of generated questions asked of both, and the answers
//! compared: rcode, flags, question, EDNS, and the answer, authority and additional sections as
//! multisets (the SOA serial aside) with their TTLs. Several Corefiles each get a pair of
//! servers and every question ([`COREFILES`]); a fifth pair runs `autopath @kubernetes` and is
//! asked from a pod's own address, in a network namespace the test makes (so it runs as root,
//! as `scripts/test` does). Every difference must be allowed by an entry of
//! `tests/differential/allowlist.yaml` that names a row of `docs/differences.md`;
//! a new one fails with the question and both answers.
//!
//! `SIGNPOST_DIFF_SEED` (default 1) and `SIGNPOST_DIFF_SIZE` (services per namespace, default
//! 3) choose the state; `scripts/differential [SEED] [SIZE]` runs a bigger one.
//! `SIGNPOST_DIFF_ALL=1` prints every group, allowed ones too, with an example each;
//! `SIGNPOST_DIFF_DUMP=<file>` writes every difference there.

#[path = "differential/compare.rs"]
mod compare;
#[path = "differential/questions.rs"]
mod questions;
#[path = "differential/state.rs"]
mod state;

use std::time::{Duration, Instant};

use compare::{Difference, ask, ask_at, aspects, group, load_allowlist};
use signpost_tests::baseline::Server;
use signpost_tests::{ControlPlane, workspace_root};

/// The Corefiles each server pair runs (one Corefile for both servers of a pair); `{BIND}` is
/// `bind 127.0.0.1` for CoreDNS (see `Server::coredns`). `multicluster`: pods verified, the
/// clusterset zone, `zonal` (its names are not defined in the clusterset zone), no
/// fallthrough; `kubeadm`: the options of kubeadm's Corefile (pods
/// insecure, fallthrough for the reverse zones, with nothing after it) and
/// endpoint_pod_names; `options`: options that hide names (`namespaces`, `ignore
/// empty_service`) and `ttl 0`; `noendpoints`: that option alone (pods disabled).
const COREFILES: &[(&str, &str)] = &[
    ("multicluster", COREFILE),
    ("kubeadm", KUBEADM),
    ("options", OPTIONS),
    ("noendpoints", NOENDPOINTS),
];

const COREFILE: &str = ".:{PORT} {
    {BIND}
    ready 127.0.0.1:{READY}
    kubernetes cluster.local clusterset.local in-addr.arpa ip6.arpa {
        kubeconfig {KUBECONFIG}
        pods verified
        ttl 30
        multicluster clusterset.local
        zonal
    }
}
";

const KUBEADM: &str = ".:{PORT} {
    {BIND}
    ready 127.0.0.1:{READY}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig {KUBECONFIG}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
        endpoint_pod_names
    }
}
";

const OPTIONS: &str = ".:{PORT} {
    {BIND}
    ready 127.0.0.1:{READY}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig {KUBECONFIG}
        namespaces prod svc default
        ignore empty_service
        ttl 0
    }
}
";

/// `autopath @kubernetes` for the pod `prod/autopath-client`, whose address is in a network
/// namespace linked to the host's `AUTOPATH_HOST_IP`, where both servers listen too. `hosts`
/// answers the names outside the cluster zones (NXDOMAIN) as `forward` would in a cluster,
/// so the search walk's last step, the bare name, gets an answer.
const AUTOPATH: &str = ".:{PORT} {
    bind 127.0.0.1 {AUTOPATH_HOST_IP}
    ready 127.0.0.1:{READY}
    autopath @kubernetes
    hosts {
        198.19.252.1 hosted.example
        fallthrough cluster.local in-addr.arpa ip6.arpa
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig {KUBECONFIG}
        pods verified
        ttl 30
    }
}
";

const NOENDPOINTS: &str = ".:{PORT} {
    {BIND}
    ready 127.0.0.1:{READY}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig {KUBECONFIG}
        noendpoints
    }
}
";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_as_coredns_does() {
    let started = Instant::now();
    let seed = env_number("SIGNPOST_DIFF_SEED", 1);
    let size = env_number("SIGNPOST_DIFF_SIZE", 3) as usize;
    let root = workspace_root();
    let allowlist = load_allowlist(
        &std::fs::read_to_string(root.join("tests/differential/allowlist.yaml"))
            .expect("tests/differential/allowlist.yaml"),
        &std::fs::read_to_string(root.join("docs/differences.md")).expect("docs/differences.md"),
    );

    // Built (or found fresh) before anything is timed: `cargo build` may wait for the
    // package cache lock.
    let binary = signpost_tests::cluster_dns_binary();
    println!(
        "{} found in {:.1}s",
        binary.display(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let cp = ControlPlane::shared();
    let client = cp.client().await;
    let mut state = state::State::generate(seed, size);
    state.apply(&client).await;
    println!(
        "seed {seed}, size {size}: {} (applied in {:.1}s)",
        state.summary(),
        started.elapsed().as_secs_f64()
    );
    for refused in &state.refused {
        println!("  refused: {refused}");
    }

    // The autopath pod's network namespace: its address must exist before the servers bind
    // the host's end of the link.
    let pod_net = signpost_tests::netns::NetNs::new(
        "diff-autopath",
        state::AUTOPATH_HOST_IP,
        state::AUTOPATH_POD_IP,
    );
    let autopath_corefile = AUTOPATH.replace("{AUTOPATH_HOST_IP}", state::AUTOPATH_HOST_IP);
    let mut autopath = (
        Server::coredns(&autopath_corefile, cp.kubeconfig()),
        Server::cluster_dns(&autopath_corefile, cp.kubeconfig()),
    );
    // All start after the state is in place: each lists it once and serves when synced.
    let mut pairs: Vec<(&str, Server, Server)> = COREFILES
        .iter()
        .map(|(name, corefile)| {
            (
                *name,
                Server::coredns(corefile, cp.kubeconfig()),
                Server::cluster_dns(corefile, cp.kubeconfig()),
            )
        })
        .collect();
    for server in pairs
        .iter_mut()
        .flat_map(|(_, theirs, ours)| [theirs, ours])
        .chain([&mut autopath.0, &mut autopath.1])
    {
        server.wait_serving(Duration::from_secs(60));
        println!(
            "{} serving after {:.1}s",
            server.name,
            started.elapsed().as_secs_f64()
        );
        server.wait_ready(Duration::from_secs(60));
        println!(
            "{} ready after {:.1}s",
            server.name,
            started.elapsed().as_secs_f64()
        );
    }
    let setup = started.elapsed();
    if std::env::var_os("SIGNPOST_DIFF_LOGS").is_some() {
        for (name, theirs, ours) in &pairs {
            println!(
                "[{name}] CoreDNS log:\n{}\ncluster-dns log:\n{}",
                theirs.log(),
                ours.log()
            );
        }
    }

    let questions = questions::generate(&state, seed);
    let asked = Instant::now();
    let workers = 8;
    let mut diffs: Vec<Difference> = Vec::new();
    // Zonal names CoreDNS answered with records: proof the state's endpoint zones reached both
    // servers, so agreeing on them is not agreeing on NODATA alone.
    let mut zonal_answered = 0;
    for (corefile, theirs, ours) in &pairs {
        let (theirs_port, ours_port) = (theirs.port, ours.port);
        let corefile: &'static str = COREFILES
            .iter()
            .find(|(n, _)| n == corefile)
            .map(|(n, _)| *n)
            .unwrap_or("?");
        diffs.extend(std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let questions = &questions;
                    scope.spawn(move || {
                        let mut diffs = Vec::new();
                        let mut zonal_answered = 0;
                        for (i, q) in questions.iter().enumerate().skip(w).step_by(workers) {
                            let id = (i as u16).wrapping_mul(7919).wrapping_add(1);
                            let theirs = ask(theirs_port, id, q);
                            let ours = ask(ours_port, id, q);
                            if q.form.starts_with("zonal-pin-")
                                && theirs.as_ref().is_ok_and(|r| !r.answer.is_empty())
                            {
                                zonal_answered += 1;
                            }
                            let aspects = aspects(&theirs, &ours);
                            if !aspects.is_empty() {
                                diffs.push(Difference {
                                    corefile,
                                    question: q.clone(),
                                    theirs,
                                    ours,
                                    aspects,
                                });
                            }
                        }
                        (diffs, zonal_answered)
                    })
                })
                .collect();
            let mut all = Vec::new();
            for h in handles {
                let (diffs, answered) = h.join().expect("a worker panicked");
                all.extend(diffs);
                zonal_answered += answered;
            }
            all
        }));
    }
    // Autopath: from the pod's address, to the host's end of its link.
    let autopath_questions = questions::autopath(&state, seed);
    let (theirs_port, ours_port) = (autopath.0.port, autopath.1.port);
    let host: std::net::Ipv4Addr = state::AUTOPATH_HOST_IP.parse().expect("an IPv4 address");
    diffs.extend(pod_net.run_in(|| {
        let mut diffs = Vec::new();
        for (i, q) in autopath_questions.iter().enumerate() {
            let id = (i as u16).wrapping_mul(7919).wrapping_add(3);
            let theirs = ask_at(host, theirs_port, id, q);
            let ours = ask_at(host, ours_port, id, q);
            let aspects = aspects(&theirs, &ours);
            if !aspects.is_empty() {
                diffs.push(Difference {
                    corefile: "autopath",
                    question: q.clone(),
                    theirs,
                    ours,
                    aspects,
                });
            }
        }
        diffs
    }));
    for (_, theirs, ours) in &mut pairs {
        theirs.assert_running();
        ours.assert_running();
    }
    autopath.0.assert_running();
    autopath.1.assert_running();
    let questions_asked = questions.len() * pairs.len() + autopath_questions.len();
    println!("zonal names CoreDNS answered with records: {zonal_answered}");
    assert!(
        zonal_answered > 0,
        "no zonal name got records from CoreDNS: the endpoints' zones did not reach it"
    );

    if let Some(path) = std::env::var_os("SIGNPOST_DIFF_DUMP") {
        let text: String = diffs
            .iter()
            .map(|d| format!("== {}\n{}", d.group(), d.show()))
            .collect();
        std::fs::write(&path, text).expect("write SIGNPOST_DIFF_DUMP");
    }
    let show_all = std::env::var_os("SIGNPOST_DIFF_ALL").is_some();
    let groups = group(&diffs);
    let mut new_groups = Vec::new();
    let mut allowed_count = 0;
    let mut used = vec![false; allowlist.len()];
    println!(
        "{questions_asked} questions ({} for each of {} Corefiles, {} for autopath), {} differ ({:.1}%), in {} groups; setup {:.1}s, questions {:.1}s",
        questions.len(),
        pairs.len(),
        autopath_questions.len(),
        diffs.len(),
        100.0 * diffs.len() as f64 / questions_asked.max(1) as f64,
        groups.len(),
        setup.as_secs_f64(),
        asked.elapsed().as_secs_f64()
    );
    for d in &diffs {
        match allowlist.iter().position(|a| a.allows(d)) {
            Some(i) => {
                used[i] = true;
                allowed_count += 1;
            }
            None => new_groups.push(d.group()),
        }
    }
    new_groups.sort();
    new_groups.dedup();
    for (name, (count, example)) in &groups {
        let entry = allowlist.iter().find(|a| a.allows(example));
        let verdict = match entry {
            Some(a) if a.pending_fix => format!("allowed, pending fix ({})", a.row),
            Some(a) => format!("allowed ({})", a.row),
            None => "NEW".to_string(),
        };
        println!("  {count:5}  {name}  -- {verdict}");
        if show_all || entry.is_none() {
            print!("{}", example.show());
        }
    }
    for (entry, used) in allowlist.iter().zip(&used) {
        if !used {
            println!(
                "  (allowlist entry for {} matched nothing this run)",
                entry.row
            );
        }
    }
    println!(
        "{allowed_count} differences allowed, {} not; total {:.1}s",
        diffs.len() - allowed_count,
        started.elapsed().as_secs_f64()
    );
    assert!(
        new_groups.is_empty(),
        "{} differences from CoreDNS in {} groups no allowlist entry allows (each printed above \
         with the question and both answers): fix them, or add a row to docs/differences.md and \
         an entry to tests/differential/allowlist.yaml:\n  {}",
        diffs.len() - allowed_count,
        new_groups.len(),
        new_groups.join("\n  ")
    );
}
