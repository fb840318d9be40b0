//! The Rust half of the cross-language encoding test: `start` writes every
//! shared test vector as an artifact, a Python step (another component)
//! reads them and writes them back, and `check_rust` compares what Python
//! wrote with the canonical bytes.

use mfw::__bindings::mfw::flow::artifacts;
use mfw::prelude::*;

const VECTORS: &str = include_str!("../../../vectors/encoding.json");

/// Vectors a Python value cannot hold exactly (a map with list keys turns
/// them into tuples), and pickles anywhere in a value, which are Python's
/// own objects and come back as whatever they unpickle to.
fn crosses_languages(vector: &serde_json::Value) -> bool {
    !vector["value"].to_string().contains(r#""type":"pickle""#)
        && vector["name"] != "map mixed keys given unsorted (RFC 8949 4.2.1 example)"
}

fn vectors() -> Result<Vec<(usize, String, Vec<u8>)>, Error> {
    let doc: serde_json::Value = serde_json::from_str(VECTORS)?;
    let valid = doc["valid"]
        .as_array()
        .ok_or_else(|| Error::msg("no valid vectors"))?;
    let mut out = Vec::new();
    for (index, vector) in valid.iter().enumerate() {
        if !crosses_languages(vector) {
            continue;
        }
        let hex = vector["hex"].as_str().unwrap_or_default();
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()?;
        let name = vector["name"].as_str().unwrap_or_default().to_string();
        out.push((index, name, bytes));
    }
    Ok(out)
}

/// The Rust steps of the cross-language flow.
#[derive(FlowSpec)]
pub struct VectorsFlow;

#[steps(external = ["check_py"])]
impl VectorsFlow {
    /// Writes each vector's canonical bytes as artifact `v<index>`.
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        let vectors = vectors()?;
        for (index, _, bytes) in &vectors {
            artifacts::set(&format!("v{index}"), bytes)
                .map_err(|e| Error::msg(format!("v{index}: {e:?}")))?;
        }
        let indices: Vec<usize> = vectors.iter().map(|(i, _, _)| *i).collect();
        cx.set("indices", &indices)?;
        cx.next("check_py")
    }

    /// Checks that what Python wrote back is byte for byte canonical.
    #[step]
    fn check_rust(&self, cx: &mut Context) -> StepResult {
        let mut mismatches = Vec::new();
        let mut checked = 0usize;
        for (index, name, bytes) in vectors()? {
            match artifacts::get(&format!("p{index}")) {
                Ok(written) if written == bytes => checked += 1,
                Ok(_) => mismatches.push(name),
                Err(e) => mismatches.push(format!("{name}: {e:?}")),
            }
        }
        cx.set("rust_mismatches", &mismatches)?;
        cx.set("rust_checked", &checked)?;
        cx.next("end")
    }

    #[step]
    fn end(&self, _cx: &mut Context) -> StepResult {
        Ok(())
    }
}
