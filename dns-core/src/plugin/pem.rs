//! PEM files named in a Corefile (or a file it names): certificates and private keys, read
//! with a size cap, every error naming the file. Shared by `forward`'s `tls` and
//! `prometheus`'s `tls`.

use std::path::Path;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Every certificate of a PEM file; none is an error.
pub fn certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&read_pem(path)?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate file {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("certificate file {path}: no certificates"));
    }
    Ok(certs)
}

/// The first private key of a PEM file.
pub fn private_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(&read_pem(path)?).map_err(|e| format!("key file {path}: {e}"))
}

/// A PEM file, at most 4 MiB (a CA bundle is a few hundred KiB; a path such as /dev/zero must
/// not hang the start).
fn read_pem(path: &str) -> Result<Vec<u8>, String> {
    crate::plugin::file::read_capped(Path::new(path), 4 << 20)
        .map_err(|e| format!("file {path}: {e}"))
}
