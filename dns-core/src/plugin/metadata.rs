//! Values plugins publish about a query for other plugins to read, as CoreDNS's metadata:
//! the `metadata` plugin asks the block's providers (the kubernetes plugin: which service,
//! namespace, client pod) once per query, before the rest of the chain runs, and the chain
//! runs with those values in reach; `log` (`{/LABEL}`) and `rewrite` (`edns0 local ... {LABEL}`)
//! read them. Without `metadata` in the block there are none, as in CoreDNS.

use std::sync::{Arc, OnceLock};

use hickory_proto::op::Message;

use crate::wire::RequestInfo;

/// `(label, value)` pairs, labels as `plugin/name`.
pub type Values = Vec<(String, String)>;

/// A plugin's contribution for one query: it adds its pairs to the list.
pub type Provider = Arc<dyn Fn(&Message, &RequestInfo, &mut Values) + Send + Sync>;

/// The block's providers, known once the whole block is set up (`build` fills it).
pub type Providers = Arc<OnceLock<Vec<Provider>>>;

tokio::task_local! {
    static CURRENT: Arc<Values>;
}

/// What `providers` say about `request`.
pub fn collect(providers: &[Provider], request: &Message, info: &RequestInfo) -> Arc<Values> {
    let mut values = Values::new();
    for provide in providers {
        provide(request, info, &mut values);
    }
    Arc::new(values)
}

/// Runs `f` (and, through [`scoped`], what it leaves waiting) with `values` in reach.
pub fn sync_scope<R>(values: Arc<Values>, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(values, f)
}

/// `future` polled with `values` in reach.
pub async fn scoped<F: std::future::Future>(values: Arc<Values>, future: F) -> F::Output {
    CURRENT.scope(values, future).await
}

/// The value published under `label` for the query being answered, if any.
pub fn get(label: &str) -> Option<String> {
    CURRENT
        .try_with(|values| {
            values
                .iter()
                .find(|(l, _)| l == label)
                .map(|(_, v)| v.clone())
        })
        .ok()
        .flatten()
}

/// CoreDNS's label syntax: `plugin/name`, both parts non-empty.
pub fn is_label(label: &str) -> bool {
    label
        .split_once('/')
        .is_some_and(|(plugin, name)| !plugin.is_empty() && !name.is_empty())
}
