//! Checks that a file is a component built against a compatible version of
//! the `mfw:flow` contract, before spending time compiling it.

use wasmparser::{Encoding, Parser, Payload};

/// The WIT package a flow component imports and exports.
pub const CONTRACT_PACKAGE: &str = "mfw:flow";

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.6";

/// The contract version task keys name: the last one that changed what a
/// task given the same inputs computes. A version that only adds a way to
/// do something (0.1.6: a value written through stdout) leaves it, so the
/// cache, resumes and the randomness seeded from keys outlive the upgrade.
///
/// ```
/// assert_eq!(mfw_host::CONTRACT_KEY_VERSION, "0.1.5");
/// ```
pub const CONTRACT_KEY_VERSION: &str = "0.1.5";

/// The export every flow provides.
const FLOW_EXPORT: &str = "flow";

/// Why a file cannot be run as an mfw flow. Each message names the file,
/// says what was found, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// Not WebAssembly at all.
    #[error("{0} is not a WebAssembly file (it does not start with `\\0asm`)")]
    NotWasm(String),
    /// A core module, not a component.
    #[error(
        "{0} is a core WebAssembly module, not a component: build flows with `mfw build` \
         (Rust target wasm32-wasip2) or wrap the module with `wasm-tools component new`"
    )]
    CoreModule(String),
    /// The binary does not parse.
    #[error("{name} is not a valid WebAssembly component: {reason}")]
    Malformed {
        /// The file.
        name: String,
        /// What the parser said.
        reason: String,
    },
    /// A component that has nothing to do with mfw.
    #[error(
        "{name} is not an mfw flow: it neither imports nor exports any {CONTRACT_PACKAGE} \
         interface (it exports {exports}); write flows with an mfw SDK"
    )]
    NotAFlow {
        /// The file.
        name: String,
        /// What it exports instead.
        exports: String,
    },
    /// Built against another contract version.
    #[error(
        "{name} was built against {CONTRACT_PACKAGE}@{found}, but this mfw runs components \
         built against {CONTRACT_PACKAGE}@{expected}; rebuild it with an mfw SDK for \
         {CONTRACT_PACKAGE}@{expected} (or use an mfw that supports {found})"
    )]
    Version {
        /// The file.
        name: String,
        /// The version it was built against.
        found: String,
        /// The versions this host accepts, such as `0.1.x`.
        expected: String,
    },
    /// Imports the contract but exports no graph.
    #[error(
        "{name} exports no mfw graph: it imports {CONTRACT_PACKAGE}@{version} but does not \
         export `{CONTRACT_PACKAGE}/{FLOW_EXPORT}@{version}` (graph and run-step); declare the \
         flow with the SDK (`#[mfw::steps]` on its impl block in Rust)"
    )]
    NoGraph {
        /// The file.
        name: String,
        /// The contract version it imports.
        version: String,
    },
}

/// What the top level of a component imports and exports.
#[derive(Debug, Default)]
struct Surface {
    imports: Vec<String>,
    exports: Vec<String>,
}

/// Reads only the outer component's import and export names: nested
/// modules and components are skipped.
fn surface(bytes: &[u8], name: &str) -> Result<Surface, ContractError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(ContractError::NotWasm(name.to_string()));
    }
    let malformed = |e: wasmparser::BinaryReaderError| ContractError::Malformed {
        name: name.to_string(),
        reason: e.to_string(),
    };
    let mut surface = Surface::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding == Encoding::Module {
                    return Err(ContractError::CoreModule(name.to_string()));
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    surface
                        .imports
                        .push(import.map_err(malformed)?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    surface
                        .exports
                        .push(export.map_err(malformed)?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(surface)
}

/// The version in an interface name such as `mfw:flow/artifacts@0.1.0`, if
/// the name belongs to the contract package.
fn contract_version(interface: &str) -> Option<&str> {
    let rest = interface
        .strip_prefix(CONTRACT_PACKAGE)?
        .strip_prefix('/')?;
    Some(rest.split_once('@').map_or("", |(_, v)| v))
}

/// Whether a component built against `found` can run on this host: the
/// same major version, and for 0.x the same minor, as semver has it.
fn compatible(found: &str) -> bool {
    let parts = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split('.');
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    match (parts(found), parts(CONTRACT_VERSION)) {
        (Some((0, fm)), Some((0, em))) => fm == em,
        (Some((f, _)), Some((e, _))) => f == e && f != 0,
        _ => false,
    }
}

/// The accepted range as users read it: `0.1.x`.
fn expected_range() -> String {
    let mut it = CONTRACT_VERSION.split('.');
    match (it.next(), it.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}.x"),
        (Some(major), _) => format!("{major}.x"),
        _ => CONTRACT_VERSION.to_string(),
    }
}

/// Checks that `bytes` are a component built against a compatible
/// contract that exports a graph. `name` is how messages refer to it.
pub(crate) fn check(bytes: &[u8], name: &str) -> Result<(), ContractError> {
    let surface = surface(bytes, name)?;
    let mut versions: Vec<&str> = surface
        .imports
        .iter()
        .chain(&surface.exports)
        .filter_map(|i| contract_version(i))
        .collect();
    versions.sort_unstable();
    versions.dedup();
    let Some(&version) = versions
        .iter()
        .find(|v| !compatible(v))
        .or(versions.first())
    else {
        let exports = if surface.exports.is_empty() {
            "nothing".to_string()
        } else {
            surface.exports.join(", ")
        };
        return Err(ContractError::NotAFlow {
            name: name.to_string(),
            exports,
        });
    };
    if !compatible(version) {
        return Err(ContractError::Version {
            name: name.to_string(),
            found: if version.is_empty() {
                "(unversioned)".to_string()
            } else {
                version.to_string()
            },
            expected: expected_range(),
        });
    }
    let exports_flow = surface.exports.iter().any(|e| {
        e.strip_prefix(CONTRACT_PACKAGE)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|r| r.split('@').next() == Some(FLOW_EXPORT))
    });
    if !exports_flow {
        return Err(ContractError::NoGraph {
            name: name.to_string(),
            version: version.to_string(),
        });
    }
    Ok(())
}

/// The payload of the component's top-level custom section `name`, such as
/// the `mfw-lock` a Python build appends.
///
/// ```
/// // A component header and one custom section named "x" holding "hi".
/// let bytes = [b"\0asm\x0d\0\x01\0".as_slice(), &[0, 4, 1, b'x', b'h', b'i']].concat();
/// assert_eq!(mfw_host::custom_section(&bytes, "x"), Some(b"hi".to_vec()));
/// assert_eq!(mfw_host::custom_section(&bytes, "y"), None);
/// ```
pub fn custom_section(bytes: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.ok()? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(section) if depth == 1 && section.name() == name => {
                return Some(section.data().to_vec());
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_semver_for_zero_majors() {
        assert!(compatible("0.1.0"));
        assert!(compatible("0.1.7"));
        assert!(!compatible("0.2.0"));
        assert!(!compatible("1.0.0"));
        assert!(!compatible(""));
        assert_eq!(expected_range(), "0.1.x");
    }

    #[test]
    fn contract_names_yield_their_version() {
        assert_eq!(contract_version("mfw:flow/artifacts@0.1.0"), Some("0.1.0"));
        assert_eq!(contract_version("mfw:flow/artifacts"), Some(""));
        assert_eq!(contract_version("wasi:cli/run@0.2.6"), None);
        assert_eq!(contract_version("mfw:flowx/a@0.1.0"), None);
    }

    #[test]
    fn a_core_module_is_named_as_such() {
        let core = b"\0asm\x01\0\0\0";
        assert_eq!(
            check(core, "m.wasm"),
            Err(ContractError::CoreModule("m.wasm".into()))
        );
    }

    #[test]
    fn text_is_not_wasm() {
        assert_eq!(
            check(b"hello", "x.txt"),
            Err(ContractError::NotWasm("x.txt".into()))
        );
    }
}
