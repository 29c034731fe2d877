//! nodelocal's own metrics.
