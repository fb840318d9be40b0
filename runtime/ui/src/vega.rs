//! Vega and Vega-Lite, which draw a card's `VegaChart` inside the card's
//! own page (no network when it is viewed). mfw does not ship them: the
//! first `mfw ui` or `mfw card` that needs them fetches their pinned
//! releases from the npm registry once, checks every byte against the
//! hashes below, and keeps the two scripts in the cache directory.

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// One script taken from one npm package.
struct Script {
    package: &'static str,
    version: &'static str,
    /// The sha256 of the package's tarball as the registry serves it.
    tarball_sha256: &'static str,
    /// The script's path in the tarball, and its sha256.
    path: &'static str,
    sha256: &'static str,
}

const VEGA: Script = Script {
    package: "vega",
    version: "6.4.0",
    tarball_sha256: "3521fb6ff68a94a40323954f0ba4484ba4014b157bfd37f89a3b063082320c42",
    path: "package/build/vega.min.js",
    sha256: "8f6a3587cf8d4f42c7e08120e3eb05d067e746d554e39d2dcf52acc0bd5ba28f",
};

const VEGA_LITE: Script = Script {
    package: "vega-lite",
    version: "6.5.0",
    tarball_sha256: "811230a6bfd2cdbfc359d0c38f624a90df86657b7f251b67be88bcc4eee32b7f",
    path: "package/build/vega-lite.min.js",
    sha256: "83e215e84e308ee8688fa6503ba0f1cf8a3c05c0d61df2841a0b92bf86809e00",
};

/// The largest tarball fetched (both are about 1 MB).
const MAX_TARBALL: usize = 16 << 20;

/// The two scripts, checked.
#[derive(Clone)]
pub struct VegaScripts {
    /// vega.min.js: parses and draws a Vega spec (global `vega`).
    pub vega: String,
    /// vega-lite.min.js: compiles Vega-Lite to Vega (global `vegaLite`).
    pub vega_lite: String,
}

/// Why the scripts cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum VegaError {
    /// The registry could not be reached or refused.
    #[error("cannot fetch {package} {version} from the npm registry: {reason}")]
    Fetch {
        /// The package.
        package: &'static str,
        /// Its version.
        version: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// What came is not the pinned release.
    #[error("{what} is not the pinned release (sha256 {found}, expected {expected})")]
    Mismatch {
        /// The tarball or the script.
        what: String,
        /// Its hash.
        found: String,
        /// The pinned one.
        expected: &'static str,
    },
    /// The cache directory cannot be written.
    #[error("cannot keep the Vega scripts in {dir}: {source}")]
    Cache {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn cached_path(dir: &Path, script: &Script) -> PathBuf {
    dir.join(format!("{}-{}.min.js", script.package, script.version))
}

fn read_cached(dir: &Path, script: &Script) -> Option<String> {
    let bytes = std::fs::read(cached_path(dir, script)).ok()?;
    if sha256_hex(&bytes) != script.sha256 {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// The scripts kept in `dir` (`<cache>/ui`), if both are there and intact.
pub fn cached(dir: &Path) -> Option<VegaScripts> {
    Some(VegaScripts {
        vega: read_cached(dir, &VEGA)?,
        vega_lite: read_cached(dir, &VEGA_LITE)?,
    })
}

async fn fetch_script(dir: &Path, script: &Script) -> Result<String, VegaError> {
    let fail = |reason: String| VegaError::Fetch {
        package: script.package,
        version: script.version,
        reason,
    };
    let url = format!(
        "https://registry.npmjs.org/{0}/-/{0}-{1}.tgz",
        script.package, script.version
    );
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let response = client
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| fail(e.to_string()))?;
    let tarball = response.bytes().await.map_err(|e| fail(e.to_string()))?;
    if tarball.len() > MAX_TARBALL {
        return Err(fail(format!("it is {} bytes", tarball.len())));
    }
    let found = sha256_hex(&tarball);
    if found != script.tarball_sha256 {
        return Err(VegaError::Mismatch {
            what: url,
            found,
            expected: script.tarball_sha256,
        });
    }
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&tarball[..]));
    let mut text = None;
    for entry in archive.entries().map_err(|e| fail(e.to_string()))? {
        let mut entry = entry.map_err(|e| fail(e.to_string()))?;
        if entry.path().is_ok_and(|p| p == Path::new(script.path)) {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| fail(e.to_string()))?;
            let found = sha256_hex(&bytes);
            if found != script.sha256 {
                return Err(VegaError::Mismatch {
                    what: format!("{} in {url}", script.path),
                    found,
                    expected: script.sha256,
                });
            }
            text = Some(String::from_utf8(bytes).map_err(|e| fail(e.to_string()))?);
            break;
        }
    }
    let text = text.ok_or_else(|| fail(format!("it has no {}", script.path)))?;
    let cache = |source| VegaError::Cache {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(cache)?;
    // Written whole, then renamed: a reader never sees half a script.
    let staged = tempfile::NamedTempFile::new_in(dir).map_err(cache)?;
    std::fs::write(staged.path(), &text).map_err(cache)?;
    staged
        .persist(cached_path(dir, script))
        .map_err(|e| cache(e.error))?;
    Ok(text)
}

/// The scripts: from `dir` (`<cache>/ui`), else fetched once and kept
/// there.
pub async fn load_or_fetch(dir: &Path) -> Result<VegaScripts, VegaError> {
    if let Some(scripts) = cached(dir) {
        return Ok(scripts);
    }
    let vega = match read_cached(dir, &VEGA) {
        Some(text) => text,
        None => fetch_script(dir, &VEGA).await?,
    };
    let vega_lite = match read_cached(dir, &VEGA_LITE) {
        Some(text) => text,
        None => fetch_script(dir, &VEGA_LITE).await?,
    };
    Ok(VegaScripts { vega, vega_lite })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_cached_script_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(cached_path(dir.path(), &VEGA), "alert(1)").unwrap();
        std::fs::write(cached_path(dir.path(), &VEGA_LITE), "alert(2)").unwrap();
        assert!(cached(dir.path()).is_none());
    }
}
