//! Which failures of a watch resume it from the last resourceVersion, and which list the kind
//! again: a network blip must not make every replica list the whole cluster.

use kube::core::Status;
use kube::runtime::watcher::Error;

use crate::watch::{Recovery, recovery};

fn status(code: u16) -> Box<Status> {
    Status::failure("test", "Test").with_code(code).boxed()
}

fn transport() -> kube::Error {
    kube::Error::Service("connection refused".into())
}

#[test]
fn failures_resume_the_watch_and_only_a_lost_history_lists_again() {
    let cases: Vec<(&str, Error, Recovery)> = vec![
        (
            "the watch request cannot connect",
            Error::WatchStartFailed(transport()),
            Recovery::Resume,
        ),
        (
            "the watch request is refused (500)",
            Error::WatchStartFailed(kube::Error::Api(status(500))),
            Recovery::Resume,
        ),
        (
            "forbidden for now (RBAC being applied)",
            Error::WatchStartFailed(kube::Error::Api(status(403))),
            Recovery::Resume,
        ),
        (
            "the watch request answered 410 Gone: retrying it cannot work",
            Error::WatchStartFailed(kube::Error::Api(status(410))),
            Recovery::Restart,
        ),
        (
            "the connection drops mid-watch",
            Error::WatchFailed(transport()),
            Recovery::Resume,
        ),
        (
            "an error event other than 410",
            Error::WatchError(status(500)),
            Recovery::Resume,
        ),
        (
            "410 Gone event: the history was compacted",
            Error::WatchError(status(410)),
            Recovery::List,
        ),
        (
            "the list failed",
            Error::InitialListFailed(transport()),
            Recovery::List,
        ),
        (
            "an object without resourceVersion",
            Error::NoResourceVersion,
            Recovery::List,
        ),
    ];
    for (what, error, want) in cases {
        assert_eq!(recovery(&error), want, "{what}: {error}");
    }
}

/// After an outage every kind retries within the spread of the API's return, at a point fixed
/// per process and kind, so kinds (and replicas) do not all list in the same instant.
#[test]
fn retries_after_the_api_returns_are_spread_within_a_second() {
    use super::super::plan::Kind;
    use super::super::{RETRY_SPREAD, retry_spread};
    let kinds = [
        Kind::Service,
        Kind::EndpointSlice,
        Kind::Pod,
        Kind::Namespace,
        Kind::ServiceImport,
        Kind::ImportSlice,
    ];
    let mut seen = std::collections::BTreeSet::new();
    for pid in [1, 2, 4242] {
        for kind in kinds {
            let at = retry_spread(pid, kind);
            assert!(at < RETRY_SPREAD, "{pid} {kind:?}: {at:?}");
            assert_eq!(at, retry_spread(pid, kind), "fixed per process and kind");
            seen.insert(at);
        }
    }
    assert!(seen.len() > kinds.len(), "spread: {seen:?}");
}
