//! The fleet page (`forewarn-fleet serve`) in a real browser (headless chromium through
//! chromedriver), reading what two real agents write to the real broker: both gateways appear
//! online, an alert one of them raises appears in the timeline and in the gateway's open alerts,
//! its asset's telemetry and alert-score charts are drawn, the alert clears, a gateway killed
//! without a word turns offline after its missed heartbeats, and one stopped in order shows as
//! stopped at once.
//!
//! FOREWARN_SCREENSHOTS=DIR keeps screenshots of the page (the README's come from here).

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{agent_config, free_port, wrapped_command, Agent, Mosquitto, Tansu};
use crate::webdriver::Browser;

/// An agent `id` at `site` with one MQTT source (`{id}/{asset}/{signal}`), pump-1's `temp` and
/// `vibration`, and a `temp-high` rule; heartbeat every second.
pub(crate) fn gateway(id: &str, site: &str, kafka: &Tansu, mqtt: &Mosquitto) -> Agent {
    let rest = format!(
        r#"
[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
port = {port}
topics = ["{id}/#"]
topic_pattern = "{id}/{{asset}}/{{signal}}"

[[assets]]
id = "pump-1"
interval_secs = 1.0
signals = [{{ name = "temp", unit = "degC" }}, {{ name = "vibration", unit = "mm/s" }}]

[[rules]]
name = "temp-high"
asset = "pump-1"
signal = "temp"
above = 80.0
clear = 70.0
severity = "critical"
"#,
        port = mqtt.port
    );
    let text = agent_config(&kafka.bootstrap(), &rest)
        .replace("gw-test", id)
        .replace("test-site", site);
    let agent = Agent::start(&text);
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    agent
}

struct Fleet(Child);

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Publish a reading of each signal of both gateways every 300 ms until `stop` is set, with
/// `temp` of gw-north at `hot` when the flag says so.
fn feed(
    mqtt: &Mosquitto,
    stop: &std::sync::atomic::AtomicBool,
    hot: &std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut i = 0u32;
    while !stop.load(Relaxed) {
        let wave = f64::from(i % 20) / 4.0;
        for gw in ["gw-north", "gw-south"] {
            let temp = if gw == "gw-north" && hot.load(Relaxed) {
                92.0 + wave
            } else {
                55.0 + wave
            };
            mqtt.try_publish(&format!("{gw}/pump-1/temp"), temp.to_string().as_bytes());
            mqtt.try_publish(
                &format!("{gw}/pump-1/vibration"),
                (2.0 + wave / 5.0).to_string().as_bytes(),
            );
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn the_fleet_page_shows_gateways_alerts_charts_and_gateways_going_away() {
    let kafka = Tansu::start();
    let mqtt = Mosquitto::start();
    let mut north = gateway("gw-north", "plant-7", &kafka, &mqtt);
    let mut south = gateway("gw-south", "plant-9", &kafka, &mqtt);

    let port = free_port();
    let fleet = Fleet(
        wrapped_command(env!("CARGO_BIN_EXE_forewarn-fleet"))
            .args(["serve", "--bootstrap-servers", &kafka.bootstrap()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--offline-after", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start forewarn-fleet"),
    );
    let end = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "the fleet page did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }

    let stop = std::sync::atomic::AtomicBool::new(false);
    let hot = std::sync::atomic::AtomicBool::new(false);
    let shots = std::env::var_os("FOREWARN_SCREENSHOTS").map(std::path::PathBuf::from);
    std::thread::scope(|s| {
        s.spawn(|| feed(&mqtt, &stop, &hot));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let browser = Browser::start(1400, 720);
            browser.goto(&format!("http://127.0.0.1:{port}/"));
            let t = Duration::from_secs(60);
            browser.wait_for(
                "both gateways online",
                "return document.querySelectorAll('#gateways tr[data-state=online]').length == 2",
                t,
            );
            // Version and config revision from the heartbeat.
            let row = browser.eval(
                "return document.querySelector('#gateways tr[data-gateway=gw-north]').innerText",
            );
            let row = row.as_str().unwrap_or_default();
            assert!(row.contains("plant-7") && row.contains("0.1.0"), "{row}");

            hot.store(true, std::sync::atomic::Ordering::Relaxed);
            let raised = browser.wait_for(
                "the raised alert in the timeline",
                "const li = [...document.querySelectorAll('#timeline li[data-event=raised]')]
                   .find(l => l.innerText.includes('temp-high') && l.innerText.includes('gw-north'));
                 return li ? li.innerText : null",
                t,
            );
            assert!(
                raised.as_str().is_some_and(|s| s.contains("pump-1")),
                "{raised}"
            );
            browser.wait_for(
                "gw-north's open alert counted in its row",
                "return document.querySelector('#gateways tr[data-gateway=gw-north] [data-open-alerts]')
                   ?.getAttribute('data-open-alerts') == '1'",
                t,
            );

            // The gateway's detail: its open alert and its charts.
            browser.eval(
                "document.querySelector('#gateways tr[data-gateway=gw-north]').click(); return 1",
            );
            browser.wait_for(
                "the open alert in gw-north's detail",
                "return document.querySelectorAll('#detail[data-gateway=gw-north] [data-open-alert]').length == 1",
                t,
            );
            browser.wait_for(
                "a telemetry chart with 5 points or more",
                "const c = document.querySelector('svg[data-chart=\"pump-1/temp\"]');
                 return c && Number(c.getAttribute('data-points')) >= 5
                   && c.querySelector('polyline') != null",
                t,
            );
            browser.wait_for(
                "the alert score chart",
                "const c = document.querySelector('svg[data-chart=\"pump-1/score/temp-high\"]');
                 return c && c.querySelectorAll('circle').length >= 1 && c.querySelector('line') != null",
                t,
            );
            // Cooled down: the alert clears, in the timeline and in the row.
            hot.store(false, std::sync::atomic::Ordering::Relaxed);
            browser.wait_for(
                "the cleared alert in the timeline and no open alert",
                "const row = document.querySelector('#gateways tr[data-gateway=gw-north] [data-open-alerts]');
                 return document.querySelector('#timeline li[data-event=cleared]') != null
                   && row?.getAttribute('data-open-alerts') == '0'",
                t,
            );
            if let Some(dir) = &shots {
                // Screenshots for the README: a minute more of data, raised again.
                std::thread::sleep(Duration::from_secs(30));
                hot.store(true, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_secs(30));
                std::fs::create_dir_all(dir).expect("screenshot dir");
                browser.screenshot(&dir.join("fleet-page.png"));
            }

            // Killed without a last heartbeat: late, then offline (3 missed heartbeats of 1 s).
            south.kill9();
            let killed = Instant::now();
            browser.wait_for(
                "gw-south offline",
                "return document.querySelector('#gateways tr[data-gateway=gw-south]')?.dataset.state == 'offline'",
                t,
            );
            let took = killed.elapsed();
            assert!(
                took >= Duration::from_secs(3),
                "offline after {took:?}: sooner than 3 missed heartbeats"
            );
            // Stopped in order: its last heartbeat says so.
            assert!(north.stop().success());
            browser.wait_for(
                "gw-north stopped",
                "return document.querySelector('#gateways tr[data-gateway=gw-north]')?.dataset.state == 'stopped'",
                t,
            );
            let chips = browser.eval("return document.getElementById('states').innerText");
            let chips = chips.as_str().unwrap_or_default();
            assert!(
                chips.contains("1 offline") && chips.contains("1 stopped"),
                "{chips}"
            );
            if let Some(dir) = &shots {
                browser.screenshot(&dir.join("fleet-page-offline.png"));
            }
        }));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    });
    drop(fleet);
}
