//! Secrets in the provisioning file: the MQTT password and the Kafka properties that hold
//! credentials or keys (`sasl.password`, `ssl.key.password`, `ssl.key.pem`, ...).
//!
//! - **Where they come from.** A value may be written in the file, or taken from outside it
//!   by a reference ([`Reference`]): `${NAME}` or `${env:NAME}` (an environment variable, e.g.
//!   from the unit's `EnvironmentFile=`), `${file:/path}` (a file's content without its final
//!   newline), `${credential:NAME}` (the file `NAME` in `$CREDENTIALS_DIRECTORY`, where systemd
//!   puts what `LoadCredential=` or `LoadCredentialEncrypted=` give the unit). A file read for
//!   a secret is at most [`MAX_SECRET_FILE_BYTES`] and may not be writable by others.
//! - **Where they never go.** A [`Secret`] prints as `<redacted>` in `Debug` and `Display`;
//!   `KafkaConfig`'s `Debug` redacts the values of secret properties ([`is_secret_property`]);
//!   a type error on a secret field is reported without the value ([`redact_message`]). Log
//!   lines, errors, status records and `check-config` are built from these, so none of them
//!   carries a secret (the canary test in `tests/it/secrets.rs` runs every path).

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

/// What a redacted value prints as.
pub const REDACTED: &str = "<redacted>";

/// A secret file larger than this is refused (a password or a PEM key is far smaller).
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// A value that must not be shown: `Debug` and `Display` print [`REDACTED`]; only
/// [`Secret::expose`] gives the value, at the one place that hands it to a client library.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value itself: only for the client that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// librdkafka properties whose values are credentials or keys (librdkafka marks the same
/// ones sensitive): any `*password*` or `*secret*`, the private key in PEM, and the SASL
/// configurations that embed credentials.
pub fn is_secret_property(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k == "ssl.key.pem"
        || k == "ssl_key"
        || k == "sasl.oauthbearer.config"
        || k == "sasl.jaas.config"
}

/// Is the field at this path of the provisioning file (`sources[0].password`,
/// `kafka.properties.sasl.password`) a secret?
pub fn is_secret_field(path: &str) -> bool {
    match path.split_once("kafka.properties.") {
        Some((_, key)) => is_secret_property(key.trim_matches('"')),
        None => path.rsplit(['.', '[']).next() == Some("password"),
    }
}

/// A parser's message about a secret field with every quoted part (`` `12345678` ``,
/// `"hunter2"`) before its "expected ..." replaced by [`REDACTED`]:
/// `invalid type: integer <redacted>, expected a string`.
pub fn redact_message(message: &str) -> String {
    let (head, tail) = match message.find(", expected") {
        Some(i) => message.split_at(i),
        None => (message, ""),
    };
    let mut out = String::with_capacity(message.len());
    let mut chars = head.chars();
    while let Some(c) = chars.next() {
        if c == '`' || c == '"' || c == '\'' {
            // Skip to the closing quote (or the end): the value is never copied.
            for d in chars.by_ref() {
                if d == c {
                    break;
                }
            }
            out.push_str(REDACTED);
        } else {
            out.push(c);
        }
    }
    out.push_str(tail);
    out
}

/// A reference to a value kept outside the provisioning file: what `${...}` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference<'a> {
    /// `${NAME}` or `${env:NAME}`.
    Env(&'a str),
    /// `${file:/absolute/path}`.
    File(&'a str),
    /// `${credential:NAME}`: `$CREDENTIALS_DIRECTORY/NAME`.
    Credential(&'a str),
}

impl<'a> Reference<'a> {
    /// The reference between `${` and `}`.
    pub fn parse(inner: &'a str) -> Result<Reference<'a>, String> {
        let r = match inner.split_once(':') {
            None => Reference::Env(inner),
            Some(("env", name)) => Reference::Env(name),
            Some(("file", path)) => Reference::File(path),
            Some(("credential", name)) => Reference::Credential(name),
            Some((kind, _)) => {
                return Err(format!(
                    "`${{{kind}:...}}`: expected ${{NAME}}, ${{env:NAME}}, ${{file:/path}} or \
                     ${{credential:NAME}}"
                ))
            }
        };
        match r {
            Reference::Env(n) | Reference::Credential(n)
                if n.is_empty()
                    || !n
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    || n.starts_with('.') =>
            {
                Err(format!(
                    "`{n}` is not a variable or credential name (letters, digits, `_`, `-`, `.`)"
                ))
            }
            Reference::File(p) if !p.starts_with('/') => {
                Err(format!("`${{file:{p}}}`: the path must be absolute"))
            }
            r => Ok(r),
        }
    }

    /// The value referred to. An error names the variable or the file, never a value.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            Reference::Env(name) => {
                std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))
            }
            Reference::File(path) => read_secret_file(Path::new(path)),
            Reference::Credential(name) => {
                let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") else {
                    return Err(format!(
                        "`${{credential:{name}}}`: CREDENTIALS_DIRECTORY is not set (systemd \
                         sets it for a unit with LoadCredential=)"
                    ));
                };
                read_secret_file(&Path::new(&dir).join(name))
            }
        }
    }
}

/// A secret file's content without its final newline (`\n` or `\r\n`). Refused: a file
/// others can write (anyone on the gateway could change the credential), one larger than
/// [`MAX_SECRET_FILE_BYTES`], or one that is not UTF-8.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if !meta.is_file() {
        return Err(format!("`{shown}` is not a regular file"));
    }
    if let Some(why) = writable_by_others(&meta) {
        return Err(format!("`{shown}` {why}: refused"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "`{shown}` is larger than {MAX_SECRET_FILE_BYTES} bytes: not a secret"
        ));
    }
    let mut text = String::from_utf8(bytes).map_err(|_| format!("`{shown}` is not UTF-8"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// Why a file's mode lets others than its owner (and group) change it, if it does.
#[cfg(unix)]
pub fn writable_by_others(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt;
    (meta.permissions().mode() & 0o002 != 0).then_some("is writable by every user (mode o+w)")
}

#[cfg(not(unix))]
pub fn writable_by_others(_meta: &std::fs::Metadata) -> Option<&'static str> {
    None
}

/// Secret values shorter than this are not scrubbed from output ([`scrub`]): replacing every
/// `42` in the logs would hide more than it protects. Such a password is weak anyway.
pub const MIN_SCRUBBED_LEN: usize = 4;

/// The secrets of the configuration this process runs, once [`register`]ed.
static SCRUBBED: OnceLock<Vec<String>> = OnceLock::new();

/// The secret values of a configuration: MQTT passwords and the values of secret Kafka
/// properties.
pub fn secret_values(c: &super::Config) -> Vec<String> {
    let mut out: Vec<String> = c
        .sources
        .iter()
        .filter_map(|s| match s {
            super::SourceConfig::Mqtt(m) => m.credentials.as_ref().map(|(_, p)| p.0.clone()),
            _ => None,
        })
        .chain(
            c.kafka
                .properties
                .iter()
                .filter(|(k, _)| is_secret_property(k))
                .map(|(_, v)| v.clone()),
        )
        .filter(|v| v.len() >= MIN_SCRUBBED_LEN)
        .collect();
    // The longest first, so that a secret containing another is replaced whole.
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

/// Remember the secrets of the configuration this process runs, so that [`scrub`] removes
/// them from whatever is printed: log lines, and errors of libraries that echo a value. The
/// types keep secrets out of what forewarn prints itself; this is the second line, for text
/// forewarn does not write. The first configuration registered stays (one per process).
pub fn register(c: &super::Config) {
    let _ = SCRUBBED.set(secret_values(c));
}

/// `text` with every registered secret value replaced by [`REDACTED`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    scrub_with(text, SCRUBBED.get().map_or(&[], Vec::as_slice))
}

fn scrub_with<'t>(text: &'t str, secrets: &[String]) -> Cow<'t, str> {
    let mut out = Cow::Borrowed(text);
    for s in secrets {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), REDACTED));
        }
    }
    out
}

/// Credentials the file sends without encryption, as `(field, warning)`: an MQTT password on
/// a source without `tls = true`, SASL credentials on a Kafka connection without TLS. A
/// warning, not a problem: a broker on the gateway itself (loopback) may need no TLS.
pub fn cleartext_credentials(c: &super::Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, s) in c.sources.iter().enumerate() {
        if let super::SourceConfig::Mqtt(m) = s {
            let has_password = m.credentials.as_ref().is_some_and(|(_, p)| !p.0.is_empty());
            if has_password && !m.tls {
                out.push((
                    format!("sources[{i}].password"),
                    format!(
                        "sent to {}:{} in clear text: the source has no `tls = true`",
                        m.host, m.port
                    ),
                ));
            }
        }
    }
    let props = &c.kafka.properties;
    let protocol = props
        .get("security.protocol")
        .map(|p| p.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "plaintext".to_string());
    let sasl = ["sasl.username", "sasl.password"]
        .iter()
        .find(|k| props.contains_key(**k));
    if let Some(key) = sasl {
        let why = match protocol.as_str() {
            "sasl_ssl" => None,
            "sasl_plaintext" => Some(
                "security.protocol is sasl_plaintext: the connection to Kafka is not \
                 encrypted (with the PLAIN mechanism the password crosses the network as \
                 written); use sasl_ssl",
            ),
            _ => Some(
                "SASL credentials are set but security.protocol is not sasl_ssl or \
                 sasl_plaintext: librdkafka does not authenticate with them",
            ),
        };
        if let Some(why) = why {
            out.push((format!("kafka.properties.{key}"), why.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests;
