//! Facts about the workspace read from `cargo metadata`.

use std::process::Command;

/// The names of every package of the workspace.
pub fn package_names() -> Result<Vec<String>, String> {
    let metadata = metadata()?;
    let packages = metadata["packages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    Ok(packages
        .iter()
        .filter_map(|package| package["name"].as_str().map(str::to_owned))
        .collect())
}

fn metadata() -> Result<serde_json::Value, String> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .map_err(|error| format!("cannot run cargo metadata: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("cannot read cargo metadata: {error}"))
}

/// The packages that declare `[package.metadata.axvm] bare-metal = true`: the
/// `no_std` crates that must build for the three bare-metal targets.
pub fn bare_metal_packages() -> Result<Vec<String>, String> {
    Ok(bare_metal_in(&metadata()?))
}

fn bare_metal_in(metadata: &serde_json::Value) -> Vec<String> {
    let packages = metadata["packages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    packages
        .iter()
        .filter(|package| package["metadata"]["axvm"]["bare-metal"].as_bool() == Some(true))
        .filter_map(|package| package["name"].as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_marked_packages_are_bare_metal() {
        let metadata = serde_json::json!({
            "packages": [
                {"name": "a", "metadata": {"axvm": {"bare-metal": true}}},
                {"name": "b", "metadata": null},
                {"name": "c", "metadata": {"axvm": {"bare-metal": false}}},
            ]
        });
        assert_eq!(bare_metal_in(&metadata), vec!["a".to_owned()]);
    }

    #[test]
    fn this_workspace_marks_its_no_std_crates() {
        let packages = bare_metal_packages().unwrap();
        assert!(packages.iter().any(|p| p == "axvm-types"), "{packages:?}");
        assert!(packages.iter().any(|p| p == "axvmconfig"), "{packages:?}");
        assert!(!packages.iter().any(|p| p == "xtask"), "{packages:?}");
    }
}
