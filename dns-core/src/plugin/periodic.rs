//! Background work a plugin repeats (re-reading its file, reporting counts) for as long as the
//! plugin lives: a reloaded Corefile builds new plugins, and the old ones' work stops with them.

use std::sync::Arc;
use std::time::Duration;

/// Runs `work` on `target` every `period`, off the async workers (it may read files), until
/// `target` is dropped. Nothing runs without a tokio runtime or with a zero period.
pub fn every<T, F>(target: &Arc<T>, period: Duration, work: F)
where
    T: Send + Sync + 'static,
    F: Fn(&T) + Send + Sync + Copy + 'static,
{
    if period.is_zero() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let target = Arc::downgrade(target);
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(target) = target.upgrade() else {
                return;
            };
            let _ = tokio::task::spawn_blocking(move || work(&target)).await;
        }
    });
}
