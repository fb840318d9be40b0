//! What wasmtime's NaN canonicalisation costs float-heavy guest code: a
//! 512 x 512 matmul (benches/float/matmul.c, OpenBLAS's generic 2 x 2
//! blocking, which numpy's matmul runs in a component) compiled by
//! Cranelift with and without it. mfw turns it on (`DETERMINISM`) so that
//! NaNs have the same bits on every CPU.
//!
//! Run with `cargo bench -p mfw-host --bench float_canonicalisation`; it
//! needs Debian's clang-22 and lld-22 (`scripts/setup` installs them).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use wasmtime::{Config, Engine, Instance, Module, Store};

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let source = root.join("benches/float/matmul.c");
    let wasm = std::env::temp_dir().join(format!("mfw-bench-matmul-{}.wasm", std::process::id()));
    let compiled = Command::new("clang-22")
        .args([
            "--target=wasm32",
            "-O2",
            "-nostdlib",
            "-Wl,--no-entry",
            "-o",
        ])
        .arg(&wasm)
        .arg(&source)
        .status();
    match compiled {
        Ok(status) if status.success() => {}
        _ => {
            eprintln!(
                "float_canonicalisation: skipped: clang-22 could not compile {}",
                source.display()
            );
            return Ok(());
        }
    }
    let bytes = std::fs::read(&wasm)?;
    std::fs::remove_file(&wasm)?;
    // Alternated, best of 5 calls each, so the machine's load falls on both.
    for canonicalise in [false, true, false, true] {
        let mut config = Config::new();
        config.cranelift_nan_canonicalization(canonicalise);
        let engine = Engine::new(&config)?;
        let module = Module::new(&engine, &bytes)?;
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[])?;
        instance
            .get_typed_func::<(), ()>(&mut store, "init")?
            .call(&mut store, ())?;
        let matmul = instance.get_typed_func::<(), f64>(&mut store, "matmul")?;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            matmul.call(&mut store, ())?;
            best = best.min(start.elapsed().as_secs_f64());
        }
        let label = if canonicalise { "on " } else { "off" };
        println!(
            "NaN canonicalisation {label}: 512 x 512 matmul, best of 5: {:.1} ms",
            best * 1e3
        );
    }
    Ok(())
}
