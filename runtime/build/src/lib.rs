//! The language front-ends: what the user names (a `.wasm` component, a
//! Rust crate, a Python flow, a Go module, or an `mfw.toml` manifest of
//! several) becomes component bytes, each built only when its sources
//! changed.
//!
//! ```no_run
//! let options = mfw_build::BuildOptions {
//!     cache_dir: std::path::Path::new("/tmp/mfw-cache"),
//!     force: false,
//!     shared_store: None,
//!     configs: &Default::default(),
//! };
//! let resolved = mfw_build::resolve(std::path::Path::new("examples/hello/rust"), &options)?;
//! println!("{} bytes", resolved.components[0].bytes.len());
//! # Ok::<(), mfw_build::BuildError>(())
//! ```

mod error;
mod go;
pub mod python;
mod source;
mod step_code;

pub use error::{BuildError, Language};
pub use source::{BuildOptions, Component, Resolved, resolve};
