//! The module map is one-way: each module of `src/` imports only modules below it in the
//! "Layers" list of ARCHITECTURE.md (read from there, so the document and the code cannot
//! drift apart), and every module is on the list.
//!
//! Read from the source text: `crate::<module>` paths outside comments, in code before the
//! first `#[cfg(test)]` of a file; files named `test*.rs` are test code and not checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The numbered list under "## Layers": "1. `cli` ...", top first.
fn layers() -> Vec<String> {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let section = doc
        .split("\n## Layers")
        .nth(1)
        .expect("ARCHITECTURE.md has a \"## Layers\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|l| {
            let (n, rest) = l.split_once(". `")?;
            n.trim().parse::<u32>().ok()?;
            Some(rest.split('`').next()?.to_string())
        })
        .collect()
}

fn rust_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for e in entries {
            rust_files(&e, out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

/// `crate::<name>` paths in the non-test code of one file.
fn imports(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("source");
    let mut found = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        let code = t.split("//").next().unwrap_or(t);
        for (i, _) in code.match_indices("crate::") {
            // Not `forewarn_crate::` or similar: the path starts at a word boundary.
            if i > 0 && code.as_bytes()[i - 1].is_ascii_alphanumeric() {
                continue;
            }
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_modules_below_it_in_architecture_md() {
    let order = layers();
    assert!(order.len() >= 10, "too few layers read: {order:?}");
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let src = root().join("src");
    let mut modules = Vec::new();
    for e in std::fs::read_dir(&src).expect("src/") {
        let p = e.expect("entry").path();
        let name = p.file_stem().expect("name").to_string_lossy().into_owned();
        // The binaries' `main`s (src/main.rs, src/bin/) only call their command lines.
        if name != "lib" && name != "main" && name != "bin" {
            modules.push((name, p));
        }
    }
    let mut problems = Vec::new();
    for (name, path) in &modules {
        let Some(&own) = rank.get(name.as_str()) else {
            problems.push(format!(
                "src/{name} is not in ARCHITECTURE.md's Layers list"
            ));
            continue;
        };
        let mut files = Vec::new();
        rust_files(path, &mut files);
        for f in files {
            if f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("test"))
            {
                continue;
            }
            for dep in imports(&f) {
                match rank.get(dep.as_str()) {
                    Some(&r) if r < own => problems.push(format!(
                        "{} imports crate::{dep}, which is above `{name}`",
                        f.strip_prefix(root()).unwrap_or(&f).display()
                    )),
                    Some(_) => {}
                    None => problems.push(format!(
                        "{} imports crate::{dep}, which is not in the Layers list",
                        f.strip_prefix(root()).unwrap_or(&f).display()
                    )),
                }
            }
        }
    }
    for listed in &order {
        if !modules.iter().any(|(m, _)| m == listed) {
            problems.push(format!("`{listed}` is listed in Layers but is not in src/"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import() {
    // The reader must find what the check is about, or the check above could never fail.
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("x.rs");
    std::fs::write(
        &f,
        "//! crate::cli in a comment\nuse crate::app::run; // crate::demo\nfn f() { crate::model::x(); }\n#[cfg(test)]\nmod tests { use crate::cli; }\n",
    )
    .expect("write");
    assert_eq!(imports(&f), ["app", "model"]);
    assert!(layers().iter().any(|l| l == "record"));
}
