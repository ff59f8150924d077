//! Certificates made at start (a test CA, a server certificate for `127.0.0.1` and
//! `localhost`, a client certificate for mutual TLS) and the rustls server configuration.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

/// The PEM texts handed to clients, and the acceptor the server uses.
#[derive(Clone)]
pub(crate) struct TlsMaterial {
    pub(crate) ca_pem: String,
    pub(crate) client_cert_pem: String,
    pub(crate) client_key_pem: String,
    pub(crate) acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

fn other(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(e)
}

fn params(
    names: &[&str],
    common_name: &str,
    usage: Option<ExtendedKeyUsagePurpose>,
) -> io::Result<CertificateParams> {
    let names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
    let mut params = CertificateParams::new(names).map_err(other)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = usage.into_iter().collect();
    Ok(params)
}

/// Makes the CA and both certificates, and a server configuration that offers ALPN `h2` and
/// `http/1.1` and, with `require_client_cert`, accepts only clients with a certificate from
/// the CA.
pub(crate) fn make(require_client_cert: bool) -> io::Result<TlsMaterial> {
    let mut ca_params = params(&[], "test-server CA", None)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(other)?)
        .map_err(other)?;

    let server_key = KeyPair::generate().map_err(other)?;
    let server_cert = params(
        &["127.0.0.1", "localhost"],
        "localhost",
        Some(ExtendedKeyUsagePurpose::ServerAuth),
    )?
    .signed_by(&server_key, &ca)
    .map_err(other)?;

    let client_key = KeyPair::generate().map_err(other)?;
    let client_cert = params(
        &["test-client"],
        "test-client",
        Some(ExtendedKeyUsagePurpose::ClientAuth),
    )?
    .signed_by(&client_key, &ca)
    .map_err(other)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(other)?;
    let builder = if require_client_cert {
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).map_err(other)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(other)?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let mut config = builder
        .with_single_cert(vec![server_cert.der().clone()], key)
        .map_err(other)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    Ok(TlsMaterial {
        ca_pem: ca.pem(),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}
