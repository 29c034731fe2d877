//! `prometheus ADDRESS { tls WEB_CONFIG }`: the Prometheus exporter-toolkit web configuration
//! file CoreDNS 1.15.0 reads (`tls_server_config` with `cert_file`, `key_file`,
//! `client_ca_file`, `client_auth_type`; relative paths are relative to the file) -> the
//! rustls server settings `/metrics` is served with. What Signpost cannot honour is refused,
//! never silently dropped: a scrape endpoint must not end up less protected than configured.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::server::WebPkiClientVerifier;

use crate::plugin::pem::{certificates, private_key};

/// exporter-toolkit's `client_auth_type`, as far as rustls can do it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `NoClientCert` (the default).
    None,
    /// `VerifyClientCertIfGiven`.
    VerifyIfGiven,
    /// `RequireAndVerifyClientCert`.
    RequireAndVerify,
}

/// The TLS part of a web configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

/// Reads a web configuration's text; `dir` is the file's directory. `None`: it configures no
/// TLS, and `/metrics` stays plain HTTP (as exporter-toolkit serves then).
pub fn parse_web_config(text: &str, dir: &Path) -> Result<Option<WebTls>, String> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("not a web configuration: {e}"))?;
    let top = match value {
        serde_yaml::Value::Null => return Ok(None),
        serde_yaml::Value::Mapping(m) => m,
        _ => return Err("not a web configuration: a mapping was expected".into()),
    };
    let mut tls = None;
    for (key, value) in top {
        match key.as_str() {
            Some("tls_server_config") => tls = Some(value),
            Some(other @ ("basic_auth_users" | "http_server_config" | "rate_limit")) => {
                return Err(format!("{other} is not supported by Signpost"));
            }
            _ => {
                let name = key
                    .as_str()
                    .map_or_else(|| format!("{key:?}"), str::to_string);
                return Err(format!("unknown field {name:?}"));
            }
        }
    }
    let fields = match tls {
        None | Some(serde_yaml::Value::Null) => return Ok(None),
        Some(serde_yaml::Value::Mapping(m)) => m,
        Some(_) => return Err("tls_server_config: a mapping was expected".into()),
    };
    let (mut cert, mut key, mut client_ca, mut client_auth) = (None, None, None, None);
    for (name, value) in fields {
        let Some(name) = name.as_str() else {
            return Err(format!("tls_server_config: unknown field {name:?}"));
        };
        let text = || {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("tls_server_config: {name} must be a string"))
        };
        match name {
            "cert_file" => cert = Some(dir.join(text()?)),
            "key_file" => key = Some(dir.join(text()?)),
            "client_ca_file" => client_ca = Some(dir.join(text()?)),
            "client_auth_type" => client_auth = Some(text()?),
            "cert"
            | "key"
            | "client_ca"
            | "cipher_suites"
            | "curve_preferences"
            | "min_version"
            | "max_version"
            | "prefer_server_cipher_suites"
            | "client_allowed_sans" => {
                return Err(format!(
                    "tls_server_config: {name} is not supported by Signpost"
                ));
            }
            other => return Err(format!("tls_server_config: unknown field {other:?}")),
        }
    }
    if cert.is_none() && key.is_none() && client_ca.is_none() && client_auth.is_none() {
        return Ok(None);
    }
    let cert = cert.ok_or("tls_server_config: missing cert_file")?;
    let key = key.ok_or("tls_server_config: missing key_file")?;
    let client_auth = match client_auth.as_deref() {
        None | Some("" | "NoClientCert") => ClientAuth::None,
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyIfGiven,
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerify,
        Some(other @ ("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert")) => {
            return Err(format!(
                "tls_server_config: client_auth_type {other} (a client certificate taken unverified) is not supported by Signpost"
            ));
        }
        Some(other) => {
            return Err(format!(
                "tls_server_config: invalid client_auth_type {other:?}"
            ));
        }
    };
    if client_auth == ClientAuth::None && client_ca.is_some() {
        return Err("tls_server_config: client_ca_file is set without a client_auth_type".into());
    }
    if client_auth != ClientAuth::None && client_ca.is_none() {
        return Err(format!(
            "tls_server_config: client_auth_type {} needs client_ca_file",
            client_auth.name()
        ));
    }
    Ok(Some(WebTls {
        cert,
        key,
        client_ca,
        client_auth,
    }))
}

impl ClientAuth {
    fn name(self) -> &'static str {
        match self {
            ClientAuth::None => "NoClientCert",
            ClientAuth::VerifyIfGiven => "VerifyClientCertIfGiven",
            ClientAuth::RequireAndVerify => "RequireAndVerifyClientCert",
        }
    }
}

/// Reads the web configuration at `path` and the files it names.
pub fn load(path: &Path) -> Result<Option<Arc<ServerConfig>>, String> {
    let text = crate::plugin::file::read_capped(path, 64 * 1024)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8(text).map_err(|_| format!("{}: not UTF-8", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let Some(tls) = parse_web_config(&text, dir).map_err(|e| format!("{}: {e}", path.display()))?
    else {
        return Ok(None);
    };
    server_config(&tls).map(Some)
}

fn server_config(tls: &WebTls) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match (&tls.client_ca, tls.client_auth) {
        (Some(ca), ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify) => {
            let ca = ca.display().to_string();
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            for cert in certificates(&ca)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("client_ca_file {ca}: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if tls.client_auth == ClientAuth::VerifyIfGiven {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("client_ca_file {ca}: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let cert = tls.cert.display().to_string();
    let config = builder
        .with_single_cert(
            certificates(&cert)?,
            private_key(&tls.key.display().to_string())?,
        )
        .map_err(|e| format!("cert_file {cert}: {e}"))?;
    Ok(Arc::new(config))
}
