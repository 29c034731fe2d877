use std::time::Duration;

use super::kept_ips;
use super::machine::{Action, Event, Machine, Phase};

/// (events in order, the action of the last one, the phase after it).
#[test]
fn guard_state_machine() {
    use Action::*;
    use Event::*;
    let cases: &[(&str, &[Event], Action, Phase)] = &[
        (
            "starting cache within the start grace: no fail-over",
            &[ProbeFailed; 7],
            Nothing,
            Phase::Waiting { failures: 7 },
        ),
        (
            "no answer within the start grace: fail over what a dead cache left",
            &[ProbeFailed; 8],
            StartFailOver,
            Phase::FailedOver,
        ),
        (
            "after the start fail-over: once only",
            &[ProbeFailed; 12],
            Nothing,
            Phase::FailedOver,
        ),
        (
            "first answer arms",
            &[ProbeFailed, ProbeOk],
            FirstAnswer,
            Phase::Armed { failures: 0 },
        ),
        (
            "below the threshold",
            &[ProbeOk, ProbeFailed, ProbeFailed],
            Nothing,
            Phase::Armed { failures: 2 },
        ),
        (
            "an answer resets the count",
            &[ProbeOk, ProbeFailed, ProbeFailed, ProbeOk],
            Nothing,
            Phase::Armed { failures: 0 },
        ),
        (
            "threshold reached: fail over",
            &[ProbeOk, ProbeFailed, ProbeFailed, ProbeFailed],
            FailOver,
            Phase::FailedOver,
        ),
        (
            "failed over: once only",
            &[ProbeOk, ProbeFailed, ProbeFailed, ProbeFailed, ProbeFailed],
            Nothing,
            Phase::FailedOver,
        ),
        (
            "the cache is back: re-armed, nothing re-added",
            &[ProbeOk, ProbeFailed, ProbeFailed, ProbeFailed, ProbeOk],
            Rearmed,
            Phase::Armed { failures: 0 },
        ),
        (
            "second outage: second fail-over",
            &[
                ProbeOk,
                ProbeFailed,
                ProbeFailed,
                ProbeFailed,
                ProbeOk,
                ProbeFailed,
                ProbeFailed,
                ProbeFailed,
            ],
            FailOver,
            Phase::FailedOver,
        ),
        (
            "a failed fail-over is retried at the next failed probe",
            &[
                ProbeOk,
                ProbeFailed,
                ProbeFailed,
                ProbeFailed,
                FailOverFailed,
                ProbeFailed,
            ],
            FailOver,
            Phase::FailedOver,
        ),
    ];
    // After the start grace (8 probes here): the cache answers; the fail-over fails.
    let start_cases: &[(&str, Event, Action, Phase)] = &[
        (
            "the cache answers after the start fail-over: re-armed",
            ProbeOk,
            Rearmed,
            Phase::Armed { failures: 0 },
        ),
        (
            "a failed start fail-over is retried at the next failed probe",
            FailOverFailed,
            Nothing,
            Phase::Armed { failures: 2 },
        ),
    ];
    for (why, event, action, phase) in start_cases {
        let mut machine = Machine::new(3, 8);
        for _ in 0..8 {
            machine.step(ProbeFailed);
        }
        assert_eq!(machine.phase, Phase::FailedOver, "{why}");
        assert_eq!(
            (machine.step(*event), machine.phase),
            (*action, *phase),
            "{why}"
        );
        if *event == FailOverFailed {
            assert_eq!(machine.step(ProbeFailed), FailOver, "{why}");
        }
    }
    for (why, events, action, phase) in cases {
        let mut machine = Machine::new(3, 8);
        let mut last = Nothing;
        for &event in *events {
            last = machine.step(event);
        }
        assert_eq!((last, machine.phase), (*action, *phase), "{why}");
    }
}

#[test]
fn threshold_of_one_and_zero() {
    for threshold in [0, 1] {
        let mut machine = Machine::new(threshold, 0);
        assert_eq!(
            machine.start_grace, 1,
            "the grace is at least the threshold"
        );
        machine.step(Event::ProbeOk);
        assert_eq!(machine.step(Event::ProbeFailed), Action::FailOver);
    }
}

#[test]
fn start_grace_in_probes() {
    let ms = Duration::from_millis;
    for (grace, interval, probes) in [
        (ms(5000), ms(250), 20),
        (ms(5100), ms(250), 21),
        (ms(0), ms(250), 1),
        (ms(100), ms(250), 1),
        (ms(5000), ms(0), 5000),
        (Duration::MAX, ms(1), u32::MAX),
    ] {
        assert_eq!(
            super::probes_within(grace, interval),
            probes,
            "{grace:?} / {interval:?}"
        );
    }
}

#[test]
fn kept_addresses_are_the_link_local_ones() {
    let ips = |s: &[&str]| -> Vec<std::net::IpAddr> {
        s.iter().map(|a| a.parse().expect("ip")).collect()
    };
    assert_eq!(
        kept_ips(&ips(&["198.18.0.10", "169.254.20.10", "2001:db8::10"])),
        ips(&["169.254.20.10"])
    );
    assert_eq!(
        kept_ips(&ips(&["169.254.20.10", "fe80::10", "198.18.0.10"])),
        ips(&["169.254.20.10", "fe80::10"])
    );
    assert_eq!(
        kept_ips(&ips(&["198.18.0.10", "198.18.0.11"])),
        ips(&["198.18.0.10"])
    );
}

#[test]
fn probe_query_and_answer_ids() {
    let name = hickory_proto::rr::Name::from_ascii("cluster.local.").expect("name");
    let query = super::probe::query(7, &name).expect("query");
    assert!(!super::probe::is_answer(&query, 7), "a query is no answer");
    let mut answer = query.clone();
    answer[2] |= 0x80; // QR
    answer[3] = (answer[3] & 0xf0) | 2; // SERVFAIL still counts
    assert!(super::probe::is_answer(&answer, 7));
    assert!(!super::probe::is_answer(&answer, 8));
    assert!(!super::probe::is_answer(&answer[..5], 7));
}

#[tokio::test]
async fn bad_arguments_are_refused_before_anything_runs() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        guard: super::GuardArgs,
    }
    let parse = |extra: &[&str]| {
        let mut argv = vec!["guard", "--metrics-listen-address", ""];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).map(|c| c.guard)
    };
    assert!(parse(&[]).is_err(), "--localip is required");
    let args = parse(&["--localip", "169.254.20.10,198.18.0.10"]).expect("defaults");
    assert_eq!(args.probe_interval, Duration::from_millis(250));
    assert_eq!(args.failure_threshold, 4);
    assert_eq!(args.rules, crate::rules::RuleMode::Nftables);
    assert_eq!(args.localip.len(), 2);
    let port = parse(&["--localip", "169.254.20.10", "--dns.port", "5353"]).expect("alias");
    assert_eq!(port.dns_port, 5353);

    let zero = parse(&["--localip", "169.254.20.10", "--probe-interval", "0ms"]).expect("parses");
    let err = super::run_until(zero, std::future::pending())
        .await
        .expect_err("zero interval");
    assert!(err.to_string().contains("more than 0"), "{err}");
    let name = parse(&["--localip", "169.254.20.10", "--probe-name", "a..b"]).expect("parses");
    assert!(
        super::run_until(name, std::future::pending())
            .await
            .is_err()
    );
}
