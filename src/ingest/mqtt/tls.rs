//! TLS for an MQTT source: the connector built from the source's CA and client certificate
//! (at start, and by `check-config`, with an error naming the file and what is wrong with it),
//! and the reason a connection attempt failed, for the status and the log.

use std::path::Path;

use rumqttc::tokio_native_tls::native_tls::{self, Certificate, Identity, TlsConnector};
use rumqttc::ConnectionError;

use crate::config::MqttConfig;

/// Why a source's TLS connector cannot be built. `field` is the provisioning file's field.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct TlsSetupError {
    pub field: &'static str,
    pub file: String,
    pub message: String,
}

fn setup_error(field: &'static str, file: &Path, message: impl Into<String>) -> TlsSetupError {
    TlsSetupError {
        field,
        file: file.display().to_string(),
        message: message.into(),
    }
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|e| setup_error(field, path, format!("cannot read: {e}")))
}

/// The connector for `config` (which has `tls = true`): with `ca_file`, that CA is the only
/// trusted root (a plant's own CA does not also trust every public one); without it, the
/// system roots. With a client certificate, its key must be PKCS#8 PEM and match it.
pub fn connector(config: &MqttConfig) -> Result<TlsConnector, TlsSetupError> {
    let mut builder = native_tls::TlsConnector::builder();
    if let Some(path) = &config.ca_file {
        let pem = read("ca_file", path)?;
        let ca = Certificate::from_pem(&pem)
            .map_err(|e| setup_error("ca_file", path, format!("not a PEM certificate: {e}")))?;
        builder
            .add_root_certificate(ca)
            .disable_built_in_roots(true);
    }
    if let Some((cert_path, key_path)) = &config.client_identity {
        let cert = read("cert_file", cert_path)?;
        let meta = std::fs::metadata(key_path)
            .map_err(|e| setup_error("key_file", key_path, format!("cannot read: {e}")))?;
        if let Some(why) = crate::config::secret::writable_by_others(&meta) {
            return Err(setup_error("key_file", key_path, format!("{why}: refused")));
        }
        let key = read("key_file", key_path)?;
        let identity = identity(&cert, &key, cert_path, key_path)?;
        builder.identity(identity);
    }
    builder.build().map_err(|e| {
        // OpenSSL checks that the key belongs to the certificate when both are set.
        match &config.client_identity {
            Some((_, key_path)) => setup_error(
                "key_file",
                key_path,
                format!("does not match cert_file, or is unusable: {e}"),
            ),
            None => TlsSetupError {
                field: "tls",
                file: String::new(),
                message: format!("TLS setup failed: {e}"),
            },
        }
    })
}

fn identity(
    cert: &[u8],
    key: &[u8],
    cert_path: &Path,
    key_path: &Path,
) -> Result<Identity, TlsSetupError> {
    if !key.starts_with(b"-----BEGIN PRIVATE KEY-----") {
        let hint = if key.starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            "is encrypted; the agent needs it unencrypted (protect it with file permissions or a \
             systemd credential)"
        } else if key.starts_with(b"-----BEGIN ") {
            "is not a PKCS#8 key (it starts with another PEM label); convert it with \
             `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8`"
        } else {
            "is not a PEM private key (expected `-----BEGIN PRIVATE KEY-----`)"
        };
        return Err(setup_error("key_file", key_path, hint));
    }
    if !cert.starts_with(b"-----BEGIN CERTIFICATE-----") {
        return Err(setup_error(
            "cert_file",
            cert_path,
            "is not a PEM certificate (expected `-----BEGIN CERTIFICATE-----`)",
        ));
    }
    Identity::from_pkcs8(cert, key).map_err(|e| {
        setup_error(
            "key_file",
            key_path,
            format!("cannot be read with cert_file: {e}"),
        )
    })
}

/// Why a connection attempt failed, as the status counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Nothing listens there (connection refused), or the host is unreachable.
    Unreachable,
    /// The server's certificate does not lead to a trusted CA.
    TlsUntrusted,
    /// The server's certificate has expired (or is not valid yet: the gateway's clock?).
    TlsExpired,
    /// The server's certificate is not for `host`.
    TlsHostname,
    /// The broker refused our client certificate, or its absence (a TLS alert from the broker:
    /// "certificate required", "unknown ca", "bad certificate"). With TLS 1.3 the alert comes
    /// after the client's side of the handshake, so the broker may also just reset the
    /// connection or close it (`other`: "Connection reset by peer", "unexpected EOF").
    TlsRefused,
    /// Any other TLS failure (no common protocol version or cipher, a broken handshake).
    TlsHandshake,
    /// The broker refused the credentials or the client.
    NotAuthorized,
    /// The broker did not answer in time.
    Timeout,
    /// Anything else (a reset connection, a protocol error).
    Other,
}

impl ConnectFailure {
    pub const ALL: [ConnectFailure; 9] = [
        ConnectFailure::Unreachable,
        ConnectFailure::TlsUntrusted,
        ConnectFailure::TlsExpired,
        ConnectFailure::TlsHostname,
        ConnectFailure::TlsRefused,
        ConnectFailure::TlsHandshake,
        ConnectFailure::NotAuthorized,
        ConnectFailure::Timeout,
        ConnectFailure::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConnectFailure::Unreachable => "unreachable",
            ConnectFailure::TlsUntrusted => "tls_untrusted",
            ConnectFailure::TlsExpired => "tls_expired",
            ConnectFailure::TlsHostname => "tls_hostname",
            ConnectFailure::TlsRefused => "tls_refused",
            ConnectFailure::TlsHandshake => "tls_handshake",
            ConnectFailure::NotAuthorized => "not_authorized",
            ConnectFailure::Timeout => "timeout",
            ConnectFailure::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The failure of one connection attempt.
    pub fn of(e: &ConnectionError) -> ConnectFailure {
        use std::io::ErrorKind;
        // A TLS alert from the broker arrives with the first read after the handshake, inside
        // whatever error that read gives.
        if is_refusal_alert(&e.to_string()) {
            return ConnectFailure::TlsRefused;
        }
        match e {
            ConnectionError::Tls(t) => classify_tls(&t.to_string()),
            ConnectionError::Io(io) => match io.kind() {
                ErrorKind::ConnectionRefused
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::AddrNotAvailable => ConnectFailure::Unreachable,
                ErrorKind::TimedOut => ConnectFailure::Timeout,
                _ => ConnectFailure::Other,
            },
            ConnectionError::ConnectionRefused(_) => ConnectFailure::NotAuthorized,
            ConnectionError::NetworkTimeout => ConnectFailure::Timeout,
            _ => ConnectFailure::Other,
        }
    }
}

/// An alert by which a TLS server refuses the client's certificate (or its absence).
fn is_refusal_alert(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "alert certificate required",
        "alert unknown ca",
        "alert bad certificate",
        "alert certificate unknown",
        "alert certificate revoked",
        "alert certificate expired",
        "alert unsupported certificate",
        "alert access denied",
    ]
    .iter()
    .any(|a| m.contains(a))
}

/// Sorts a TLS error by OpenSSL's verification result, which native-tls puts in its message
/// in parentheses ("... certificate verify failed ... (certificate has expired)").
pub fn classify_tls(message: &str) -> ConnectFailure {
    let m = message.to_ascii_lowercase();
    if m.contains("certificate has expired") || m.contains("certificate is not yet valid") {
        ConnectFailure::TlsExpired
    } else if m.contains("hostname mismatch") || m.contains("ip address mismatch") {
        ConnectFailure::TlsHostname
    } else if m.contains("unable to get local issuer certificate")
        || m.contains("self-signed certificate")
        || m.contains("self signed certificate")
        || m.contains("unable to verify the first certificate")
        || m.contains("unable to get issuer certificate")
        || m.contains("certificate signature failure")
    {
        ConnectFailure::TlsUntrusted
    } else {
        ConnectFailure::TlsHandshake
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_verification_results_are_sorted_by_cause() {
        let cases = [
            ("error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:1889: (unable to get local issuer certificate)", ConnectFailure::TlsUntrusted),
            ("... certificate verify failed ... (self-signed certificate in certificate chain)", ConnectFailure::TlsUntrusted),
            ("... certificate verify failed ... (self signed certificate)", ConnectFailure::TlsUntrusted),
            ("... certificate verify failed ... (certificate has expired)", ConnectFailure::TlsExpired),
            ("... certificate verify failed ... (certificate is not yet valid)", ConnectFailure::TlsExpired),
            ("... certificate verify failed ... (Hostname mismatch)", ConnectFailure::TlsHostname),
            ("... certificate verify failed ... (IP address mismatch)", ConnectFailure::TlsHostname),
            ("error:0A000102:SSL routines::unsupported protocol", ConnectFailure::TlsHandshake),
        ];
        for (message, want) in cases {
            assert_eq!(classify_tls(message), want, "{message}");
        }
    }

    #[test]
    fn a_refusal_alert_inside_a_read_error_is_the_brokers_refusal() {
        for alert in [
            "IO: error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../ssl/record/rec_layer_s3.c:1601:SSL alert number 116",
            "IO: error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../ssl/record/rec_layer_s3.c:1601:SSL alert number 48",
        ] {
            let e = ConnectionError::Io(std::io::Error::other(alert));
            assert_eq!(ConnectFailure::of(&e), ConnectFailure::TlsRefused, "{alert}");
        }
    }

    #[test]
    fn io_errors_and_refusals_are_sorted_too() {
        use std::io::{Error, ErrorKind};
        let refused = ConnectionError::Io(Error::from(ErrorKind::ConnectionRefused));
        assert_eq!(ConnectFailure::of(&refused), ConnectFailure::Unreachable);
        let reset = ConnectionError::Io(Error::from(ErrorKind::ConnectionReset));
        assert_eq!(ConnectFailure::of(&reset), ConnectFailure::Other);
        let denied =
            ConnectionError::ConnectionRefused(rumqttc::ConnectReturnCode::BadUserNamePassword);
        assert_eq!(ConnectFailure::of(&denied), ConnectFailure::NotAuthorized);
        assert_eq!(
            ConnectFailure::of(&ConnectionError::NetworkTimeout),
            ConnectFailure::Timeout
        );
    }

    #[test]
    fn names_are_distinct_and_indexes_follow_all() {
        let names: std::collections::BTreeSet<_> =
            ConnectFailure::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), ConnectFailure::ALL.len());
        for (i, f) in ConnectFailure::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
    }

    fn config(dir: &Path, cert: &str, key: &str) -> MqttConfig {
        let toml = format!(
            r#"
[gateway]
id = "gw"
site = "s"
data_dir = "{d}"
[kafka]
bootstrap_servers = "localhost:9092"
[[sources]]
type = "mqtt"
name = "plant"
host = "localhost"
tls = true
cert_file = "{d}/{cert}"
key_file = "{d}/{key}"
topics = ["plant/#"]
topic_pattern = "plant/{{asset}}/{{signal}}"
[[assets]]
id = "pump-1"
interval_secs = 1.0
signals = [{{ name = "temp" }}]
"#,
            d = dir.display()
        );
        let c = crate::config::parse_str(&toml, "t.toml", dir).unwrap_or_else(|e| panic!("{e}"));
        match c.sources.into_iter().next() {
            Some(crate::config::SourceConfig::Mqtt(m)) => m,
            _ => panic!("no mqtt source"),
        }
    }

    #[test]
    fn a_key_in_the_wrong_format_or_open_to_writes_is_refused_with_the_file_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        std::fs::write(
            d.join("cert.pem"),
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        std::fs::write(
            d.join("rsa.key"),
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        )
        .expect("write");
        std::fs::write(
            d.join("enc.key"),
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n",
        )
        .expect("write");
        std::fs::write(d.join("junk.key"), "hello").expect("write");
        std::fs::write(d.join("open.key"), "-----BEGIN PRIVATE KEY-----\nAAAA\n").expect("write");
        std::fs::set_permissions(d.join("open.key"), std::fs::Permissions::from_mode(0o666))
            .expect("chmod");
        let cases = [
            ("rsa.key", "key_file", "openssl pkcs8 -topk8"),
            ("enc.key", "key_file", "is encrypted"),
            ("junk.key", "key_file", "not a PEM private key"),
            ("open.key", "key_file", "writable by every user"),
            ("missing.key", "key_file", "cannot read"),
        ];
        for (key, field, says) in cases {
            let e = connector(&config(d, "cert.pem", key)).expect_err(key);
            assert_eq!(e.field, field, "{key}: {e}");
            assert!(e.to_string().contains(says), "{key}: {e}");
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }
}
