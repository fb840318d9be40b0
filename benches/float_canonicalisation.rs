//! What wasmtime's NaN canonicalisation costs float-heavy guest code, and
//! what a SIMD kernel wins back: a 512 x 512 matmul (benches/float/matmul.c)
//! by OpenBLAS's generic 2 x 2 kernel (what numpy's matmul runs in a
//! component), by a 4 x 4 kernel of f64x2 multiplies and adds, and by the
//! same with relaxed SIMD's fused multiply-add, compiled by Cranelift with
//! and without NaN canonicalisation. mfw turns it on (`DETERMINISM`) so that
//! NaNs have the same bits on every CPU, and pins relaxed SIMD to its
//! deterministic profile, as here.
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
            "-msimd128",
            "-mrelaxed-simd",
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
    let kernels = ["matmul", "matmul_simd", "matmul_fma"];
    // Alternated, best of 5 calls each, so the machine's load falls on all.
    for canonicalise in [false, true, false, true] {
        let mut config = Config::new();
        config
            .cranelift_nan_canonicalization(canonicalise)
            .relaxed_simd_deterministic(true);
        let engine = Engine::new(&config)?;
        let module = Module::new(&engine, &bytes)?;
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[])?;
        let call = |store: &mut Store<()>, name: &str| -> anyhow::Result<()> {
            let f = instance.get_typed_func::<(), ()>(&mut *store, name)?;
            Ok(f.call(&mut *store, ())?)
        };
        call(&mut store, "init")?;
        let checksum = instance.get_typed_func::<(), f64>(&mut store, "checksum")?;
        let mut sums = Vec::new();
        for kernel in kernels {
            let mut best = f64::MAX;
            for _ in 0..5 {
                call(&mut store, "clear")?;
                let start = Instant::now();
                call(&mut store, kernel)?;
                best = best.min(start.elapsed().as_secs_f64());
            }
            let sum = checksum.call(&mut store, ())?;
            sums.push(sum);
            let label = if canonicalise { "on " } else { "off" };
            println!(
                "NaN canonicalisation {label}: 512 x 512 {kernel:<11}, best of 5: {:6.1} ms (checksum {sum:.17e})",
                best * 1e3
            );
        }
        // The SIMD kernel adds in the generic one's order: the same bits.
        anyhow::ensure!(
            sums[0].to_bits() == sums[1].to_bits(),
            "matmul_simd differs from matmul"
        );
        // Fused, it rounds once per step: close, not equal.
        anyhow::ensure!(
            ((sums[2] - sums[0]) / sums[0]).abs() < 1e-12,
            "matmul_fma is far from matmul"
        );
    }
    Ok(())
}
