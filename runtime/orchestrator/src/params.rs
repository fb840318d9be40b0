//! Run parameters: command-line text read by each parameter's kind, with
//! defaults filled in and required ones checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use mfw_encoding::Value;
use mfw_graph::{FlowGraph, ParamKind};

/// A parameter a run cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
    /// The flow has no such parameter.
    #[error("flow `{flow}` has no parameter --{name}; {known}")]
    Unknown {
        /// The flow.
        flow: String,
        /// The name given.
        name: String,
        /// The parameters it has.
        known: String,
    },
    /// A required parameter was not given.
    #[error("flow `{flow}` needs --{name} ({help})")]
    Missing {
        /// The flow.
        flow: String,
        /// The parameter.
        name: String,
        /// Its help line.
        help: String,
    },
    /// A value that does not read as the parameter's kind.
    #[error("parameter --{name} expects {expected}, got `{value}`")]
    Invalid {
        /// The parameter.
        name: String,
        /// What it expects.
        expected: String,
        /// What was given.
        value: String,
    },
    /// A `file` parameter's default naming a file outside the directories
    /// the run may read defaults from: a flow could otherwise read any file
    /// of the user's (`~/.aws/credentials`) without being granted it.
    #[error(
        "parameter --{name}: its default {path} is outside the flow's directory{roots}: a default \
         may only name a file there; pass the file on the command line (--{name} {path}) or \
         allow its directory with --allow-dir"
    )]
    DefaultOutside {
        /// The parameter.
        name: String,
        /// The default's path.
        path: String,
        /// The directories allowed, as ` (A, B)`, or empty.
        roots: String,
    },
    /// A `file` parameter naming a file that cannot be read.
    #[error("parameter --{name}: cannot read {path}: {reason}")]
    File {
        /// The parameter.
        name: String,
        /// The path given.
        path: String,
        /// Why.
        reason: String,
    },
}

fn from_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Integer(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Value::Integer(i128::from(u))
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::Text(s),
        serde_json::Value::Array(items) => Value::Array(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (Value::Text(k), from_json(v)))
                .collect(),
        ),
    }
}

/// Reads `text` as a value of `kind`, for parameter `name`. A `file`
/// parameter's text is a path, relative to `base`, whose bytes become the
/// value.
///
/// ```
/// use mfw_graph::ParamKind;
/// let bytes = mfw_orchestrator::encode_parameter("n", ParamKind::Int, "10", ".".as_ref()).unwrap();
/// assert_eq!(mfw_encoding::from_slice::<u64>(&bytes).unwrap(), 10);
/// assert!(mfw_orchestrator::encode_parameter("n", ParamKind::Int, "ten", ".".as_ref()).is_err());
/// ```
pub fn encode_parameter(
    name: &str,
    kind: ParamKind,
    text: &str,
    base: &Path,
) -> Result<Bytes, ParameterError> {
    let invalid = |expected: &str| ParameterError::Invalid {
        name: name.to_string(),
        expected: expected.to_string(),
        value: text.to_string(),
    };
    let value = match kind {
        ParamKind::Str => Value::Text(text.to_string()),
        ParamKind::Int => Value::Integer(
            text.trim()
                .parse::<i128>()
                .map_err(|_| invalid("an integer"))?,
        ),
        ParamKind::Float => Value::Float(
            text.trim()
                .parse::<f64>()
                .map_err(|_| invalid("a number"))?,
        ),
        ParamKind::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "n" | "off" => Value::Bool(false),
            _ => return Err(invalid("true or false")),
        },
        ParamKind::Json => from_json(serde_json::from_str(text).map_err(|_| invalid("JSON"))?),
        ParamKind::File => {
            let path = base.join(text);
            let bytes = std::fs::read(&path).map_err(|e| ParameterError::File {
                name: name.to_string(),
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            Value::Bytes(bytes)
        }
    };
    Ok(Bytes::from(mfw_encoding::encode(&value)))
}

/// The run's parameter values: those `given` as `(name, text)`, read by
/// kind, and the defaults of the rest. Fails on an unknown name or a
/// missing required parameter. A `file` parameter's default is read only
/// if it names a file inside one of `default_roots` (the flow's directory
/// and the run's `--allow-dir`s); a path given on the command line is the
/// user's choice and is read wherever it is.
pub fn resolve_parameters(
    graph: &FlowGraph,
    given: &[(String, String)],
    base: &Path,
    default_roots: &[PathBuf],
) -> Result<BTreeMap<String, Bytes>, ParameterError> {
    let mut values = BTreeMap::new();
    for (name, text) in given {
        let Some(parameter) = graph.parameter(name) else {
            let known: Vec<String> = graph
                .parameters
                .iter()
                .map(|p| format!("--{}", p.name))
                .collect();
            return Err(ParameterError::Unknown {
                flow: graph.name.clone(),
                name: name.clone(),
                known: if known.is_empty() {
                    "it takes no parameters".to_string()
                } else {
                    format!("its parameters: {}", known.join(", "))
                },
            });
        };
        values.insert(
            parameter.name.clone(),
            encode_parameter(&parameter.name, parameter.kind, text, base)?,
        );
    }
    for parameter in &graph.parameters {
        if values.contains_key(&parameter.name) {
            continue;
        }
        if let Some(default) = &parameter.default {
            let value = if parameter.kind == ParamKind::File {
                // A file parameter's default is a path, read now.
                let path: String =
                    mfw_encoding::from_slice(default).map_err(|_| ParameterError::Invalid {
                        name: parameter.name.clone(),
                        expected: "a path as its default".to_string(),
                        value: mfw_encoding::decode(default)
                            .map(|v| v.to_string())
                            .unwrap_or_default(),
                    })?;
                check_default_inside(&parameter.name, &base.join(&path), default_roots)?;
                encode_parameter(&parameter.name, ParamKind::File, &path, base)?
            } else {
                Bytes::from(default.clone())
            };
            values.insert(parameter.name.clone(), value);
        } else if parameter.required {
            return Err(ParameterError::Missing {
                flow: graph.name.clone(),
                name: parameter.name.clone(),
                help: if parameter.help.is_empty() {
                    format!("a {} parameter", parameter.kind)
                } else {
                    parameter.help.clone()
                },
            });
        }
    }
    Ok(values)
}

/// A computed (deploy-time) default of parameter `name`, as its code
/// returned it: text for a parameter that is not `str` is read as the
/// command line would read it (Metaflow passes computed defaults on as
/// text); any other value is kept.
///
/// ```
/// use mfw_graph::ParamKind;
/// let text = mfw_encoding::to_vec(&"11").unwrap();
/// let read = mfw_orchestrator::read_computed_default("n", ParamKind::Int, &text).unwrap();
/// assert_eq!(mfw_encoding::from_slice::<u64>(&read).unwrap(), 11);
/// ```
pub fn read_computed_default(
    name: &str,
    kind: ParamKind,
    encoded: &[u8],
) -> Result<Bytes, ParameterError> {
    match mfw_encoding::decode(encoded) {
        Ok(Value::Text(text)) if kind != ParamKind::Str && kind != ParamKind::File => {
            encode_parameter(name, kind, &text, Path::new("."))
        }
        _ => Ok(Bytes::copy_from_slice(encoded)),
    }
}

/// Fails unless `path` (symbolic links resolved) is inside one of `roots`.
fn check_default_inside(name: &str, path: &Path, roots: &[PathBuf]) -> Result<(), ParameterError> {
    // A path that does not resolve fails later, when it is read, saying so.
    let Ok(resolved) = std::fs::canonicalize(path) else {
        return Ok(());
    };
    let inside = roots
        .iter()
        .any(|root| std::fs::canonicalize(root).is_ok_and(|root| resolved.starts_with(root)));
    if inside {
        return Ok(());
    }
    let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    Err(ParameterError::DefaultOutside {
        name: name.to_string(),
        path: path.display().to_string(),
        roots: if shown.is_empty() {
            String::new()
        } else {
            format!(" ({})", shown.join(", "))
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfw_graph::{Parameter, Step};

    fn graph() -> FlowGraph {
        FlowGraph::new("WideFlow")
            .with_step(Step::linear("start", ["end"]))
            .with_step(Step::end())
            .with_parameter(
                Parameter::new("n", ParamKind::Int)
                    .with_default(mfw_encoding::to_vec(&100).unwrap()),
            )
            .with_parameter(
                Parameter::new("name", ParamKind::Str)
                    .required()
                    .with_help("who"),
            )
    }

    #[test]
    fn given_values_are_read_by_kind_and_defaults_fill_the_rest() {
        let values = resolve_parameters(
            &graph(),
            &[("name".into(), "ada".into())],
            Path::new("."),
            &[],
        )
        .unwrap();
        assert_eq!(mfw_encoding::from_slice::<i64>(&values["n"]).unwrap(), 100);
        assert_eq!(
            mfw_encoding::from_slice::<String>(&values["name"]).unwrap(),
            "ada"
        );
    }

    #[test]
    fn unknown_and_missing_parameters_are_named() {
        let err = resolve_parameters(&graph(), &[("m".into(), "1".into())], Path::new("."), &[])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "flow `WideFlow` has no parameter --m; its parameters: --n, --name"
        );
        let err = resolve_parameters(&graph(), &[], Path::new("."), &[]).unwrap_err();
        assert_eq!(err.to_string(), "flow `WideFlow` needs --name (who)");
    }

    #[test]
    fn a_file_default_outside_the_flow_directory_is_refused_unless_given() {
        let dir = std::env::temp_dir().join(format!("mfw-params-{}", std::process::id()));
        let flow_dir = dir.join("flow");
        std::fs::create_dir_all(&flow_dir).unwrap();
        std::fs::write(flow_dir.join("inside.csv"), "a").unwrap();
        std::fs::write(dir.join("secret.txt"), "s").unwrap();
        let with_default = |path: &Path| {
            FlowGraph::new("F")
                .with_step(Step::linear("start", ["end"]))
                .with_step(Step::end())
                .with_parameter(
                    Parameter::new("data", ParamKind::File)
                        .with_default(mfw_encoding::to_vec(&path.display().to_string()).unwrap()),
                )
        };
        let roots = [flow_dir.clone()];
        let inside = with_default(&flow_dir.join("inside.csv"));
        assert!(resolve_parameters(&inside, &[], &dir, &roots).is_ok());
        // `..` and absolute paths out of the flow's directory are refused.
        for outside in [flow_dir.join("../secret.txt"), dir.join("secret.txt")] {
            let err = resolve_parameters(&with_default(&outside), &[], &dir, &roots).unwrap_err();
            assert!(
                matches!(err, ParameterError::DefaultOutside { .. }),
                "{err}"
            );
            assert!(err.to_string().contains("--allow-dir"), "{err}");
            // Given on the command line, the same file is the user's choice.
            let given = [("data".to_string(), outside.display().to_string())];
            assert!(resolve_parameters(&with_default(&outside), &given, &dir, &roots).is_ok());
            // So is a default inside a directory the run allows.
            let allowed = [flow_dir.clone(), dir.clone()];
            assert!(resolve_parameters(&with_default(&outside), &[], &dir, &allowed).is_ok());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn json_parameters_become_values() {
        let bytes = encode_parameter(
            "c",
            ParamKind::Json,
            r#"{"b": [1, 2.5], "a": null}"#,
            Path::new("."),
        )
        .unwrap();
        let value = mfw_encoding::decode(&bytes).unwrap();
        assert_eq!(value.to_string(), "{'a': None, 'b': [1, 2.5]}");
    }
}
