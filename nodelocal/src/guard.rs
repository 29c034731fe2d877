//! `nodelocal guard`: the sidecar that removes the NOTRACK rules and the ClusterIP address when
//! the cache stops answering.
