//! `forewarn baseline show|export|import|reset|relearn`: the learned baselines of a gateway,
//! kept in its outbox ([`crate::outbox::baselines`]). Safe beside a running agent: changes
//! are requests the agent follows within [`crate::detect::requests::POLL`] of its next
//! samples, and what a start begins from when it is not running.

use std::io::Read;
use std::path::Path;

use super::{BaselineCommand, Exit};
use crate::config::{Config, DetectorConfig};
use crate::detect::persist;
use crate::outbox::baselines::{Action, Store};
use crate::record::{BaselineRecord, BaselineTrigger};

/// The largest baseline file `import` reads (a 256-input baseline is well below 4 MiB).
pub const MAX_IMPORT_BYTES: u64 = 16 << 20;

pub fn command(command: BaselineCommand) -> Exit {
    let config_path = match &command {
        BaselineCommand::Show { config, .. }
        | BaselineCommand::Export { config, .. }
        | BaselineCommand::Import { config, .. }
        | BaselineCommand::Reset { config, .. }
        | BaselineCommand::Relearn { config, .. } => config.clone(),
    };
    let config =
        match crate::config::load_file_with(&config_path, &crate::model::package::ManifestReader) {
            Ok(c) => c,
            Err(e) => {
                eprint!("{e}");
                return Exit::InvalidConfig;
            }
        };
    let dir = config.gateway.data_dir.join("outbox");
    let store = match Store::open(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            return Exit::Failed;
        }
    };
    let result = match command {
        BaselineCommand::Show { detector, .. } => show(&config, &store, detector.as_deref()),
        BaselineCommand::Export {
            detector,
            asset,
            output,
            ..
        } => export(&store, &detector, &asset, output.as_deref()),
        BaselineCommand::Import { file, asset, .. } => {
            import(&config, &store, &file, asset.as_deref())
        }
        BaselineCommand::Reset {
            detector, asset, ..
        } => request(&config, &store, &detector, asset.as_deref(), Action::Reset),
        BaselineCommand::Relearn {
            detector, asset, ..
        } => request(
            &config,
            &store,
            &detector,
            asset.as_deref(),
            Action::Relearn,
        ),
    };
    match result {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Failed
        }
    }
}

fn time(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

fn detector<'a>(config: &'a Config, name: &str) -> anyhow::Result<&'a DetectorConfig> {
    config
        .detectors
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            let known: Vec<&str> = config.detectors.iter().map(|d| d.name.as_str()).collect();
            anyhow::anyhow!("no detector `{name}` in the provisioning file (it has {known:?})")
        })
}

/// The assets of `d` a command means: `asset` (which must be bound), or all of them.
fn assets(d: &DetectorConfig, asset: Option<&str>) -> anyhow::Result<Vec<String>> {
    match asset {
        Some(a) if d.assets.iter().any(|(x, _)| &**x == a) => Ok(vec![a.to_string()]),
        Some(a) => anyhow::bail!("detector `{}` is not bound to asset `{a}`", d.name),
        None => Ok(d.assets.iter().map(|(a, _)| a.to_string()).collect()),
    }
}

fn show(config: &Config, store: &Store, only: Option<&str>) -> anyhow::Result<()> {
    let stored = store.list()?;
    let requests = store.requests()?;
    for d in &config.detectors {
        if only.is_some_and(|o| o != d.name) {
            continue;
        }
        for (asset, _) in &d.assets {
            let key = crate::record::baseline_key(&d.name, asset);
            match stored.iter().find(|b| b.key() == key) {
                None => println!("{key}: no baseline stored (learns {} steps)", d.learn_steps),
                Some(b) => {
                    println!(
                        "{key}: generation {}, {:?}{}, made {}",
                        b.generation,
                        b.trigger,
                        b.learned_on
                            .as_deref()
                            .map(|g| format!(" (learned on {g})"))
                            .unwrap_or_default(),
                        time(b.created_ns)
                    );
                    println!(
                        "  learned from {} steps, {} to {}",
                        b.steps,
                        time(b.learned_from_ns),
                        time(b.learned_to_ns)
                    );
                    println!("  {}", b.summary());
                    for s in &b.stats {
                        println!(
                            "  {:<24} mean {:>14.6}  sd {:>12.6}",
                            s.signal, s.mean, s.sd
                        );
                    }
                    if let Err(why) = persist::adopt(d, b) {
                        println!("  NOT USED by this configuration: {why}");
                    }
                }
            }
            if let Some(r) = requests
                .iter()
                .find(|r| crate::record::baseline_key(&r.detector, &r.asset) == key)
            {
                println!("  last request: {:?} at {}", r.action, time(r.at_ns));
            }
        }
    }
    Ok(())
}

fn export(store: &Store, detector: &str, asset: &str, output: Option<&Path>) -> anyhow::Result<()> {
    let b = store
        .get(detector, asset)?
        .ok_or_else(|| anyhow::anyhow!("no baseline stored for {detector}/{asset}"))?;
    let json = serde_json::to_vec_pretty(&b)?;
    match output {
        Some(path) => {
            std::fs::write(path, &json)?;
            eprintln!(
                "{detector}/{asset}: generation {} written to {}",
                b.generation,
                path.display()
            );
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&json)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// Read at most [`MAX_IMPORT_BYTES`] of `file` (`-`: standard input).
fn read_limited(file: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let reader: Box<dyn Read> = if file == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?)
    };
    reader.take(MAX_IMPORT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_IMPORT_BYTES {
        anyhow::bail!("{}: larger than {MAX_IMPORT_BYTES} bytes", file.display());
    }
    Ok(bytes)
}

fn import(config: &Config, store: &Store, file: &Path, asset: Option<&str>) -> anyhow::Result<()> {
    let bytes = read_limited(file)?;
    let mut b: BaselineRecord = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a baseline export: {e}", file.display()))?;
    let d = detector(config, &b.detector)?;
    let target = asset.unwrap_or(&b.asset).to_string();
    assets(d, Some(&target))?;
    persist::adopt(d, &b).map_err(|why| {
        anyhow::anyhow!(
            "{}: not usable by detector `{}`: {why}",
            file.display(),
            d.name
        )
    })?;
    if b.learned_on.is_none() {
        b.learned_on = Some(format!("{}/{}", b.gateway, b.asset));
    }
    b.gateway = config.gateway.id.clone();
    b.site = config.gateway.site.clone();
    b.asset = target.clone();
    b.trigger = BaselineTrigger::Imported;
    b.created_ns = crate::record::now_ns();
    let r = store.request(&d.name, &target, Action::Import, Some(b))?;
    let stored = store.get(&d.name, &target)?.map_or(0, |b| b.generation);
    println!(
        "{}/{target}: imported as generation {stored} (request {}); a running agent scores with it within seconds of its next samples, a stopped one from its next start",
        d.name, r.id
    );
    Ok(())
}

fn request(
    config: &Config,
    store: &Store,
    name: &str,
    asset: Option<&str>,
    action: Action,
) -> anyhow::Result<()> {
    let d = detector(config, name)?;
    for a in assets(d, asset)? {
        let r = store.request(name, &a, action, None)?;
        let what = match action {
            Action::Reset => format!(
                "baseline forgotten; learns again from the next step ({} steps, nothing scored meanwhile)",
                d.learn_steps
            ),
            _ => format!(
                "relearn requested: the next {} steps are learned while the current baseline keeps scoring",
                d.learn_steps
            ),
        };
        println!("{name}/{a}: {what} (request {})", r.id);
    }
    Ok(())
}
