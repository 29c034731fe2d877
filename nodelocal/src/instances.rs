//! Which nodelocal processes are alive on this node.
