//! `forewarn model inspect|verify|check-child|bench`: a model package by itself.

use super::{Exit, ModelCommand};

/// `forewarn model ...`: exit 5 if the package is refused.
pub fn command(command: ModelCommand) -> Exit {
    use crate::model::load::load_package;
    use crate::model::package::Package;
    match command {
        ModelCommand::Inspect { package } => {
            let p = match Package::read(&package) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::PackageRefused;
                }
            };
            let m = &p.manifest;
            println!("{} {} ({})", m.name, m.version, package.display());
            if !m.description.is_empty() {
                println!("  {}", m.description);
            }
            println!("  onnx: {} sha256 {}", m.onnx, m.sha256);
            println!("  signals: {}", m.signals.join(", "));
            println!("  window: {:?}", m.window);
            println!("  features ({}):", m.features.len());
            for f in m.features.names() {
                println!("    {f}");
            }
            println!("  output: {:?} = {:?}", m.output_name, m.output);
            for a in &m.alerts {
                println!(
                    "  alert {}: {:?} on {} off {} ({} of {} windows), {:?}",
                    a.name, a.direction, a.on, a.off, a.k, a.n, a.severity
                );
            }
            match crate::model::onnx::OnnxModel::load(&p.onnx, m.features.len()) {
                Ok(model) => {
                    println!("  onnx input: {}", model.input());
                    for o in model.outputs() {
                        println!("  onnx output: {o}");
                    }
                    Exit::Ok
                }
                Err(e) => {
                    eprintln!("error: tract cannot load it: {e}");
                    Exit::PackageRefused
                }
            }
        }
        ModelCommand::Verify {
            package,
            timeout_secs,
        } => {
            use crate::model::verify::{run_check, CheckLimits, Verdict};
            let limits = CheckLimits {
                timeout: std::time::Duration::from_secs(timeout_secs.clamp(1, 3600)),
                ..Default::default()
            };
            match run_check(&package, limits, &|| false) {
                Verdict::Ok { name, version, .. } => {
                    println!("{name} {version}: ok (loaded and every golden vector matched, in a child process under limits)");
                    Exit::Ok
                }
                v => {
                    eprintln!("refused: {v}");
                    Exit::PackageRefused
                }
            }
        }
        ModelCommand::CheckChild { package } => {
            let v = crate::model::load::check_child(&package);
            println!("{}", v.line());
            if matches!(v, crate::model::verify::ChildVerdict::Ok { .. }) {
                Exit::Ok
            } else {
                Exit::PackageRefused
            }
        }
        ModelCommand::Bench { package, runs } => match load_package(&package) {
            Ok(m) => {
                let r = crate::model::bench::bench(&m, runs.max(1));
                println!(
                    "{} {}: {} runs",
                    m.manifest.name, m.manifest.version, r.runs
                );
                println!(
                    "  feature extraction per window ({} samples x {} signals): p50 {:.1} us, p99 {:.1} us, max {:.1} us",
                    r.window_len, r.signals, r.features.p50_us, r.features.p99_us, r.features.max_us
                );
                println!(
                    "  inference: p50 {:.1} us, p99 {:.1} us, max {:.1} us",
                    r.inference.p50_us, r.inference.p99_us, r.inference.max_us
                );
                Exit::Ok
            }
            Err(e) => {
                eprintln!("refused: {e}");
                Exit::PackageRefused
            }
        },
    }
}
