//! The WASI a task gets: nothing from the outside world. No directories,
//! no environment, no sockets; a virtual clock and randomness derived from
//! the task's cache key, so the same task given the same inputs does the
//! same thing every time.

use std::convert::Infallible;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand_core::TryRng;

use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use crate::output::Capture;
use crate::task::{Grants, TaskState};

/// What the host does to make a task's results a function of its inputs,
/// named and versioned: task keys cover it, so a change here changes every
/// key. A step without the `clock` grant reads a virtual clock that starts
/// at 2024-01-01 and ticks once per reading; one without `random` gets
/// randomness keyed by its cache key (the task key less the parameters it
/// did not read; see [`crate::TaskSpec::random_seed`]); every NaN a float
/// operation produces has the one canonical bit pattern, so results are
/// bit-identical on x86-64 and aarch64 (which differ in the NaNs they make);
/// and relaxed SIMD answers as the spec's deterministic profile does (a
/// fused `relaxed_madd`, out-of-range lanes as the strict instructions
/// treat them), not as the CPU's own instructions would.
///
/// ```
/// assert!(mfw_host::DETERMINISM.starts_with("mfw-determinism-"));
/// ```
pub const DETERMINISM: &str = "mfw-determinism-4 clock=virtual(2024-01-01,tick) random=blake3(cache-key) nan=canonical relaxed-simd=deterministic";

/// Where the virtual wall clock starts: 2024-01-01T00:00:00Z.
const VIRTUAL_EPOCH_SECS: u64 = 1_704_067_200;

/// How far virtual time moves on each reading, so that loops waiting for
/// time to pass still end.
const TICK_NANOS: u64 = 1_000;

/// A clock that starts at a fixed instant and advances one tick per reading.
#[derive(Default)]
struct VirtualClock {
    readings: AtomicU64,
}

impl VirtualClock {
    fn advance(&self) -> u64 {
        self.readings.fetch_add(1, Ordering::Relaxed) * TICK_NANOS
    }
}

impl HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(TICK_NANOS)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(VIRTUAL_EPOCH_SECS) + Duration::from_nanos(self.advance())
    }
}

impl HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        TICK_NANOS
    }

    fn now(&self) -> u64 {
        self.advance()
    }
}

/// A random stream: blake3's extendable output keyed by the task's seed.
struct SeededRandom(blake3::OutputReader);

impl SeededRandom {
    fn new(purpose: &str, seed: &[u8]) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key(&format!("mfw 2026 task random {purpose}"));
        hasher.update(seed);
        SeededRandom(hasher.finalize_xof())
    }
}

impl TryRng for SeededRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0; 4];
        self.0.fill(&mut bytes);
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0; 8];
        self.0.fill(&mut bytes);
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill(dst);
        Ok(())
    }
}

/// Why a task's sandbox cannot be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SandboxError {
    /// The component's data files cannot be mapped in.
    #[error("cannot open the component's data files")]
    Files(#[source] wasmtime::Error),
    /// A granted directory cannot be mapped in.
    #[error("cannot open {} for {guest}", .host.display())]
    Dir {
        host: std::path::PathBuf,
        guest: String,
        #[source]
        source: wasmtime::Error,
    },
}

/// Builds the WASI context of one task. `seed` (its cache key) seeds its
/// randomness; the attempt and run id deliberately do not, so a retry or a
/// later run of the same task sees the same numbers. Everything else is
/// closed unless `grants` opens it.
pub(crate) fn wasi_for_task(
    seed: &[u8],
    stdout: Capture,
    stderr: Capture,
    grants: &Grants,
    files: Option<&Path>,
) -> Result<WasiCtx, SandboxError> {
    let mut builder = WasiCtxBuilder::new();
    builder.stdout(stdout).stderr(stderr);
    // The component's own data files, read-only where its code expects
    // them (see `files`): not a grant, nothing of the host's.
    if let Some(dir) = files {
        builder
            .preopened_dir(dir, crate::files::GUEST_DIR, FsPerms::ReadOnly)
            .map_err(SandboxError::Files)?;
    }
    if !grants.clock {
        builder
            .wall_clock(VirtualClock::default())
            .monotonic_clock(VirtualClock::default());
    }
    if !grants.random {
        builder
            .secure_random(SeededRandom::new("secure", seed))
            .insecure_random(SeededRandom::new("insecure", seed))
            .insecure_random_seed(insecure_seed(seed));
    }
    for dir in &grants.dirs {
        let perms = if dir.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder
            .preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(|source| SandboxError::Dir {
                host: dir.host.clone(),
                guest: dir.guest.clone(),
                source,
            })?;
    }
    for (name, value) in &grants.env {
        builder.env(name, value);
    }
    if grants.network.is_empty() {
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
    } else {
        let allowed = std::sync::Arc::new(grants.network.clone());
        builder
            .allow_tcp(true)
            .allow_udp(false)
            .allow_ip_name_lookup(grants.name_lookup)
            .socket_addr_check(move |addr, use_| {
                let allowed = allowed.clone();
                Box::pin(async move {
                    use wasmtime_wasi::sockets::SocketAddrUse;
                    match use_ {
                        // Connecting needs a grant; binding the ephemeral
                        // local end of such a connection is implied.
                        SocketAddrUse::TcpConnect => allowed.contains(&addr),
                        SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                        _ => false,
                    }
                })
            });
    }
    Ok(builder.build())
}

fn insecure_seed(seed: &[u8]) -> u128 {
    let mut bytes = [0; 16];
    SeededRandom::new("seed", seed).0.fill(&mut bytes);
    u128::from_le_bytes(bytes)
}

/// Replaces WASI's `resolve-addresses` with one that resolves only the
/// host names the task's network grants list (and says so on the task's
/// stderr when it refuses), so lookups cannot reach the network for other
/// names. Everything else about the lookup is WASI's own.
pub(crate) fn restrict_name_lookup(
    linker: &mut wasmtime::component::Linker<TaskState>,
) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::Host;
    use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;
    use wasmtime_wasi::sockets::WasiSocketsView;
    let mut lookup = linker.instance(NAME_LOOKUP_INTERFACE)?;
    lookup.func_wrap(
        "resolve-addresses",
        |mut store: wasmtime::StoreContextMut<'_, TaskState>,
         (network, name): (
            wasmtime::component::Resource<wasmtime_wasi::p2::Network>,
            String,
        )| {
            let state = store.data_mut();
            let allowed = state
                .task
                .as_ref()
                .is_some_and(|task| task.spec.grants.may_resolve(&name));
            if !allowed {
                if let Some(stderr) = &state.stderr {
                    stderr.write(
                        format!(
                            "mfw: name resolution of `{name}` denied: the step's network grants \
                             do not name it (grant network=[\"{name}:PORT\"])\n"
                        )
                        .as_bytes(),
                    );
                }
                return Ok((Err(ErrorCode::AccessDenied),));
            }
            let mut sockets = state.sockets();
            Ok((match sockets.resolve_addresses(network, name) {
                Ok(stream) => Ok(stream),
                Err(error) => Err(error.downcast()?),
            },))
        },
    )
}

/// The WASI interface (and version) the host's name resolution implements.
const NAME_LOOKUP_INTERFACE: &str = "wasi:sockets/ip-name-lookup@0.2.12";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randomness_depends_only_on_the_seed() {
        let draw = |seed: &[u8]| SeededRandom::new("secure", seed).try_next_u64();
        assert_eq!(draw(b"key one"), draw(b"key one"));
        assert_ne!(draw(b"key one"), draw(b"key two"));
        // Each WASI source draws its own stream from the one seed.
        assert_ne!(
            SeededRandom::new("secure", b"key one").try_next_u64(),
            SeededRandom::new("insecure", b"key one").try_next_u64()
        );
    }

    #[test]
    fn virtual_time_starts_fixed_and_moves_forward() {
        let clock = VirtualClock::default();
        let first = HostWallClock::now(&clock);
        let second = HostWallClock::now(&clock);
        assert_eq!(first, Duration::from_secs(VIRTUAL_EPOCH_SECS));
        assert!(second > first);
    }
}
