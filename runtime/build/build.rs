//! Embeds the Python SDK and the WIT contract in the binary, so `mfw build
//! flow.py` needs nothing from the repository at run time.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("../..");
    let sdk = root.join("guest-sdks/python/src/mfw");
    let wit = root.join("wit/flow.wit");
    println!("cargo:rerun-if-changed={}", sdk.display());
    println!("cargo:rerun-if-changed={}", wit.display());
    let mut files: Vec<_> = std::fs::read_dir(&sdk)
        .expect("guest-sdks/python/src/mfw exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    let mut code = String::from(
        "/// The Python SDK's files, as `(name, content)`.\npub const PYTHON_SDK: &[(&str, &str)] = &[\n",
    );
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name");
        let path = file.canonicalize().expect("the file exists");
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let wit = wit.canonicalize().expect("wit/flow.wit exists");
    let _ = writeln!(
        code,
        "/// The WIT contract.\npub const WIT: &str = include_str!({:?});",
        wit.display().to_string()
    );
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
