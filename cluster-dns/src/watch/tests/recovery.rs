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
