//! node-cache's Corefile template variables -> a Corefile (pure).
