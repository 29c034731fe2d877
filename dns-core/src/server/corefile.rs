//! Serving a Corefile: the one way both binaries do it. Load (parse and build, nothing bound),
//! bind the HTTP endpoints, then listen: the DNS listeners serve until the stop, with the
//! reload loop when the Corefile has `reload`. A binary does its own work between the steps
//! (cluster-dns waits for its first list before listening; nodelocal brings its link up before
//! binding and installs its rules after).

use std::future::Future;
use std::path::{Path, PathBuf};

use tokio::sync::watch;

use super::ServerError;
use super::http::{HttpError, HttpServers};
use super::listeners::Listeners;
use crate::corefile::{Corefile, CorefileError};
use crate::plugin::build::{BuildError, Built, Dependencies, HttpPlan, build};
use crate::plugin::registry::Registration;

/// Why a Corefile was not served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Corefile(#[from] CorefileError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("{0}: no server blocks")]
    Empty(PathBuf),
}

/// What a Corefile is built from, kept for rebuilding it on reload.
pub(crate) struct Loaded {
    pub(crate) path: PathBuf,
    deps: Dependencies,
    registry: &'static [Registration],
}

impl Loaded {
    /// Reads, parses and builds the Corefile at `path`.
    pub(crate) fn build(&self) -> Result<Built, ServeError> {
        let corefile = crate::corefile::load(&self.path)?;
        self.build_parsed(&corefile)
    }

    fn build_parsed(&self, corefile: &Corefile) -> Result<Built, ServeError> {
        let built = build(corefile, &self.deps, self.registry)?;
        if built.routers.is_empty() {
            return Err(ServeError::Empty(self.path.clone()));
        }
        for note in &built.notes {
            tracing::warn!("{note}");
        }
        Ok(built)
    }
}

/// A Corefile, parsed and built, not yet served.
pub struct CorefileServer {
    loaded: Loaded,
    corefile: Corefile,
    built: Built,
}

impl CorefileServer {
    /// Reads the Corefile at `path` and builds it with the plugins of `registry`
    /// (`dns_core::plugins::REGISTRY`); binds nothing.
    pub fn load(
        path: &Path,
        deps: Dependencies,
        registry: &'static [Registration],
    ) -> Result<Self, ServeError> {
        let loaded = Loaded {
            path: path.to_path_buf(),
            deps,
            registry,
        };
        let corefile = crate::corefile::load(path)?;
        let built = loaded.build_parsed(&corefile)?;
        Ok(Self {
            loaded,
            corefile,
            built,
        })
    }

    /// The Corefile as parsed (what the binary watches or checks before serving).
    pub fn corefile(&self) -> &Corefile {
        &self.corefile
    }

    /// The HTTP endpoints the plugins asked for; a binary may add its own before binding.
    pub fn http_plan(&mut self) -> &mut HttpPlan {
        &mut self.built.http
    }

    /// Binds the HTTP endpoints (a taken port fails here).
    pub fn bind_http(&mut self) -> Result<HttpServers, HttpError> {
        let plan = std::mem::replace(
            &mut self.built.http,
            HttpPlan {
                sites: Vec::new(),
                lameduck: std::time::Duration::ZERO,
            },
        );
        HttpServers::bind(plan)
    }

    /// Binds the DNS listeners (a taken port fails here) and returns what serves them until
    /// `stop`: with `reload`, the loop that re-reads the Corefile; then it waits for the
    /// listeners to drain.
    pub fn listen(
        self,
        stop: watch::Receiver<bool>,
    ) -> Result<impl Future<Output = ()> + Send + 'static, ServerError> {
        let mut listeners = Listeners::new(stop.clone(), self.loaded.deps.bind_nonlocal);
        listeners.apply(self.built.routers)?;
        let reload = self.built.reload;
        let loaded = self.loaded;
        Ok(async move {
            super::reload::run(loaded, reload, listeners, stop).await;
        })
    }
}
