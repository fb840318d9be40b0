//! Embeds what the native-wheel recipe needs from componentize-py: the
//! sysconfig data of the CPython inside every component (its extension
//! suffix, sizes, `pyconfig.h` values). componentize-py keeps it in its
//! standard library archive, which its crate ships beside its sources.

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The componentize-py this crate depends on (`=` in Cargo.toml).
const COMPONENTIZE_PY: &str = "0.25.1";
const WANTED: [&str; 2] = [
    "_sysconfig_vars__wasi_wasm32-wasi.json",
    "_sysconfigdata__wasi_wasm32-wasi.py",
];

/// componentize-py's package directory: named by MFW_COMPONENTIZE_PY_DIR,
/// else looked up in cargo's registry sources or a vendor directory.
fn componentize_py_dir() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=MFW_COMPONENTIZE_PY_DIR");
    if let Some(dir) = std::env::var_os("MFW_COMPONENTIZE_PY_DIR") {
        return Some(PathBuf::from(dir));
    }
    let name = format!("componentize-py-{COMPONENTIZE_PY}");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    let mut candidates = Vec::new();
    if let Ok(registries) = std::fs::read_dir(cargo_home.join("registry/src")) {
        candidates.extend(registries.flatten().map(|r| r.path().join(&name)));
    }
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    candidates.push(manifest.join("../../vendor").join("componentize-py"));
    candidates
        .into_iter()
        .find(|dir| dir.join("python-lib.tar.zst").is_file())
}

fn main() {
    let dir = componentize_py_dir().unwrap_or_else(|| {
        panic!(
            "cannot find componentize-py {COMPONENTIZE_PY}'s sources (python-lib.tar.zst) in \
             cargo's registry: set MFW_COMPONENTIZE_PY_DIR to its package directory"
        )
    });
    let archive = dir.join("python-lib.tar.zst");
    println!("cargo:rerun-if-changed={}", archive.display());
    let file = std::fs::File::open(&archive).expect("python-lib.tar.zst is readable");
    let decoder = zstd::Decoder::new(file).expect("python-lib.tar.zst is zstd");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut found = 0;
    for entry in tar::Archive::new(decoder)
        .entries()
        .expect("python-lib.tar.zst is a tar archive")
    {
        let mut entry = entry.expect("a readable archive entry");
        let path = entry.path().expect("a path").into_owned();
        let Some(name) = path.to_str().filter(|p| WANTED.contains(p)) else {
            continue;
        };
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("a readable entry");
        std::fs::write(out.join(name), content).expect("OUT_DIR is writable");
        found += 1;
    }
    assert_eq!(
        found,
        WANTED.len(),
        "{} lacks {WANTED:?}",
        archive.display()
    );
}
