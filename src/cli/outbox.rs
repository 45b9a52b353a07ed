//! `forewarn outbox stats|verify|dump`: read-only views of an outbox, safe beside a running
//! agent; `forewarn outbox salvage`: a set-aside outbox's readable records back into the live
//! one (agent stopped).

use std::path::PathBuf;

use super::{Exit, OutboxCommand};
use crate::outbox::inspect::DumpWhat;

/// `forewarn outbox ...`: exit 1 if the outbox cannot be read, 4 if `verify` found problems.
pub fn command(command: OutboxCommand) -> Exit {
    use crate::outbox::inspect;
    let (dir, verbose) = match &command {
        OutboxCommand::Stats { data_dir } => (outbox_dir(data_dir.clone()), false),
        OutboxCommand::Verify { data_dir } => (outbox_dir(data_dir.clone()), true),
        OutboxCommand::Salvage { config, from } => return salvage(config, from),
        OutboxCommand::ResendDead { config } => return resend_dead(config),
        OutboxCommand::Dump {
            data_dir,
            classes,
            from,
            limit,
        } => {
            let dir = outbox_dir(data_dir.clone());
            let what: Vec<DumpWhat> = if classes.is_empty() {
                crate::record::Class::ALL
                    .into_iter()
                    .map(DumpWhat::Class)
                    .collect()
            } else {
                classes.iter().map(|&c| DumpWhat::from(c)).collect()
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            return match inspect::dump(&dir, &what, *from, *limit, &mut out) {
                Ok(_) => Exit::Ok,
                Err(e) => {
                    eprintln!("error: {}: {e}", dir.display());
                    Exit::Failed
                }
            };
        }
    };
    let report = match inspect::verify(&dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            return Exit::Failed;
        }
    };
    let now = crate::record::now_ns();
    println!("outbox {}", dir.display());
    println!("  next sequence number: {}", report.next_seq);
    if let Some(first) = report.first_seq {
        let wrong = if report.first_seq_clock_wrong {
            " (the clock was wrong when it was created)"
        } else {
            ""
        };
        println!("  first sequence number: {first}{wrong}");
    }
    if verbose {
        println!(
            "  data file: {} bytes, last transaction {}",
            report.file_bytes, report.last_txn
        );
        match report.reserved {
            Some(r) => println!("  sequence numbers reserved below: {r}"),
            None => println!("  sequence numbers reserved below: (no reservation file)"),
        }
    }
    for class in crate::record::Class::ALL {
        let w = report.walked(class);
        let stored = report.stored(class);
        println!(
            "  {:<9} depth={:<8} bytes={:<10} evicted={:<8} oldest_age_secs={}",
            class.name(),
            w.entries,
            w.bytes,
            stored.evicted,
            w.oldest_ts_ns
                .map(|t| format!("{:.0}", now.saturating_sub(t) as f64 / 1e9))
                .unwrap_or_else(|| "-".into())
        );
        if verbose {
            if let (Some(a), Some(b)) = (w.first_seq, w.last_seq) {
                println!("            seq {a}..={b}, undecodable {}", w.undecodable);
            }
        }
    }
    println!(
        "  quarantined: {} (entries held: {})",
        report.quarantined, report.quarantine_entries
    );
    println!(
        "  recovered from previous snapshot: {}, set aside: {}",
        report.recovered, report.set_aside
    );
    if report.ok() {
        if verbose {
            println!("ok");
        }
        Exit::Ok
    } else {
        for p in &report.problems {
            println!("problem: {p}");
        }
        if verbose {
            Exit::OutboxProblems
        } else {
            Exit::Ok
        }
    }
}

/// `--data-dir` may name the gateway's data_dir or an outbox folder itself.
fn outbox_dir(data_dir: PathBuf) -> PathBuf {
    if data_dir.join("data.mdb").exists() {
        data_dir
    } else {
        data_dir.join("outbox")
    }
}

/// The agent's configuration, or the exit for a bad one.
fn load_config(path: &std::path::Path) -> Result<crate::config::Config, Exit> {
    crate::config::load_file_with(path, &crate::model::package::ManifestReader).map_err(|e| {
        eprint!("{e}");
        Exit::InvalidConfig
    })
}

/// `forewarn outbox resend-dead`: exit 2 for a bad configuration, 1 if the outbox cannot be
/// opened or written.
fn resend_dead(config: &std::path::Path) -> Exit {
    let config = match load_config(config) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let dir = config.gateway.data_dir.join("outbox");
    let result =
        crate::outbox::Outbox::open(&dir, config.outbox.budget_bytes, config.outbox.durability)
            .and_then(|o| o.resend_dead());
    match result {
        Ok(n) => {
            println!("{n} dead letters back in their classes; start the agent to send them");
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            Exit::Failed
        }
    }
}

/// `forewarn outbox salvage`: exit 2 for a bad configuration, 1 if either outbox cannot be
/// read or written.
fn salvage(config: &std::path::Path, from: &std::path::Path) -> Exit {
    let config = match load_config(config) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let dir = config.gateway.data_dir.join("outbox");
    if from.canonicalize().ok() == dir.canonicalize().ok() {
        eprintln!("error: --from is the live outbox; name a set-aside copy (outbox.corrupt-...)");
        return Exit::Failed;
    }
    // A copy that cannot be read at all (truncated, not an outbox) is refused before the
    // live outbox is touched.
    if let Err(e) = crate::outbox::inspect::readable(from, crate::record::Class::Alert, 0, 0) {
        eprintln!("error: {}: {e}", from.display());
        return Exit::Failed;
    }
    let live = match crate::outbox::Outbox::open(
        &dir,
        config.outbox.budget_bytes,
        config.outbox.durability,
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            return Exit::Failed;
        }
    };
    match crate::outbox::salvage::salvage(from, &live) {
        Ok(s) => {
            for class in crate::record::Class::ALL {
                let (restored, skipped, undecodable) = s.of(class);
                println!(
                    "{:<9} restored={restored} already_there={skipped} undecodable={undecodable}",
                    class.name(),
                );
            }
            println!(
                "salvaged {} records from {} into {}; start the agent to forward them",
                s.total_restored(),
                from.display(),
                dir.display()
            );
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: salvaging {}: {e}", from.display());
            Exit::Failed
        }
    }
}
