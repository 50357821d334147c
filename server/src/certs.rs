//! `strata certs dev --out DIR`: a local certificate authority and a server
//! certificate for `localhost`, `127.0.0.1` and `::1` signed by it (rcgen),
//! so TLS is two commands away; `--client NAME` adds a client certificate
//! whose common name is the user `NAME`, for mutual TLS.
//!
//! Files (PEM): `ca.pem`, `ca.key`, `server.pem`, `server.key`,
//! `client-NAME.pem`, `client-NAME.key`. Keys are written readable by the
//! owner only. An existing CA in DIR is reused, so clients trusting it keep
//! working when more certificates are made. For development: a production
//! deployment brings certificates from its own CA.
//!
//! Not here: serving TLS (`tls`).

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::io::Write;
use std::path::Path;
use time::{Duration, OffsetDateTime};

/// How long the development CA is valid.
const CA_VALID_DAYS: i64 = 3650;
/// How long server and client certificates are valid.
const LEAF_VALID_DAYS: i64 = 825;

fn write(path: &Path, contents: &str, private: bool) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

fn leaf(
    names: Vec<SanType>,
    common_name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::default();
    p.subject_alt_names = names;
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![usage];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(LEAF_VALID_DAYS);
    Ok(p)
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, "Strata development CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(CA_VALID_DAYS);
    p
}

/// Writes the files into `out` (created if missing).
pub fn dev(out: &Path, clients: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (ca_pem, ca_key_pem) = (out.join("ca.pem"), out.join("ca.key"));
    let ca_key = if ca_key_pem.exists() && ca_pem.exists() {
        let pem = std::fs::read_to_string(&ca_key_pem)
            .with_context(|| format!("reading {}", ca_key_pem.display()))?;
        KeyPair::from_pem(&pem).context("parsing the existing CA key")?
    } else {
        let key = KeyPair::generate().context("generating the CA key")?;
        let cert = ca_params().self_signed(&key).context("signing the CA")?;
        write(&ca_pem, &cert.pem(), false)?;
        write(&ca_key_pem, &key.serialize_pem(), true)?;
        key
    };
    let issuer = Issuer::new(ca_params(), ca_key);

    let server = leaf(
        vec![
            SanType::DnsName("localhost".try_into()?),
            SanType::IpAddress("127.0.0.1".parse()?),
            SanType::IpAddress("::1".parse()?),
        ],
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let key = KeyPair::generate().context("generating the server key")?;
    let cert = server
        .signed_by(&key, &issuer)
        .context("signing the server certificate")?;
    write(&out.join("server.pem"), &cert.pem(), false)?;
    write(&out.join("server.key"), &key.serialize_pem(), true)?;

    for name in clients {
        if name.is_empty() || name.contains(['/', '\\']) || name.chars().any(char::is_control) {
            bail!("client name {name:?}: no slashes or control characters");
        }
        let client = leaf(Vec::new(), name, ExtendedKeyUsagePurpose::ClientAuth)?;
        let key = KeyPair::generate().context("generating a client key")?;
        let cert = client
            .signed_by(&key, &issuer)
            .context("signing a client certificate")?;
        write(&out.join(format!("client-{name}.pem")), &cert.pem(), false)?;
        write(
            &out.join(format!("client-{name}.key")),
            &key.serialize_pem(),
            true,
        )?;
    }
    Ok(())
}
