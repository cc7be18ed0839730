//! One version for every artefact: the workspace's `[workspace.package] version`, which every
//! crate inherits and the core reports as `VERSION` (so `lp_version()`, Python's `__version__`
//! and the wheel's metadata, and Node's `version` follow it). The npm packages write theirs in
//! package.json, so those must say the same, and CHANGELOG.md has an entry for it.
//! `tests/packaging/test_artifacts.sh` checks the built artefacts report it too.

use libpublisher::VERSION;

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn json(path: &str) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_core_version_is_the_workspace_version() {
    let manifest = read("Cargo.toml");
    let workspace = manifest
        .split("[workspace.package]")
        .nth(1)
        .expect("Cargo.toml has [workspace.package]");
    let line = workspace
        .lines()
        .find(|l| l.trim_start().starts_with("version"))
        .expect("[workspace.package] has a version");
    assert_eq!(line.split('"').nth(1), Some(VERSION), "{line}");
}

#[test]
fn npm_packages_have_the_workspace_version() {
    let main = json("bindings-node/package.json");
    assert_eq!(main["version"], VERSION, "bindings-node/package.json");
    let lock = json("bindings-node/package-lock.json");
    assert_eq!(lock["version"], VERSION, "bindings-node/package-lock.json");
    assert_eq!(
        lock["packages"][""]["version"], VERSION,
        "bindings-node/package-lock.json"
    );

    let platforms = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../bindings-node/npm"))
        .expect("bindings-node/npm holds the platform packages")
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect::<Vec<_>>();
    assert!(!platforms.is_empty());
    for platform in platforms {
        let file = format!("bindings-node/npm/{platform}/package.json");
        let package = json(&file);
        assert_eq!(package["version"], VERSION, "{file}");
        assert_eq!(
            package["name"],
            format!("libpublisher-{platform}"),
            "{file}"
        );
        assert_eq!(
            package["main"],
            format!("libpublisher.{platform}.node"),
            "{file}"
        );
    }
}

#[test]
fn changelog_has_an_entry_for_this_version() {
    let heading = format!("## [{VERSION}]");
    assert!(
        read("CHANGELOG.md")
            .lines()
            .any(|l| l.starts_with(&heading)),
        "CHANGELOG.md has no `{heading}` entry"
    );
}
