//! `tls [CERT KEY] [CA]` and `tls_servername` -> the rustls client settings for `tls://`
//! upstreams, as CoreDNS's `NewTLSConfigFromArgs` reads its arguments: none, the system CAs;
//! `CA`; `CERT KEY` (a client certificate, system CAs); `CERT KEY CA`.

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::plugin::pem::{certificates, private_key};

/// Builds the client settings from the `tls` option's file arguments.
pub fn client_config(files: &[&str]) -> Result<Arc<ClientConfig>, String> {
    let (cert_key, ca) = match files {
        [] => (None, None),
        [ca] => (None, Some(*ca)),
        [cert, key] => (Some((*cert, *key)), None),
        [cert, key, ca] => (Some((*cert, *key)), Some(*ca)),
        _ => return Err("tls takes at most 3 arguments: [CERT KEY] [CA]".into()),
    };
    let mut roots = RootCertStore::empty();
    match ca {
        Some(ca) => {
            for cert in certificates(ca)? {
                roots.add(cert).map_err(|e| format!("CA file {ca}: {e}"))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err("no system CA certificates found; name a CA file".into());
            }
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match cert_key {
        Some((cert, key)) => {
            let key = private_key(key)?;
            builder
                .with_client_auth_cert(certificates(cert)?, key)
                .map_err(|e| format!("certificate {cert}: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// `tls_servername NAME`: a DNS name (or an IP address) the upstream's certificate must carry.
pub fn server_name(text: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(text.to_string()).map_err(|_| format!("invalid server name {text:?}"))
}
