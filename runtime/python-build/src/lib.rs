//! Python flows become components here.
//!
//! componentize-py links CPython, the staged app and bindings for the
//! contract into one component, then runs the app's imports once and
//! snapshots the initialised interpreter. Left alone, that start-up reads the
//! build machine's clocks, random source and file times, and they end up in
//! the snapshot: the hash seed, timestamps cached by the import system. This
//! crate runs the start-up on pinned ones instead (see [`pinned`]), so the
//! same app gives the same component bytes on every build.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

mod files;
mod pinned;
pub mod wheels;

/// What one build's start-up has been handed so far: its randomness and
/// clock, file numbers and listings. A build runs on a thread of its own,
/// and so do the host calls it makes, so this is a thread local.
#[derive(Default)]
struct BuildState {
    pinned: pinned::Pinned,
    files: files::Seen,
}

thread_local! {
    static BUILD: RefCell<BuildState> = RefCell::new(BuildState::default());
}

/// Runs `f` on this thread's build state.
fn with_build<R>(f: impl FnOnce(&mut BuildState) -> R) -> R {
    BUILD.with(|build| f(&mut build.borrow_mut()))
}

/// Starts this thread's build state afresh.
fn start_build() {
    with_build(|build| *build = BuildState::default());
}

/// The componentize-py release this crate builds with (its CPython is 3.14).
pub const COMPONENTIZE_PY: &str = "0.25.1";

/// Names what a build does to its inputs. Caches of built components key on
/// it: it changes whenever the same app would now give other bytes.
///
/// ```
/// assert!(mfw_python_build::RECIPE.contains(mfw_python_build::COMPONENTIZE_PY));
/// ```
pub const RECIPE: &str = "componentize-py 0.25.1, pinned start-up v1";

/// The module componentize-py runs at start-up and the components export
/// from: the app directory must hold `mfw_app.py`.
pub const APP_MODULE: &str = "mfw_app";

/// The contract's world a Python flow component targets: a flow that may
/// also compute parameter defaults at run start (Metaflow's deploy-time
/// defaults, `Parameter("n", default=lambda ctx: ...)`).
pub const WORLD: &str = "flow-component-with-defaults";

/// The file the app writes in its own directory when its imports are done:
/// the flow's graph (the Python SDK's `_build.py` writes it last). A build
/// that fails after it exists failed in the snapshot, not in the flow's code.
///
/// ```
/// use std::path::Path;
///
/// let app = Path::new("work/app");
/// let imports_done = app.join(mfw_python_build::IMPORTS_DONE_FILE).is_file();
/// # assert!(!imports_done);
/// ```
pub const IMPORTS_DONE_FILE: &str = ".mfw-graph.json";

/// The most memory a component may have once its code and packages are
/// imported: the build's snapshot copies it out whole, in one call.
/// numpy, pandas, scipy and scikit-learn together take about 150 MiB.
pub const MAX_SNAPSHOT_BYTES: usize = 1 << 30;

/// Why a Python component could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The contract could not be read or has no flow world.
    #[error("cannot read the contract in {path}: {message}")]
    Contract { path: PathBuf, message: String },
    /// The app directory is missing or not a UTF-8 path.
    #[error("cannot build {path}: {message}")]
    App { path: PathBuf, message: String },
    /// componentize-py failed; the message carries what the flow's code
    /// printed while it was imported (a traceback, usually).
    #[error("componentize-py failed:\n{0}")]
    Componentize(String),
    /// The memory the flow had after importing its code and packages is
    /// larger than the build's snapshot may hold ([`MAX_SNAPSHOT_BYTES`]).
    #[error(
        "the flow's memory after importing its code and packages is larger than the 1 GiB \
         the build's snapshot may hold: pin fewer native packages in this component (split \
         steps that need different ones into components of their own, as in a polyglot \
         manifest), or keep large data out of module-level code\n({0})"
    )]
    SnapshotTooLarge(String),
    /// The build's own thread or async runtime could not start.
    #[error("cannot start the build: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Builds the staged Python app in `app` into the component `out`, for the
/// `flow-component` world of the contract in `wit` (a WIT file or
/// directory). Two builds of the same app give the same bytes.
///
/// It runs on a thread of its own, so it may be called from inside or
/// outside an async runtime.
///
/// ```no_run
/// use std::path::Path;
///
/// mfw_python_build::componentize(
///     Path::new("wit"),
///     Path::new("work/app"), // holds mfw_app.py, the SDK and the flow
///     Path::new("hello.wasm"),
/// )?;
/// # Ok::<(), mfw_python_build::BuildError>(())
/// ```
pub fn componentize(wit: &Path, app: &Path, out: &Path) -> Result<(), BuildError> {
    let stubs = pinned::contract_imports(wit)?;
    let app_path = app.to_str().ok_or_else(|| BuildError::App {
        path: app.to_path_buf(),
        message: "the path is not UTF-8".into(),
    })?;
    if !app.join(format!("{APP_MODULE}.py")).is_file() {
        return Err(BuildError::App {
            path: app.to_path_buf(),
            message: format!("it has no {APP_MODULE}.py"),
        });
    }
    std::thread::scope(|scope| {
        let build = scope.spawn(|| -> Result<(), BuildError> {
            start_build();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let add_to_linker = |linker: &mut _| pinned::add_to_linker(linker, &stubs);
            let no_names = Default::default();
            let generator = componentize_py::ComponentGenerator {
                wit_paths: &[wit],
                worlds: &[WORLD],
                features: &[],
                all_features: false,
                world_module: None,
                // Only the app: nothing installed on the build machine is
                // importable in a step unless the build bundled it.
                python_path: &[app_path],
                module_worlds: &[],
                app_name: APP_MODULE,
                output_path: out,
                add_to_linker: Some(&add_to_linker),
                stub_wasi: false,
                import_interface_names: &no_names,
                export_interface_names: &no_names,
                full_names: false,
                intersect_world: None,
            };
            runtime.block_on(generator.generate()).map_err(|e| {
                let message = format!("{e:#}");
                // Once the app has written its graph its imports are done,
                // so what fails next is the snapshot, which copies the whole
                // memory out in one call that the hostcall fuel caps (the
                // error's type is private to wasmtime). Writing the output
                // is the other step left, and fails with an I/O error.
                let wrote_output = e.chain().any(|cause| cause.is::<std::io::Error>());
                if app.join(IMPORTS_DONE_FILE).is_file() && !wrote_output {
                    BuildError::SnapshotTooLarge(message)
                } else {
                    BuildError::Componentize(message)
                }
            })
        });
        build.join().unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "it panicked".into());
            Err(BuildError::Componentize(message))
        })
    })
}
