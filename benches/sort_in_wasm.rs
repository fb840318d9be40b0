//! What a component costs numpy's sort: the radix sort of the recipe's
//! numpy patch (benches/float/radix_sort.c, 1M float64) compiled for wasm32
//! and run by wasmtime as mfw runs components, against the same C compiled
//! for this machine. Native numpy sorts with AVX-512 sorting networks
//! (x86-simd-sort), which a wasm32 build cannot dispatch to; this tells how
//! much of the gap is the component and how much the algorithm.
//!
//! Run with `cargo bench -p mfw-host --bench sort_in_wasm`; it needs
//! Debian's clang-22 and lld-22 (`scripts/setup` installs them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use wasmtime::{Config, Engine, Instance, Module, Store};

const KERNELS: [&str; 2] = ["sort11", "sort13"];

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let source = root.join("benches/float/radix_sort.c");
    let scratch = std::env::temp_dir().join(format!("mfw-bench-sort-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let wasm = scratch.join("radix_sort.wasm");
    let native = scratch.join("radix_sort");
    let built = clang(
        &["--target=wasm32", "-nostdlib", "-Wl,--no-entry"],
        &source,
        &wasm,
    ) && clang(&["-DNATIVE_MAIN"], &source, &native);
    if !built {
        eprintln!(
            "sort_in_wasm: skipped: clang-22 could not compile {}",
            source.display()
        );
        std::fs::remove_dir_all(&scratch)?;
        return Ok(());
    }
    let bytes = std::fs::read(&wasm)?;

    // The host's settings that concern code generation (engine.rs).
    let mut config = Config::new();
    config
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true);
    let engine = Engine::new(&config)?;
    let module = Module::new(&engine, &bytes)?;
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[])?;
    let init = instance.get_typed_func::<(), ()>(&mut store, "init")?;
    let unsorted = instance.get_typed_func::<(), u32>(&mut store, "unsorted")?;
    let checksum = instance.get_typed_func::<(), u64>(&mut store, "checksum")?;
    init.call(&mut store, ())?;
    let unsorted_before = unsorted.call(&mut store, ())?;
    let bits = checksum.call(&mut store, ())?;

    // Alternated rounds, best of 5 each, so the machine's load falls on all.
    for round in 1..=3 {
        for kernel in KERNELS {
            let sort = instance.get_typed_func::<(), ()>(&mut store, kernel)?;
            let mut best = f64::MAX;
            for _ in 0..5 {
                init.call(&mut store, ())?;
                let start = Instant::now();
                sort.call(&mut store, ())?;
                best = best.min(start.elapsed().as_secs_f64());
            }
            anyhow::ensure!(
                unsorted.call(&mut store, ())? == 0 && checksum.call(&mut store, ())? == bits,
                "{kernel} in wasm did not sort (of {unsorted_before} out of order before)"
            );
            let native_ms = run_native(&native, kernel, bits)?;
            let wasm_ms = best * 1e3;
            println!(
                "round {round}: 1M float64, {kernel}, best of 5: wasm {wasm_ms:6.2} ms, native {native_ms:6.2} ms ({:.2}x)",
                wasm_ms / native_ms
            );
        }
    }
    std::fs::remove_dir_all(&scratch)?;
    Ok(())
}

/// Compiles `source` with clang-22 at -O2 into `output`; false if it could
/// not.
fn clang(args: &[&str], source: &Path, output: &Path) -> bool {
    Command::new("clang-22")
        .arg("-O2")
        .args(args)
        .arg("-o")
        .arg(output)
        .arg(source)
        .status()
        .is_ok_and(|status| status.success())
}

/// The native program's best of 5 for `kernel`, in milliseconds, once it
/// has said its result is sorted with the bits it started with.
fn run_native(program: &Path, kernel: &str, bits: u64) -> anyhow::Result<f64> {
    let output = Command::new(program).arg(kernel).output()?;
    anyhow::ensure!(
        output.status.success(),
        "{} {kernel} failed",
        program.display()
    );
    let text = String::from_utf8(output.stdout)?;
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.as_slice() {
        [ms, "0", sum] if sum.parse::<u64>()? == bits => Ok(ms.parse()?),
        _ => anyhow::bail!("{kernel} natively did not sort: {text}"),
    }
}
