//! `reload` setup: defaults, limits, the jitter cap, and errors with their location.

use std::time::Duration;

use crate::corefile::parse_str;
use crate::plugin::build::ReloadPolicy;

fn reload(line: &str) -> Result<Option<ReloadPolicy>, String> {
    let src = format!(".:53 {{\n  {line}\n}}\n");
    let c = parse_str(&src, "Corefile", &|_| None).map_err(|e| e.to_string())?;
    let built = crate::plugins::build(
        &c,
        &crate::plugin::build::Dependencies::new(Default::default()),
    )
    .map_err(|e| e.to_string())?;
    Ok(built.reload)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn reload_setup_table() {
    let ok = [
        ("reload", secs(30), secs(15)),
        ("reload 10s", secs(10), secs(5)),
        ("reload 2s 1s", secs(2), secs(1)),
        ("reload 1m 20s", secs(60), secs(20)),
        // The jitter is capped at half the interval.
        ("reload 10s 9s", secs(10), secs(5)),
    ];
    for (line, interval, jitter) in ok {
        assert_eq!(
            reload(line),
            Ok(Some(ReloadPolicy { interval, jitter })),
            "{line}"
        );
    }
    let errors = [
        (
            "reload 1s",
            "Corefile:2:10: reload: interval value must be greater or equal to 2s",
        ),
        (
            "reload 2s 500ms",
            "Corefile:2:13: reload: jitter value must be greater or equal to 1s",
        ),
        (
            "reload soon",
            "Corefile:2:10: reload: invalid duration \"soon\"",
        ),
        (
            "reload 2s 1s 1s",
            "Corefile:2:16: reload: reload takes at most an interval and a jitter",
        ),
        (
            "reload {\n x\n }",
            "Corefile:3:2: reload: reload takes no block",
        ),
    ];
    for (line, want) in errors {
        assert_eq!(reload(line), Err(want.to_string()), "{line}");
    }
}

#[test]
fn reload_absent_is_none() {
    assert_eq!(reload("log"), Ok(None));
}

#[test]
fn reload_period_stays_within_half_the_jitter() {
    let c = ReloadPolicy {
        interval: secs(30),
        jitter: secs(15),
    };
    for random in [0, 1, 7_500_000_000, 14_999_999_999, u64::MAX] {
        let p = c.period(random);
        assert!(
            p >= Duration::from_millis(22_500) && p < Duration::from_millis(37_500),
            "{p:?}"
        );
    }
    assert_eq!(c.period(0), Duration::from_millis(22_500));
    assert_eq!(c.period(7_500_000_000), secs(30));
}
