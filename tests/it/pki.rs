//! Certificates for the TLS tests, made with the `openssl` command in a temp dir: a CA the
//! agent trusts, another CA it does not, and certificates signed by them (P-256 keys, PKCS#8
//! PEM as `openssl req -nodes` writes them).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Pki {
    dir: tempfile::TempDir,
}

/// What a certificate is for and how it is broken.
pub struct Leaf<'a> {
    pub name: &'a str,
    /// The CA that signs it: `ca` (trusted) or `other-ca`.
    pub ca: &'a str,
    /// The DNS name or IP address in its subjectAltName.
    pub san: &'a str,
    /// Valid for this many days from now; -1: expired yesterday.
    pub days: i32,
    /// `serverAuth` or `clientAuth`.
    pub usage: &'a str,
}

impl Pki {
    /// The CAs `ca` and `other-ca`.
    pub fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        for ca in ["ca", "other-ca"] {
            pki.openssl(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=forewarn test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ]);
        }
        pki
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `<name>.pem` (the certificate) and `<name>.key`.
    pub fn leaf(&self, leaf: Leaf) -> (PathBuf, PathBuf) {
        let Leaf {
            name,
            ca,
            san,
            days,
            usage,
        } = leaf;
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={san}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ]);
        let kind = if san.parse::<std::net::IpAddr>().is_ok() {
            "IP"
        } else {
            "DNS"
        };
        std::fs::write(
            self.dir().join(format!("{name}.ext")),
            format!("subjectAltName={kind}:{san}\nextendedKeyUsage={usage}\n"),
        )
        .expect("write ext");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            &days.to_string(),
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
        self.readable(&[&format!("{name}.pem"), &format!("{name}.key")]);
        (
            self.dir().join(format!("{name}.pem")),
            self.dir().join(format!("{name}.key")),
        )
    }

    /// A server certificate for `localhost` signed by `ca`, valid two days.
    pub fn server(&self, name: &str, ca: &str, san: &str, days: i32) -> (PathBuf, PathBuf) {
        self.leaf(Leaf {
            name,
            ca,
            san,
            days,
            usage: "serverAuth",
        })
    }

    pub fn client(&self, name: &str, ca: &str) -> (PathBuf, PathBuf) {
        self.leaf(Leaf {
            name,
            ca,
            san: "gw-test",
            days: 2,
            usage: "clientAuth",
        })
    }

    pub fn ca(&self, ca: &str) -> PathBuf {
        self.dir().join(format!("{ca}.pem"))
    }

    /// Brokers started as root drop to their own user, which must read the files. (Keys the
    /// agent reads are made 0600 by the tests that care.)
    fn readable(&self, files: &[&str]) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.dir(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod dir");
        for f in files.iter().chain(&["ca.pem", "other-ca.pem"]) {
            std::fs::set_permissions(self.dir().join(f), std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
        }
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
