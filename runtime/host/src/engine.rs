//! The engine, and loading a flow (compiled through `compiled_cache.rs`).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mfw_graph::{BlobHash, Decorator, FlowGraph, ParamKind, Parameter, Step, Switch};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
};

use crate::bindings::{FlowComponent, FlowComponentPre, mfw::flow::types};
use crate::compiled_cache::CompiledCache;
use crate::function_cache::FunctionCache;
use crate::task::TaskState;
use crate::{HostError, contract};

/// How the host is set up.
///
/// ```
/// let config = mfw_host::HostConfig {
///     max_concurrent_tasks: 8,
///     ..mfw_host::HostConfig::default()
/// };
/// assert!(config.cache_dir.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where compiled components are cached (`~/.cache/mfw/compiled`);
    /// `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// How many tasks may run at once; sizes the instance pool.
    pub max_concurrent_tasks: u32,
    /// The most linear memory one task may use, in bytes.
    pub max_memory_bytes: u64,
    /// The largest artifact value a task may set, in bytes.
    pub max_artifact_bytes: u64,
    /// The largest artifact value a task may write a piece at a time (the
    /// contract's `streams`), in bytes: stored as it comes, it is bounded
    /// by the datastore's space rather than the host's memory.
    pub max_streamed_bytes: u64,
    /// Meter fuel, so tasks can be given deterministic limits
    /// (`TaskLimits::fuel`). Costs some speed; off by default.
    pub fuel: bool,
    /// The most disk the compiled-component cache may take, in bytes, its
    /// compiled functions (reused by the next compiles) included. When a
    /// new component is compiled, the least recently used components and
    /// functions are deleted until the cache fits (the new ones are always
    /// kept).
    pub cache_max_bytes: u64,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_concurrent_tasks: 4,
            max_memory_bytes: 4 << 30,
            max_artifact_bytes: 1 << 30,
            max_streamed_bytes: 64 << 30,
            fuel: false,
            cache_max_bytes: 4 << 30,
        }
    }
}

/// The wasmtime engine mfw runs every task in, with its linker.
#[derive(Clone)]
pub struct Host {
    engine: Engine,
    linker: Arc<Linker<TaskState>>,
    config: Arc<HostConfig>,
    fingerprint: u64,
    /// The compiled-component cache, opened on first use (`None` inside
    /// when the configuration has none or it cannot be opened).
    compiled_cache: Arc<std::sync::OnceLock<Option<CompiledCache>>>,
    /// Cranelift's compiled functions, which a compile reuses across
    /// components (`None` without a cache directory).
    functions: Option<Arc<FunctionCache>>,
}

/// The most core module instances one component may link.
const MAX_CORE_INSTANCES: u32 = 512;

/// How much of a linear memory a task dirtied stays mapped for the next
/// task in its slot, reset by copying the image back rather than unmapped:
/// the next task then takes no page faults there. A Python task dirties a
/// few megabytes of its interpreter's heap; this bounds what a slot keeps.
const MEMORY_KEEP_RESIDENT: usize = 32 << 20;

/// The same for tables: a scientific-Python component's function table
/// (100,000 entries at most) is rewritten by every instance.
const TABLE_KEEP_RESIDENT: usize = 1 << 20;

impl Host {
    /// Configures the engine: Cranelift, a pooling allocator sized for
    /// `max_concurrent_tasks`, and copy-on-write memory images, so a fresh
    /// instance per task costs microseconds.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let engine_error = HostError::Engine;
        // One slot per running task, plus one to read graphs while tasks run.
        let slots = config.max_concurrent_tasks.max(1) + 1;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            // Fiber stacks serve async calls only, which the host does not
            // make; the default of 1,000 cost every command ~7 ms of guard
            // page `mprotect`s to set up and as long to unmap.
            .total_stacks(slots)
            // Interpreted languages link several core modules per component,
            // and a Python component one more per native extension module
            // (pandas with numpy: 79; scipy alone has over a hundred).
            .max_core_instances_per_component(MAX_CORE_INSTANCES)
            .total_core_instances(slots * MAX_CORE_INSTANCES)
            .max_memories_per_component(8)
            .total_memories(slots * 8)
            .max_tables_per_component(64)
            .total_tables(slots * 64)
            .table_elements(100_000)
            .max_core_instance_size(16 << 20)
            .max_component_instance_size(16 << 20)
            .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX));
        // Reset only the pages a task wrote (Linux 6.7+ reports them), and
        // keep them mapped for the next task in the slot. Without the report
        // keeping pages resident would copy the whole bound back each time.
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            pool.pagemap_scan(Enabled::Yes)
                .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
                .table_keep_resident(TABLE_KEEP_RESIDENT);
        }
        let mut wasm = Config::new();
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_init_cow(true)
            .wasm_component_model(true)
            // Timeouts and Ctrl-C interrupt running guests at epoch ticks.
            .epoch_interruption(true)
            // NaNs differ between CPUs unless canonicalised (DETERMINISM).
            .cranelift_nan_canonicalization(true)
            // So do relaxed SIMD's answers (fused or not, out-of-range
            // lanes) unless pinned to the spec's deterministic profile,
            // which fuses `relaxed_madd` everywhere (DETERMINISM).
            .relaxed_simd_deterministic(true)
            .consume_fuel(config.fuel);
        let compiled_cache = Arc::default();
        let functions = config
            .cache_dir
            .as_deref()
            .map(|dir| Arc::new(FunctionCache::new(dir, Arc::clone(&compiled_cache))));
        if let Some(functions) = &functions {
            // An edited flow is a new component whose code is mostly the
            // last one's: a scientific-Python component then compiles in a
            // third of the time.
            wasm.enable_incremental_compilation(functions.clone())
                .map_err(engine_error)?;
        }
        let engine = Engine::new(&wasm).map_err(engine_error)?;
        start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_error)?;
        // Name resolution answers only for the names a step's grants list,
        // and waits end when the task must stop.
        linker.allow_shadowing(true);
        crate::sandbox::restrict_name_lookup(&mut linker).map_err(engine_error)?;
        crate::waits::bound_waits(&mut linker).map_err(engine_error)?;
        linker.allow_shadowing(false);
        FlowComponent::add_to_linker::<TaskState, HasSelf<TaskState>>(&mut linker, |s| s)
            .map_err(engine_error)?;
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            config: Arc::new(config),
            fingerprint: hasher.finish(),
            compiled_cache,
            functions,
        })
    }

    /// The configuration the host was made with.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Checks that `bytes` are an mfw flow component built against a
    /// compatible contract, reads its graph and makes it ready to run
    /// tasks. `name` is how messages refer to it.
    ///
    /// A component this host's cache has seen is not compiled here: its
    /// graph comes from the cache, and the component is compiled (or its
    /// compiled form loaded) when a task first needs it. A run whose
    /// tasks all come from the cache never loads native code, which for a
    /// scientific-Python component is most of a cached run's time.
    pub fn load(&self, bytes: &[u8], name: &str) -> Result<LoadedFlow, HostError> {
        self.load_reporting(bytes, name, &|| {})
    }

    /// As [`Host::load`], calling `compiling` just before Cranelift starts
    /// if the component must be compiled here, which for a large Python
    /// component takes from seconds to a minute.
    ///
    /// ```no_run
    /// # let host = mfw_host::Host::new(mfw_host::HostConfig::default())?;
    /// let bytes = std::fs::read("flow.wasm")?;
    /// let flow = host.load_reporting(&bytes, "flow.wasm", &|| eprintln!("compiling flow.wasm"))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_reporting(
        &self,
        bytes: &[u8],
        name: &str,
        compiling: &dyn Fn(),
    ) -> Result<LoadedFlow, HostError> {
        contract::check(bytes, name)?;
        let hash = BlobHash::of(bytes);
        let files = crate::files::unpack(bytes, &hash.to_hex(), self.config.cache_dir.as_deref())
            .map_err(|source| HostError::Files {
            source_name: name.to_string(),
            source,
        })?;
        let compiled = once_cell::sync::OnceCell::new();
        let (graph, has_parameter_defaults) = match self.known_graph(&hash) {
            Some(known) => (Arc::new(known.graph.into_owned()), known.parameter_defaults),
            None => {
                let now = self.compile_flow(bytes, &hash, name, compiling)?;
                let graph = read_graph(&self.engine, &now.pre, name)?;
                let has_defaults = now.parameter_defaults.is_some();
                self.remember_graph(&hash, &graph, has_defaults);
                let _ = compiled.set(now);
                (graph, has_defaults)
            }
        };
        Ok(LoadedFlow {
            inner: Arc::new(Inner {
                hash,
                files,
                name: name.to_string(),
                bytes: bytes::Bytes::copy_from_slice(bytes),
                graph,
                has_parameter_defaults,
                compiled,
                host: self.clone(),
            }),
        })
    }

    /// Compiles `bytes` (or loads them compiled) and links them.
    fn compile_flow(
        &self,
        bytes: &[u8],
        hash: &BlobHash,
        name: &str,
        compiling: &dyn Fn(),
    ) -> Result<Compiled, HostError> {
        let component = self.compile(bytes, hash, name, compiling)?;
        let instantiate_error = |source| HostError::Instantiate {
            source_name: name.to_string(),
            source,
        };
        prepare_memory_images(&component).map_err(instantiate_error)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(instantiate_error)?;
        let pre = FlowComponentPre::new(pre).map_err(instantiate_error)?;
        Ok(Compiled {
            parameter_defaults: crate::defaults::find_export(&component),
            pre,
        })
    }

    /// The compiled-component cache, its key read once a process.
    fn compiled_cache(&self) -> Option<&CompiledCache> {
        self.compiled_cache
            .get_or_init(|| CompiledCache::open(self.config.cache_dir.as_deref()?))
            .as_ref()
    }

    /// The graph an earlier load of the component `hash` read, if the
    /// cache holds it (under a valid MAC) and this version of mfw wrote it
    /// (a newer one may link the component differently).
    fn known_graph(&self, hash: &BlobHash) -> Option<KnownGraph<'static>> {
        let cache = self.compiled_cache()?;
        let json = cache.read(&cache.path(hash, self.fingerprint, "graph"))?;
        let known: KnownGraph = serde_json::from_slice(&json).ok()?;
        (known.mfw == graph_writer()).then_some(known)
    }

    /// Keeps `graph` for the next load of the component `hash`; failing
    /// to only means that load compiles it.
    fn remember_graph(&self, hash: &BlobHash, graph: &FlowGraph, parameter_defaults: bool) {
        let Some(cache) = self.compiled_cache() else {
            return;
        };
        let known = KnownGraph {
            mfw: graph_writer(),
            parameter_defaults,
            graph: std::borrow::Cow::Borrowed(graph),
        };
        if let Ok(json) = serde_json::to_vec(&known) {
            let _ = cache.write(&cache.path(hash, self.fingerprint, "graph"), &json);
        }
    }

    /// Compiles with Cranelift, or loads the result of an earlier compile.
    /// The cache key is the component's hash and the engine's fingerprint
    /// (wasmtime version and settings): a `.cwasm` only loads in an engine
    /// configured like the one that wrote it.
    fn compile(
        &self,
        bytes: &[u8],
        hash: &BlobHash,
        name: &str,
        compiling: &dyn Fn(),
    ) -> Result<Component, HostError> {
        let compile_error = |source| HostError::Compile {
            source_name: name.to_string(),
            source,
        };
        let Some(cache) = self.compiled_cache() else {
            compiling();
            return Component::new(&self.engine, bytes).map_err(compile_error);
        };
        let path = cache.path(hash, self.fingerprint, "cwasm");
        if let Some(component) = self.load_compiled(cache, &path) {
            return Ok(component);
        }
        compiling();
        let compiled = Component::new(&self.engine, bytes);
        // Functions compiled before a failure (say, an invalid function
        // later in the component) are kept all the same.
        let pack = self.functions.as_ref().and_then(|f| f.finish_pack());
        let component = compiled.map_err(compile_error)?;
        // The cache is an optimisation: failing to write it is not an error.
        if let Ok(serialized) = component.serialize()
            && cache.write(&path, &serialized).is_ok()
        {
            let mut keep = vec![path.as_path()];
            keep.extend(pack.as_deref());
            cache.trim(self.config.cache_max_bytes, &keep);
        }
        Ok(component)
    }

    /// A compiled component from the cache, if its MAC proves this cache
    /// wrote it. Native code is trusted only then: a damaged or planted
    /// `.cwasm` is compiled again, never run.
    fn load_compiled(&self, cache: &CompiledCache, path: &Path) -> Option<Component> {
        let code = cache.read(path)?;
        // Recently used is what the cache keeps when it trims.
        if let Ok(file) = std::fs::File::options().write(true).open(path) {
            let _ = file.set_modified(std::time::SystemTime::now());
        }
        // SAFETY: these bytes are, as the MAC proves, what this host's
        // `serialize` wrote for an engine with the same fingerprint (the
        // file name); they were read once, so they cannot change between
        // the check and the load.
        unsafe { Component::deserialize(&self.engine, &code) }.ok()
    }
}

/// How often running guests check their deadlines.
pub(crate) const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Advances the engine's epoch every tick, for as long as the engine lives.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("mfw-epoch".to_string())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    // Without the ticker, timeouts and Ctrl-C would not interrupt guests;
    // everything else works, so this is not fatal.
    drop(spawned);
}

/// Builds the copy-on-write images of the component's memories once, before
/// any instance needs them.
///
/// On Linux each image is a sealed memfd. Sealing fails with EBUSY while
/// the kernel still holds references to the pages just written (per-CPU
/// LRU batches drain asynchronously), so that one failure is retried; it
/// is not cached by wasmtime, and a later attempt succeeds.
fn prepare_memory_images(component: &Component) -> wasmtime::Result<()> {
    const ATTEMPTS: u32 = 8;
    let mut attempt = 1;
    loop {
        match component.initialize_copy_on_write_image() {
            Ok(()) => return Ok(()),
            Err(e) if attempt < ATTEMPTS && is_transient_seal_failure(&e) => {
                std::thread::sleep(std::time::Duration::from_millis(5 << attempt));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(target_os = "linux")]
fn is_transient_seal_failure(error: &wasmtime::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<memfd::Error>(),
            Some(memfd::Error::AddSeals(io)) if io.kind() == std::io::ErrorKind::ResourceBusy
        )
    })
}

#[cfg(not(target_os = "linux"))]
fn is_transient_seal_failure(_: &wasmtime::Error) -> bool {
    false
}

/// Calls the component's `graph` export in an instance with no task.
fn read_graph(
    engine: &Engine,
    pre: &FlowComponentPre<TaskState>,
    name: &str,
) -> Result<Arc<FlowGraph>, HostError> {
    let graph_error = |source| HostError::Graph {
        source_name: name.to_string(),
        source,
    };
    let mut store = Store::new(engine, TaskState::without_task());
    // Exporting a graph is quick; a component that loops or waits here is
    // stopped.
    let limit = std::time::Duration::from_secs(60);
    crate::waits::stop_store_at(&mut store, crate::waits::Stop::new(Some(limit), None));
    // With fuel metering on, exporting the graph needs some (an error
    // here only means metering is off).
    let _ = store.set_fuel(u64::MAX);
    let instance = pre
        .instantiate(&mut store)
        .map_err(|source| HostError::Instantiate {
            source_name: name.to_string(),
            source,
        })?;
    let graph = instance
        .mfw_flow_flow()
        .call_graph(&mut store)
        .map_err(|e| graph_error(GraphExportError::Call(e)))?;
    convert_graph(graph).map(Arc::new).map_err(graph_error)
}

fn convert_decorators(decorators: Vec<types::Decorator>) -> Vec<Decorator> {
    decorators
        .into_iter()
        .map(|d| Decorator {
            name: d.name,
            options: d.options,
        })
        .collect()
}

/// What is wrong with the graph a component exports.
#[derive(Debug, thiserror::Error)]
pub enum GraphExportError {
    /// The `graph` export trapped or could not be called.
    #[error(transparent)]
    Call(wasmtime::Error),
    /// A step's switch is not declared as the contract says.
    #[error("step `{step}` declares a switch the host cannot read: {reason}")]
    Switch {
        /// The step.
        step: String,
        /// What is wrong with its `switch` decorator.
        reason: String,
    },
    /// A parameter of an unknown kind.
    #[error("parameter `{name}`: {reason}")]
    Kind {
        /// The parameter.
        name: String,
        /// The kinds there are.
        reason: String,
    },
    /// A parameter default that is not a valid encoded value.
    #[error("parameter `{name}` has a default that is not a valid value")]
    Default {
        /// The parameter.
        name: String,
        /// What the decoder said.
        #[source]
        source: mfw_encoding::Error,
    },
}

fn convert_graph(graph: types::FlowGraph) -> Result<FlowGraph, GraphExportError> {
    let mut steps = Vec::with_capacity(graph.steps.len());
    for s in graph.steps {
        let mut decorators = convert_decorators(s.decorators);
        // A switch comes as a decorator (see `Switch::to_decorator`).
        let switch = match decorators.iter().position(|d| d.name == Switch::DECORATOR) {
            Some(at) => {
                let decorator = decorators.remove(at);
                let switch = Switch::from_decorator(&decorator).map_err(|reason| {
                    GraphExportError::Switch {
                        step: s.name.clone(),
                        reason,
                    }
                })?;
                Some(switch)
            }
            None => None,
        };
        steps.push(Step {
            name: s.name,
            next: s.next,
            foreach: s.foreach,
            switch,
            join: s.join,
            decorators,
            doc: s.doc,
            source: s.source,
        });
    }
    let mut parameters = Vec::new();
    for p in graph.parameters {
        let kind: ParamKind = match p.kind.parse() {
            Ok(kind) => kind,
            Err(reason) => {
                return Err(GraphExportError::Kind {
                    name: p.name,
                    reason,
                });
            }
        };
        if let Some(default) = &p.default
            && let Err(source) = mfw_encoding::validate(default)
        {
            return Err(GraphExportError::Default {
                name: p.name,
                source,
            });
        }
        parameters.push(Parameter {
            name: p.name,
            kind,
            default: p.default,
            required: p.required,
            help: p.help,
        });
    }
    Ok(FlowGraph {
        name: graph.name,
        steps,
        parameters,
        decorators: convert_decorators(graph.decorators),
        doc: graph.doc,
        sdk: graph.sdk,
    })
}

pub(crate) struct Inner {
    pub(crate) hash: BlobHash,
    /// The component's data files, unpacked (see `files`).
    pub(crate) files: Option<crate::files::FilesDir>,
    pub(crate) name: String,
    pub(crate) bytes: bytes::Bytes,
    pub(crate) graph: Arc<FlowGraph>,
    /// Whether the component exports `parameter-defaults`.
    pub(crate) has_parameter_defaults: bool,
    /// Set when the component is first compiled (see [`Host::load`]);
    /// tasks starting together wait for one compile.
    compiled: once_cell::sync::OnceCell<Compiled>,
    pub(crate) host: Host,
}

/// A component compiled and linked for the host.
pub(crate) struct Compiled {
    pub(crate) pre: FlowComponentPre<TaskState>,
    /// The `parameter-defaults` export's `compute`, if the component has it.
    pub(crate) parameter_defaults: Option<wasmtime::component::ComponentExportIndex>,
}

impl Inner {
    /// The component compiled: now, on first use, if its load took its
    /// graph from the cache.
    pub(crate) fn compiled(&self) -> Result<&Compiled, HostError> {
        // A failed compile leaves it unset, for the next task to try again.
        self.compiled.get_or_try_init(|| {
            self.host
                .compile_flow(&self.bytes, &self.hash, &self.name, &|| {})
        })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.host.engine
    }

    pub(crate) fn config(&self) -> &HostConfig {
        &self.host.config
    }
}

/// What mfw writes beside a compiled component about its graph (read
/// owned, written borrowed).
#[derive(serde::Serialize, serde::Deserialize)]
struct KnownGraph<'a> {
    mfw: String,
    parameter_defaults: bool,
    graph: std::borrow::Cow<'a, FlowGraph>,
}

/// Which mfw wrote a remembered graph: its version and contract.
fn graph_writer() -> String {
    format!("{} {}", env!("CARGO_PKG_VERSION"), crate::CONTRACT_VERSION)
}

/// A flow component, compiled and ready to run tasks. Cheap to clone.
#[derive(Clone)]
pub struct LoadedFlow {
    pub(crate) inner: Arc<Inner>,
}

impl LoadedFlow {
    /// The graph the component exports (not yet validated).
    pub fn graph(&self) -> &FlowGraph {
        &self.inner.graph
    }

    /// The graph, shared.
    pub fn graph_arc(&self) -> Arc<FlowGraph> {
        self.inner.graph.clone()
    }

    /// The blake3 of the component's bytes.
    pub fn hash(&self) -> BlobHash {
        self.inner.hash
    }

    /// The component's bytes, as loaded.
    pub fn bytes(&self) -> &[u8] {
        &self.inner.bytes
    }

    /// How messages name the component.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::is_transient_seal_failure;
    use std::io::{Error, ErrorKind};

    #[test]
    fn a_busy_memfd_seal_is_retried_and_other_failures_are_not() {
        let busy = || memfd::Error::AddSeals(Error::from(ErrorKind::ResourceBusy));
        assert!(is_transient_seal_failure(&wasmtime::Error::from(busy())));
        let wrapped = wasmtime::Error::from(busy()).context("creating a memory image");
        assert!(is_transient_seal_failure(&wrapped));
        let denied = memfd::Error::AddSeals(Error::from(ErrorKind::PermissionDenied));
        assert!(!is_transient_seal_failure(&wasmtime::Error::from(denied)));
        let create = memfd::Error::Create(Error::from(ErrorKind::ResourceBusy));
        assert!(!is_transient_seal_failure(&wasmtime::Error::from(create)));
        assert!(!is_transient_seal_failure(&wasmtime::Error::msg(
            "cannot add seals to the memfd"
        )));
    }
}

#[cfg(test)]
mod determinism_tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, Function, FunctionSection, Ieee64, Module,
        TypeSection, ValType,
    };

    /// A module exporting `swizzle`, `trunc` and `madd`, each one relaxed
    /// SIMD instruction whose answer x86, Arm and the spec's deterministic
    /// profile may not agree on.
    fn relaxed_simd_module() -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function([], [ValType::I32]);
        types.ty().function([], [ValType::F64]);
        let mut functions = FunctionSection::new();
        let mut exports = ExportSection::new();
        let mut code = CodeSection::new();
        for (index, (name, ty)) in [("swizzle", 0), ("trunc", 0), ("madd", 1)]
            .iter()
            .enumerate()
        {
            functions.function(*ty);
            exports.export(name, ExportKind::Func, index as u32);
        }
        // Bytes 1..=16, picked with index 16: out of range, so 0 by the
        // spec (x86's pshufb reads index 16 as 0 and gives 1).
        let mut swizzle = Function::new([]);
        swizzle
            .instructions()
            .v128_const(i128::from_le_bytes(std::array::from_fn(|i| i as u8 + 1)))
            .v128_const(16)
            .i8x16_relaxed_swizzle()
            .i8x16_extract_lane_u(0)
            .end();
        code.function(&swizzle);
        // NaN to an integer: 0, as the saturating truncation gives (x86's
        // cvttps2dq gives i32::MIN).
        let mut trunc = Function::new([]);
        trunc
            .instructions()
            .v128_const(i128::from_le_bytes([0xff; 16]))
            .i32x4_relaxed_trunc_f32x4_s()
            .i32x4_extract_lane(0)
            .end();
        code.function(&trunc);
        // (1 + 2^-30)(1 - 2^-30) - 1 is -2^-60 fused; rounded before the
        // add, the product is 1 and the answer 0.
        let mut madd = Function::new([]);
        let e = 2f64.powi(-30);
        madd.instructions()
            .f64_const(Ieee64::from(1.0 + e))
            .f64x2_splat()
            .f64_const(Ieee64::from(1.0 - e))
            .f64x2_splat()
            .f64_const(Ieee64::from(-1.0))
            .f64x2_splat()
            .f64x2_relaxed_madd()
            .f64x2_extract_lane(0)
            .end();
        code.function(&madd);
        let mut module = Module::new();
        module
            .section(&types)
            .section(&functions)
            .section(&exports)
            .section(&code);
        module.finish()
    }

    #[test]
    fn relaxed_simd_answers_as_the_deterministic_profile_on_every_cpu() {
        let host = Host::new(HostConfig::default()).unwrap();
        let module = wasmtime::Module::new(&host.engine, relaxed_simd_module()).unwrap();
        let mut store = wasmtime::Store::new(&host.engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let int = |store: &mut wasmtime::Store<()>, name: &str| {
            let f = instance
                .get_typed_func::<(), i32>(&mut *store, name)
                .unwrap();
            f.call(&mut *store, ()).unwrap()
        };
        assert_eq!(int(&mut store, "swizzle"), 0);
        assert_eq!(int(&mut store, "trunc"), 0);
        let madd = instance
            .get_typed_func::<(), f64>(&mut store, "madd")
            .unwrap();
        assert_eq!(madd.call(&mut store, ()).unwrap(), -(2f64.powi(-60)));
    }
}

#[cfg(test)]
mod function_cache_tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, Function, FunctionSection, ModuleSection,
        TypeSection, ValType,
    };

    /// A component holding one core module whose functions each return a
    /// different sum, as many as `functions`.
    fn component(functions: i32) -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function([ValType::I32], [ValType::I32]);
        let mut section = FunctionSection::new();
        let mut exports = ExportSection::new();
        let mut code = CodeSection::new();
        for index in 0..functions {
            section.function(0);
            exports.export(&format!("f{index}"), ExportKind::Func, index as u32);
            let mut body = Function::new([]);
            body.instructions()
                .local_get(0)
                .i32_const(index)
                .i32_add()
                .i32_const(3)
                .i32_mul()
                .end();
            code.function(&body);
        }
        let mut module = wasm_encoder::Module::new();
        module
            .section(&types)
            .section(&section)
            .section(&exports)
            .section(&code);
        let mut component = wasm_encoder::Component::new();
        component.section(&ModuleSection(&module));
        component.finish()
    }

    fn compile(host: &Host, bytes: &[u8]) -> Vec<u8> {
        let component = host
            .compile(bytes, &BlobHash::of(bytes), "test", &|| {})
            .expect("compiles");
        component.serialize().expect("serializes")
    }

    fn counts(host: &Host) -> (u64, u64) {
        host.functions.as_ref().expect("a cache").take_counts()
    }

    #[test]
    fn an_edited_component_compiles_only_what_changed_and_the_same_code() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = || HostConfig {
            cache_dir: Some(dir.path().to_path_buf()),
            ..HostConfig::default()
        };
        let first = Host::new(config()).expect("host");
        let original = component(20);
        let code = compile(&first, &original);
        let (_, compiled) = counts(&first);
        assert!(compiled >= 20, "{compiled}");

        // Another process, the compiled component gone: the code is what
        // compiling gave, and the functions are found. Not every one: the
        // key hashes Cranelift's IR, which holds a little of whatever the
        // compiling thread's context compiled before, so a function may
        // miss when the threads took the functions in another order (1 to
        // 3 of these 42 lookups; RAYON_NUM_THREADS=1 makes it none).
        for cwasm in std::fs::read_dir(dir.path()).expect("dir").flatten() {
            if cwasm.path().extension().is_some_and(|e| e == "cwasm") {
                std::fs::remove_file(cwasm.path()).expect("remove");
            }
        }
        let second = Host::new(config()).expect("host");
        assert_eq!(compile(&second, &original), code);
        let (found, missed) = counts(&second);
        assert!(missed * 4 < compiled, "{found} found, {missed} compiled");

        // An edit adds one function: not much more is compiled.
        compile(&second, &component(21));
        let (found, missed) = counts(&second);
        assert!(missed * 4 < compiled, "{found} found, {missed} compiled");

        // Without a cache directory nothing is looked up.
        let uncached = Host::new(HostConfig::default()).expect("host");
        assert!(uncached.functions.is_none());
        assert_eq!(compile(&uncached, &original), code);
    }
}
