//! `[[models]]`: bindings of model packages to assets.

use super::*;

/// A `[[models]]` binding. Problems of the file (an unknown asset, no assets, a bad timeout)
/// go to `p`; problems of the package (unreadable, a bad manifest, a model signal the asset
/// lacks) go to `packages`, so that `run` can start without that package.
pub(super) fn model(
    m: &RawModelBinding,
    assets: &[AssetConfig],
    base_dir: &Path,
    reader: Option<&dyn crate::config::PackageReader>,
    f: &str,
    p: &mut Problems,
    packages: &mut Problems,
) -> Option<ModelConfig> {
    let n = p.len();
    let dir = base_dir.join(&m.package);
    if m.assets.is_empty() {
        problem(p, format!("{f}.assets"), "must list at least one asset");
    }
    let mut bound = Vec::new();
    for (j, a) in m.assets.iter().enumerate() {
        match assets.iter().find(|x| &*x.id == a) {
            Some(asset) => bound.push((
                asset.id.clone(),
                asset
                    .signals
                    .iter()
                    .map(|s| s.name.clone())
                    .collect::<Vec<_>>(),
            )),
            None => problem(
                p,
                format!("{f}.assets[{j}]"),
                format!("unknown asset `{a}`"),
            ),
        }
    }
    let check_timeout = match m.check_timeout_secs {
        None => crate::config::DEFAULT_CHECK_TIMEOUT,
        Some(t)
            if t.is_finite() && t >= 1.0 && t <= crate::config::MAX_CHECK_TIMEOUT.as_secs_f64() =>
        {
            Duration::from_secs_f64(t)
        }
        Some(_) => {
            problem(
                p,
                format!("{f}.check_timeout_secs"),
                "must be a number of seconds from 1 to 3600",
            );
            Duration::ZERO
        }
    };
    // Offline, a package that is not here is not read (it lives on the gateway).
    let reader = reader.filter(|_| !super::offline() || dir.exists());
    let manifest = match reader.map(|r| r.manifest(&dir)) {
        None => None,
        Some(Ok(info)) => Some(info),
        Some(Err(e)) => {
            problem(packages, format!("{f}.package"), e.to_string());
            None
        }
    };
    let name = manifest.as_ref().map_or_else(
        || {
            dir.file_name()
                .map_or_else(|| m.package.clone(), |n| n.to_string_lossy().into_owned())
        },
        |m| m.name.clone(),
    );
    let mut mc = ModelConfig {
        package: dir,
        name,
        bindings: Vec::new(),
        assets: bound,
        renames: m.signals.clone(),
        check_timeout,
    };
    if let Some(manifest) = &manifest {
        match mc.bind(&manifest.signals) {
            Ok(b) => mc.bindings = b,
            Err(errors) => {
                for e in errors.0 {
                    let field = match &e {
                        crate::config::BindError::UnknownModelSignal(k) => {
                            format!("{f}.signals.{k}")
                        }
                        crate::config::BindError::NoAssetSignal { asset, .. } => {
                            let j = m.assets.iter().position(|a| a == asset).unwrap_or(0);
                            format!("{f}.assets[{j}]")
                        }
                    };
                    let msg = match &e {
                        crate::config::BindError::UnknownModelSignal(k) => format!(
                            "model `{}` has no signal `{k}` (its signals: {})",
                            manifest.name,
                            manifest.signals.join(", ")
                        ),
                        other => other.to_string(),
                    };
                    problem(packages, field, msg);
                }
            }
        }
    }
    (p.len() == n).then_some(mc)
}
