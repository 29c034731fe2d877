//! The guard's decision (pure): probe results in, actions out.

/// Where the guard stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The cache has not answered yet since the guard started; `failures` probes have failed
    /// since. A start (before the cache binds) is no failure, but a cache that does not answer
    /// within the start grace may be one that died with the guard and left its rules and
    /// ClusterIP behind: those black-hole pod DNS, so the grace ends in a fail-over too.
    Waiting { failures: u32 },
    /// The cache answers; `failures` consecutive probes have failed since it last did.
    Armed { failures: u32 },
    /// The rules and ClusterIPs were removed; waiting for the cache to answer again.
    FailedOver,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    ProbeOk,
    ProbeFailed,
    /// The fail-over could not be done (a tool failed): try again at the next failed probe.
    FailOverFailed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// Remove the NOTRACK rules and the ClusterIP addresses.
    FailOver,
    /// The same, for a cache that has not answered within the start grace: whatever a cache
    /// that died before this guard started left behind goes (nothing, if it left nothing).
    StartFailOver,
    /// The cache answers again (it re-asserts its rules and addresses itself): only log it.
    Rearmed,
    /// The cache answered for the first time.
    FirstAnswer,
}

/// The guard's state machine: `threshold` consecutive failed probes of a cache that answered
/// before, or `start_grace` failed probes of one that never has since the guard started, make
/// one fail-over; it never re-adds anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Machine {
    pub phase: Phase,
    pub threshold: u32,
    pub start_grace: u32,
}

impl Machine {
    pub fn new(threshold: u32, start_grace: u32) -> Self {
        let threshold = threshold.max(1);
        Self {
            phase: Phase::Waiting { failures: 0 },
            threshold,
            start_grace: start_grace.max(threshold),
        }
    }

    pub fn step(&mut self, event: Event) -> Action {
        let (phase, action) = match (self.phase, event) {
            (Phase::Waiting { .. }, Event::ProbeOk) => {
                (Phase::Armed { failures: 0 }, Action::FirstAnswer)
            }
            (Phase::Waiting { failures }, Event::ProbeFailed) => {
                let failures = failures.saturating_add(1);
                if failures >= self.start_grace {
                    (Phase::FailedOver, Action::StartFailOver)
                } else {
                    (Phase::Waiting { failures }, Action::Nothing)
                }
            }
            (Phase::Waiting { failures }, Event::FailOverFailed) => {
                (Phase::Waiting { failures }, Action::Nothing)
            }
            (Phase::Armed { .. }, Event::ProbeOk) => {
                (Phase::Armed { failures: 0 }, Action::Nothing)
            }
            (Phase::Armed { failures }, Event::ProbeFailed) => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    (Phase::FailedOver, Action::FailOver)
                } else {
                    (Phase::Armed { failures }, Action::Nothing)
                }
            }
            (Phase::Armed { failures }, Event::FailOverFailed) => {
                (Phase::Armed { failures }, Action::Nothing)
            }
            (Phase::FailedOver, Event::ProbeOk) => (Phase::Armed { failures: 0 }, Action::Rearmed),
            (Phase::FailedOver, Event::ProbeFailed) => (Phase::FailedOver, Action::Nothing),
            // One more failed probe retries the fail-over.
            (Phase::FailedOver, Event::FailOverFailed) => (
                Phase::Armed {
                    failures: self.threshold - 1,
                },
                Action::Nothing,
            ),
        };
        self.phase = phase;
        action
    }
}
