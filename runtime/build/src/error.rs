//! Why a flow could not be built.

use std::path::{Path, PathBuf};

/// Why a flow's sources could not be turned into a component. Each message
/// names the file or tool at fault and what to do.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A file or directory could not be read, written or listed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done: `read`, `list`, ...
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A tool the build runs (cargo, go, the host's Python) could not be
    /// started.
    #[error("cannot run {tool} {hint}")]
    Launch {
        /// The tool, as it was looked for.
        tool: String,
        /// What it was for and how to get it.
        hint: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// What the user named is not a flow: no such path, or nothing in it
    /// that mfw builds.
    #[error("{0}")]
    NotAFlow(String),
    /// A flow's `mfw.toml` (the components of a flow in several
    /// languages) does not parse or names what is not there.
    #[error("{0}")]
    Manifest(String),
    /// Configs (`run --config`) were given for a flow that cannot take
    /// them: only a Python flow built from source has Metaflow's `Config`.
    #[error(
        "--config {name}: {flow} holds no Python flow built here from source, and only \
         those have Configs; leave --config out"
    )]
    ConfigNotTaken { name: String, flow: String },
    /// A tool the build needs is missing or too old: the message names it
    /// and how to get it.
    #[error("{0}")]
    Toolchain(String),
    /// The SDK's build script could not stage a Python flow: its source
    /// does not read as one flow, or the packages it pins cannot be
    /// resolved or built. The script's message says which and what to do.
    #[error("cannot build {}:\n{message}", flow.display())]
    Staging {
        /// The flow file.
        flow: PathBuf,
        /// What the build script said.
        message: String,
    },
    /// The flow's code does not build: the compiler's messages (shown above
    /// it) or the SDK's say where.
    #[error("{message}")]
    Code {
        /// The language of the code at fault.
        language: Language,
        /// Which file or crate, and what is wrong.
        message: String,
    },
    /// The flow's steps do not make a valid graph.
    #[error("cannot build {}: {report}", flow.display())]
    Graph {
        /// The flow file.
        flow: PathBuf,
        /// The graph's error, shown against the flow's steps.
        report: String,
    },
    /// A tool printed something the build does not understand.
    #[error("{what}")]
    Output {
        /// Which tool and what it printed.
        what: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// componentize-py could not make the Python flow a component.
    #[error("cannot build {}", flow.display())]
    Python {
        /// The flow file.
        flow: PathBuf,
        /// componentize-py's error.
        #[source]
        source: mfw_python_build::BuildError,
    },
    /// A Go module's build could not be made a component.
    #[error("cannot make a component of {}", dir.display())]
    Component {
        /// The Go module.
        dir: PathBuf,
        /// What wit-component said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The language of a flow's sources: the book has a page on each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// A crate using the Rust SDK.
    Rust,
    /// A flow file using the Python SDK.
    Python,
    /// A module using the Go SDK.
    Go,
}

/// `BuildError::Io` for `action` on `path`, for `map_err`.
pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Io {
        action,
        path,
        source,
    }
}
