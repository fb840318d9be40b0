//! The host componentize-py's start-up runs against: WASI as usual, except
//! the clocks, the random source and file times, which are pinned so that
//! nothing of the build machine or the moment reaches the snapshot.
//!
//! - The wall clock reads the Unix epoch; the monotonic clock advances one
//!   millisecond per read, so code that waits for time to pass still ends.
//! - Random bytes (secure and insecure, which seed `str` hashing and the
//!   `random` module) come from one blake3 stream with a fixed key.
//! - Files report fixed times, identities and listing orders (see
//!   [`crate::files`]): the import system caches directory and source
//!   mtimes. No bytecode is written.
//!
//! The contract's own imports (artifacts, control, ...) are stubs that fail:
//! a step cannot run while its module is imported.

use std::path::Path;

use componentize_py::Ctx;
use wasmtime::StoreContextMut;
use wasmtime::component::Linker;
use wasmtime_wasi::cli::WasiCliView;
use wasmtime_wasi::clocks::WasiClocksView;
use wasmtime_wasi::p2::bindings::cli::environment;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;

use crate::{BuildError, WORLD, with_build};

/// The WASI release wasmtime-wasi 46 implements; a guest's 0.2.x imports
/// resolve to it, so replacements are defined under the same name.
const WASI: &str = "0.2.12";

/// What one build's start-up reads as randomness and monotonic time.
pub(crate) struct Pinned {
    random: blake3::OutputReader,
    monotonic_ns: u64,
}

impl Default for Pinned {
    fn default() -> Self {
        Pinned {
            random: blake3::Hasher::new_derive_key("mfw python build: start-up randomness")
                .finalize_xof(),
            monotonic_ns: 0,
        }
    }
}

impl Pinned {
    fn now(&mut self) -> u64 {
        self.monotonic_ns += 1_000_000;
        self.monotonic_ns
    }

    fn bytes(&mut self, len: u64) -> Vec<u8> {
        // A guest asks for a few bytes at a time; cap what a bad request
        // could make the host allocate.
        let mut bytes = vec![0; len.min(1 << 20) as usize];
        self.random.fill(&mut bytes);
        bytes
    }

    fn u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        self.random.fill(&mut bytes);
        u64::from_le_bytes(bytes)
    }
}

/// An interface the contract's flow world imports: its functions (resource
/// methods among them) and its resources, for stubbing.
#[derive(Debug)]
pub(crate) struct Imported {
    pub(crate) interface: String,
    pub(crate) functions: Vec<String>,
    pub(crate) resources: Vec<String>,
}

/// What the contract's flow world imports, by interface, for stubbing.
pub(crate) fn contract_imports(wit: &Path) -> Result<Vec<Imported>, BuildError> {
    let contract = |message: String| BuildError::Contract {
        path: wit.to_path_buf(),
        message,
    };
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_path(wit)
        .map_err(|e| contract(format!("{e:#}")))?;
    let world = resolve
        .select_world(&[package], Some(WORLD))
        .map_err(|e| contract(format!("{e:#}")))?;
    let mut imports = Vec::new();
    for (key, item) in &resolve.worlds[world].imports {
        let wit_parser::WorldItem::Interface { id, .. } = item else {
            continue;
        };
        let name = match key {
            wit_parser::WorldKey::Name(name) => name.clone(),
            wit_parser::WorldKey::Interface(id) => resolve
                .id_of(*id)
                .ok_or_else(|| contract("an imported interface has no name".into()))?,
        };
        // WASI is the real thing (pinned above), not a stub.
        if name.starts_with("wasi:") {
            continue;
        }
        let interface = &resolve.interfaces[*id];
        let resources = interface
            .types
            .iter()
            .filter(|(_, ty)| matches!(resolve.types[**ty].kind, wit_parser::TypeDefKind::Resource))
            .map(|(name, _)| name.clone())
            .collect();
        imports.push(Imported {
            interface: name,
            functions: interface.functions.keys().cloned().collect(),
            resources,
        });
    }
    Ok(imports)
}

fn epoch_datetime() -> Datetime {
    Datetime {
        seconds: 0,
        nanoseconds: 0,
    }
}

/// Adds WASI with pinned clocks, randomness and file times, and stubs for
/// the contract's imports, to componentize-py's start-up linker.
pub(crate) fn add_to_linker(linker: &mut Linker<Ctx>, contract: &[Imported]) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    // What follows replaces some of what was just added.
    linker.allow_shadowing(true);
    // `instance` replaces what WASI defined under the name, so each
    // interface is defined whole; subscribing to a duration still waits
    // for real.
    let mut wall = linker.instance(&format!("wasi:clocks/wall-clock@{WASI}"))?;
    wall.func_wrap("now", |_, (): ()| Ok((epoch_datetime(),)))?;
    wall.func_wrap("resolution", |_, (): ()| {
        Ok((Datetime {
            seconds: 0,
            nanoseconds: 1,
        },))
    })?;

    let mut monotonic = linker.instance(&format!("wasi:clocks/monotonic-clock@{WASI}"))?;
    monotonic.func_wrap("now", |_, (): ()| Ok((with_build(|b| b.pinned.now()),)))?;
    monotonic.func_wrap("resolution", |_, (): ()| Ok((1u64,)))?;
    monotonic.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, Ctx>, (when,): (u64,)| {
            // Pinned instants are far in the real clock's past: ready now.
            Ok((monotonic_clock::Host::subscribe_instant(
                &mut store.data_mut().clocks(),
                when,
            )?,))
        },
    )?;
    monotonic.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, Ctx>, (duration,): (u64,)| {
            Ok((monotonic_clock::Host::subscribe_duration(
                &mut store.data_mut().clocks(),
                duration,
            )?,))
        },
    )?;

    for (interface, bytes_fn, u64_fn) in [
        ("random", "get-random-bytes", "get-random-u64"),
        (
            "insecure",
            "get-insecure-random-bytes",
            "get-insecure-random-u64",
        ),
    ] {
        let mut random = linker.instance(&format!("wasi:random/{interface}@{WASI}"))?;
        random.func_wrap(bytes_fn, |_, (len,): (u64,)| {
            Ok((with_build(|b| b.pinned.bytes(len)),))
        })?;
        random.func_wrap(u64_fn, |_, (): ()| Ok((with_build(|b| b.pinned.u64()),)))?;
    }
    let mut seed = linker.instance(&format!("wasi:random/insecure-seed@{WASI}"))?;
    seed.func_wrap("insecure-seed", |_, (): ()| {
        Ok((with_build(|b| (b.pinned.u64(), b.pinned.u64())),))
    })?;

    crate::files::add_to_linker(linker)?;

    // The interpreter writes no bytecode: a build leaves the app and
    // componentize-py's copies as they were.
    let mut cli = linker.instance(&format!("wasi:cli/environment@{WASI}"))?;
    cli.func_wrap(
        "get-environment",
        |mut store: StoreContextMut<'_, Ctx>, (): ()| {
            // CPython reads its environment as it starts, before the
            // snapshot copies the memory out in one call: that call may
            // carry up to the snapshot limit, not wasmtime's 128 MiB.
            store.set_hostcall_fuel(crate::MAX_SNAPSHOT_BYTES);
            let mut variables = environment::Host::get_environment(&mut store.data_mut().cli())?;
            variables.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
            Ok((variables,))
        },
    )?;
    cli.func_wrap(
        "get-arguments",
        |mut store: StoreContextMut<'_, Ctx>, (): ()| {
            Ok((environment::Host::get_arguments(
                &mut store.data_mut().cli(),
            )?,))
        },
    )?;
    cli.func_wrap(
        "initial-cwd",
        |mut store: StoreContextMut<'_, Ctx>, (): ()| {
            Ok((environment::Host::initial_cwd(&mut store.data_mut().cli())?,))
        },
    )?;

    for Imported {
        interface,
        functions,
        resources,
    } in contract
    {
        let mut stubs = linker.instance(interface)?;
        // No instance of a contract resource is ever made while importing
        // (every function that could make one fails), but the type must be.
        for resource in resources {
            stubs.resource(
                resource,
                wasmtime::component::ResourceType::host::<Imported>(),
                |_, _| Ok(()),
            )?;
        }
        for function in functions {
            let message = format!(
                "{interface}#{function} was called while the flow's modules were imported: \
                 steps run only when the flow runs"
            );
            stubs.func_new(function, move |_, _, _, _| {
                Err(wasmtime::Error::msg(message.clone()))
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_imports_are_listed_for_stubbing() {
        let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
        let imports = contract_imports(&wit).unwrap();
        let find = |prefix: &str| {
            imports
                .iter()
                .find(|i| i.interface.starts_with(prefix))
                .unwrap_or_else(|| panic!("the flow world imports {prefix}: {imports:?}"))
        };
        assert!(
            find("mfw:flow/artifacts@")
                .functions
                .iter()
                .any(|f| f == "get")
        );
        find("mfw:flow/control@");
        let streams = find("mfw:flow/streams@");
        assert_eq!(streams.resources, ["value-writer", "value-reader"]);
        assert!(
            streams
                .functions
                .iter()
                .any(|f| f == "[method]value-writer.write"),
            "{streams:?}"
        );
    }

    #[test]
    fn a_missing_contract_is_named() {
        let err = contract_imports(Path::new("/nonexistent/wit")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/wit"), "{err}");
    }

    #[test]
    fn the_pinned_stream_is_the_same_every_build() {
        let draw = || {
            let mut p = Pinned::default();
            (p.bytes(16), p.u64())
        };
        assert_eq!(draw(), draw());
        let mut p = Pinned::default();
        assert_ne!(p.bytes(8), p.bytes(8));
    }
}
