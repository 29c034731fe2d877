//! `nodelocal guard`: the sidecar that removes the NOTRACK rules and the ClusterIP address when
//! the cache stops answering.

/// The guard's command line (`nodelocal guard ...`).
#[derive(clap::Args, Debug, Clone)]
pub struct GuardArgs {}

/// Runs the guard until SIGTERM/SIGINT.
pub async fn run(args: GuardArgs) -> anyhow::Result<()> {
    let _ = args;
    Ok(())
}
