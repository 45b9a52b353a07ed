//! Storage that fails under a running agent (issue 16). The data directory sits on a real
//! ext4 filesystem on a loop device, mounted `errors=remount-ro`; an error raised through
//! `/sys/fs/ext4/<dev>/trigger_fs_error` turns it read-only while the agent runs, as the
//! kernel does when an SD card or disk fails under it. Needs root (CI runs as root); without
//! the right to mount, the test says so and ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::at_least_once::{bucket_counts, mqtt_source};
use crate::harness::{agent_config, Agent, Mosquitto, Tansu};

/// An ext4 filesystem in an image file, loop-mounted with `errors=remount-ro`.
struct Ext4 {
    dir: tempfile::TempDir,
}

impl Ext4 {
    fn mount(bytes: u64) -> Option<Ext4> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::File::create(dir.path().join("ext4.img"))
            .and_then(|f| f.set_len(bytes))
            .expect("image file");
        run(
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                &dir.path().join("ext4.img").display().to_string(),
            ],
        );
        std::fs::create_dir(dir.path().join("mnt")).expect("mount point");
        let fs = Ext4 { dir };
        if !fs.mount_again() {
            // SAFETY: geteuid has no preconditions.
            let root = unsafe { libc::geteuid() } == 0;
            assert!(!root, "root could not loop-mount an ext4 image");
            eprintln!("SKIPPED: cannot loop-mount an ext4 image here (not root)");
            return None;
        }
        Some(fs)
    }

    fn mount_again(&self) -> bool {
        Command::new("mount")
            .arg("-o")
            .arg("loop,errors=remount-ro")
            .arg(self.dir.path().join("ext4.img"))
            .arg(self.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    /// The mount's options, e.g. `rw,relatime,errors=remount-ro`.
    fn options(&self) -> String {
        let out = Command::new("findmnt")
            .args(["-n", "-o", "OPTIONS"])
            .arg(self.path())
            .output()
            .expect("findmnt");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A filesystem error, as the kernel raises on a failing device: ext4 turns read-only.
    fn fail(&self) {
        let out = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(self.path())
            .output()
            .expect("findmnt");
        let source = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let dev = Path::new(&source)
            .file_name()
            .expect("a loop device")
            .to_string_lossy()
            .to_string();
        std::fs::write(
            format!("/sys/fs/ext4/{dev}/trigger_fs_error"),
            "forewarn storage test\n",
        )
        .expect("trigger an ext4 error");
        let options = self.options();
        // ext4 shows an error remount as `emergency_ro` (the kernel refuses every write).
        assert!(
            options.split(',').any(|o| o == "ro" || o == "emergency_ro"),
            "{options}"
        );
    }

    /// What an operator does after the device is back: unmount, check, mount again.
    fn repair(&self) {
        run("umount", &[&self.path().display().to_string()]);
        // 0: clean, 1: errors corrected.
        let status = Command::new("e2fsck")
            .arg("-fy")
            .arg(self.dir.path().join("ext4.img"))
            .stdout(Stdio::null())
            .status()
            .expect("e2fsck");
        assert!(matches!(status.code(), Some(0 | 1)), "e2fsck: {status}");
        assert!(self.mount_again(), "mount after the repair");
        let options = self.options();
        assert!(
            options.starts_with("rw") && !options.contains("emergency_ro"),
            "{options}"
        );
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.path())
            .stderr(Stdio::null())
            .status();
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?}: {status}");
}

/// Samples in an open one-minute bucket are acknowledged once the processing checkpoint holds
/// them; then the filesystem turns read-only and 20 more samples come. The agent cannot commit
/// them: it acknowledges none, stops with an error naming the outbox, and does not start on
/// the read-only directory. Once the filesystem is repaired it starts, the broker redelivers
/// the 20, and the bucket holds all 40 samples, once each.
#[test]
fn a_data_dir_that_turns_read_only_stops_the_agent_and_loses_nothing_acknowledged() {
    let Some(fs) = Ext4::mount(64 << 20) else {
        return;
    };
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let rest = format!(
        "{}\n[[assets]]\nid = \"pump\"\ninterval_secs = 60\nsignals = [{{ name = \"flow\" }}]\n",
        mqtt_source(mqtt.port)
    );
    let data = fs.path().join("data");
    let config =
        agent_config(&kafka.bootstrap(), &rest).replace("{data_dir}", &data.display().to_string());
    let mut agent = Agent::start(&config);
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    let t0: u64 = 1_767_600_000_000 / 60_000 * 60_000 + 60_000;
    let lines = |from: u64, to: u64| -> String {
        (from..to)
            .map(|i| format!("{{\"ts\":{},\"flow\":{}}}\n", t0 + i * 1000, i + 1))
            .collect()
    };
    mqtt.publish_lines("plant/pump", &lines(0, 20));
    std::thread::sleep(Duration::from_secs(4));

    fs.fail();
    mqtt.publish_lines("plant/pump", &lines(20, 40));
    let end = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = agent.exited() {
            break s;
        }
        assert!(
            Instant::now() < end,
            "the agent did not stop\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = agent.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("the outbox could not commit on any retry")
            && log.contains("Read-only file system"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");

    // A start on the read-only directory refuses with the reason.
    agent.restart();
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = agent.exited() {
            break s;
        }
        assert!(
            Instant::now() < end,
            "a start on a read-only directory did not end"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(1));
    assert!(
        agent.log().contains("opening the outbox"),
        "{}",
        agent.log()
    );

    fs.repair();
    agent.restart();
    agent.wait_log_count("MQTT subscribed.", 2, Duration::from_secs(20));
    agent.wait_log(
        "Processing state restored from its checkpoint. open_buckets=1",
        Duration::from_secs(5),
    );
    // A sample in the next minute closes the bucket once the redelivered ones are in.
    std::thread::sleep(Duration::from_secs(2));
    mqtt.publish(
        "plant/pump",
        format!("{{\"ts\":{},\"flow\":0}}", t0 + 60_000).as_bytes(),
    );
    let buckets = bucket_counts(&kafka, t0 * 1_000_000);
    assert_eq!(
        buckets,
        [(Some(40), Some(20.5))],
        "the bucket holds all 40 samples once\n{}",
        agent.log()
    );
    assert!(agent.stop().success());
    drop(agent);
}
