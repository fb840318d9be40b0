//! The recipe that builds native Python packages (numpy, pandas, ...) for
//! the CPython inside a component, carried in this crate so an installed
//! `mfw` needs nothing from the repository to build them.
//!
//! The recipe itself is Python (`wheels/recipe.py`, run by the host's
//! Python) driven by `wheels/recipes.toml`, which pins every source release,
//! toolchain package and build tool by sha256 or version; per-package
//! patches sit in `wheels/patches`. [`write_recipe`] lays it out with the
//! component CPython's sysconfig data, which the recipe compiles against.

use std::path::Path;

/// The recipe's files: path relative to the recipe directory, content.
pub const RECIPE_FILES: &[(&str, &str)] = &[
    ("recipe.py", include_str!("../wheels/recipe.py")),
    ("recipes.toml", include_str!("../wheels/recipes.toml")),
    (
        "toolchain/wasi-cc",
        include_str!("../wheels/toolchain/wasi-cc"),
    ),
    (
        "toolchain/no-exceptions.h",
        include_str!("../wheels/toolchain/no-exceptions.h"),
    ),
    (
        "patches/numpy-2.3.5.patch",
        include_str!("../wheels/patches/numpy-2.3.5.patch"),
    ),
    (
        "patches/pandas-2.3.3.patch",
        include_str!("../wheels/patches/pandas-2.3.3.patch"),
    ),
    (
        "patches/nanoarrow-0.9.0.patch",
        include_str!("../wheels/patches/nanoarrow-0.9.0.patch"),
    ),
    (
        "patches/openblas-0.3.31.patch",
        include_str!("../wheels/patches/openblas-0.3.31.patch"),
    ),
    (
        "patches/scipy-1.18.1.patch",
        include_str!("../wheels/patches/scipy-1.18.1.patch"),
    ),
    (
        "patches/scikit-learn-1.9.1.patch",
        include_str!("../wheels/patches/scikit-learn-1.9.1.patch"),
    ),
    (
        "patches/cython-3.2.9.patch",
        include_str!("../wheels/patches/cython-3.2.9.patch"),
    ),
    (
        "patches/pybind11-3.0.4.patch",
        include_str!("../wheels/patches/pybind11-3.0.4.patch"),
    ),
    (
        "scripts/openblas-void-abi.py",
        include_str!("../wheels/scripts/openblas-void-abi.py"),
    ),
    (
        "scripts/no-named-catch.py",
        include_str!("../wheels/scripts/no-named-catch.py"),
    ),
    ("shims/setjmp.h", include_str!("../wheels/shims/setjmp.h")),
    ("shims/fstream", include_str!("../wheels/shims/fstream")),
    ("shims/mutex", include_str!("../wheels/shims/mutex")),
    ("shims/thread", include_str!("../wheels/shims/thread")),
    (
        "shims/condition_variable",
        include_str!("../wheels/shims/condition_variable"),
    ),
];

/// The component CPython's sysconfig data (from componentize-py's standard
/// library): file name, content.
pub const TARGET_SYSCONFIG: &[(&str, &str)] = &[
    (
        "_sysconfig_vars__wasi_wasm32-wasi.json",
        include_str!(concat!(
            env!("OUT_DIR"),
            "/_sysconfig_vars__wasi_wasm32-wasi.json"
        )),
    ),
    (
        "_sysconfigdata__wasi_wasm32-wasi.py",
        include_str!(concat!(
            env!("OUT_DIR"),
            "/_sysconfigdata__wasi_wasm32-wasi.py"
        )),
    ),
];

/// Writes the recipe into `dir` and the target's sysconfig data into
/// `dir/target`, which `recipe.py build --target` takes.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// mfw_python_build::wheels::write_recipe(dir.path())?;
/// assert!(dir.path().join("recipe.py").is_file());
/// assert!(dir.path().join("target/_sysconfigdata__wasi_wasm32-wasi.py").is_file());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_recipe(dir: &Path) -> std::io::Result<()> {
    for (name, content) in RECIPE_FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
    }
    let target = dir.join("target");
    std::fs::create_dir_all(&target)?;
    for (name, content) in TARGET_SYSCONFIG {
        std::fs::write(target.join(name), content)?;
    }
    Ok(())
}

/// A hash of the recipe and the target data: a build cache keyed on it
/// notices a changed recipe.
pub fn recipe_hash() -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    for (name, content) in RECIPE_FILES.iter().chain(TARGET_SYSCONFIG) {
        hasher.update(name.as_bytes());
        hasher.update(&[0]);
        hasher.update(content.as_bytes());
        hasher.update(&[0]);
    }
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_recipe_directory_is_carried() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("wheels");
        let mut on_disk = Vec::new();
        let mut pending = vec![root.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if !path.to_string_lossy().contains("__pycache__") {
                    on_disk.push(
                        path.strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        on_disk.sort();
        let mut carried: Vec<String> = RECIPE_FILES.iter().map(|(n, _)| n.to_string()).collect();
        carried.sort();
        assert_eq!(carried, on_disk, "list new recipe files in RECIPE_FILES");
    }

    #[test]
    fn the_target_is_componentize_pys_cpython_3_14_for_wasm32() {
        let (_, data) = TARGET_SYSCONFIG[1];
        assert!(
            data.contains(".cpython-314-wasm32-wasi.so"),
            "EXT_SUFFIX of the component CPython"
        );
    }
}
