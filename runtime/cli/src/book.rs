//! The pages of the mfw book that mfw points to: `mfw --help` says where
//! to start, and an error whose fix a page explains names that page. Each
//! is a path within the built book (`scripts/docs` builds it from docs/
//! into target/book), so it stays valid wherever the book is served; a
//! test checks each against docs/.

use std::fmt;

/// A page of the book, with the heading to open it at.
///
/// Displayed as its path within the book, or as a full address when
/// `MFW_BOOK_URL` says where the book is served:
///
/// ```text
/// mfw: see the mfw book: failures-and-resume.html#a-run-that-fails-then-resumes
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page(&'static str);

pub const INSTALLATION: Page = Page("installation.html");
pub const QUICKSTART: Page = Page("quickstart/index.html");
pub const RUST_FLOWS: Page = Page("quickstart/rust.html");
pub const PYTHON_FLOWS: Page = Page("python.html");
pub const GO_FLOWS: Page = Page("go.html");
pub const SEVERAL_LANGUAGES: Page = Page("go.html#flows-in-several-languages");
pub const NATIVE_PACKAGES: Page = Page("python.html#native-packages-numpy-pandas-and-scipy");
pub const FLOW_GRAPH: Page = Page("foreach-and-joins.html");
pub const CONFIGURATION: Page = Page("reference/configuration.html");
pub const PARAMETERS: Page = Page("parameters-and-files.html#parameters");
pub const INCLUDED_FILES: Page = Page("parameters-and-files.html#files-includefile");
pub const RESUME: Page = Page("failures-and-resume.html#a-run-that-fails-then-resumes");
pub const SANDBOX: Page = Page("security.html");
pub const PYTHON_BUILDS: Page = Page("python.html#builds-and-their-cache");
pub const DATASTORES: Page = Page("datastores.html");
pub const KUBERNETES_ERRORS: Page = Page("kubernetes.html#errors");
pub const UI: Page = Page("ui.html");

/// Every page mfw names, for the test that checks they exist.
#[cfg(test)]
const ALL: [Page; 17] = [
    INSTALLATION,
    QUICKSTART,
    RUST_FLOWS,
    PYTHON_FLOWS,
    GO_FLOWS,
    SEVERAL_LANGUAGES,
    NATIVE_PACKAGES,
    FLOW_GRAPH,
    CONFIGURATION,
    PARAMETERS,
    INCLUDED_FILES,
    RESUME,
    SANDBOX,
    PYTHON_BUILDS,
    DATASTORES,
    KUBERNETES_ERRORS,
    UI,
];

/// What `mfw --help` ends with. The pages it names are checked like [`Page`]s.
pub const HELP: &str = "The mfw book (`scripts/docs` builds it from docs/; MFW_BOOK_URL says \
where it is served): start at quickstart/index.html, then tutorials/index.html; every command \
is in reference/cli.html.";

impl fmt::Display for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::env::var("MFW_BOOK_URL") {
            Ok(base) if !base.is_empty() => write!(f, "{}/{}", base.trim_end_matches('/'), self.0),
            _ => f.write_str(self.0),
        }
    }
}

/// The page that explains how to fix `error`, if one does: the first of
/// its causes, outermost first, that a page is about.
pub fn page_for(error: &anyhow::Error) -> Option<Page> {
    use mfw_orchestrator::OrchestratorError as Run;
    error.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<Run>() {
            return match e {
                Run::Graph(_) => Some(FLOW_GRAPH),
                Run::Parameter(_) => Some(PARAMETERS),
                Run::Policy(_) => Some(SANDBOX),
                Run::Store(_) => Some(DATASTORES),
                Run::NothingToResume { .. } | Run::NoStepToResumeFrom { .. } => Some(RESUME),
                _ => None,
            };
        }
        if cause.is::<mfw_orchestrator::ParameterError>() || cause.is::<mfw_host::DefaultsError>() {
            return Some(PARAMETERS);
        }
        if cause.is::<mfw_graph::GraphError>() {
            return Some(FLOW_GRAPH);
        }
        if cause.is::<mfw_host::FilesError>() {
            return Some(INCLUDED_FILES);
        }
        if cause.is::<mfw_orchestrator::PolicyError>() {
            return Some(SANDBOX);
        }
        if cause.is::<mfw_store::StoreError>() {
            return Some(DATASTORES);
        }
        if cause.is::<mfw_kubernetes::KubeError>() {
            return Some(KUBERNETES_ERRORS);
        }
        if cause.is::<mfw_ui::UiError>() {
            return Some(UI);
        }
        use mfw_build::{BuildError as Build, Language};
        match cause.downcast_ref::<Build>()? {
            Build::Launch { .. } | Build::Toolchain(_) => Some(INSTALLATION),
            Build::NotAFlow(_) => Some(QUICKSTART),
            Build::Manifest(_) => Some(SEVERAL_LANGUAGES),
            Build::Staging { .. } | Build::ConfigNotTaken { .. } => Some(PYTHON_FLOWS),
            Build::Graph { .. } => Some(FLOW_GRAPH),
            Build::Code { language, .. } => Some(match language {
                Language::Rust => RUST_FLOWS,
                Language::Python => PYTHON_FLOWS,
                Language::Go => GO_FLOWS,
            }),
            Build::Python { .. } => Some(PYTHON_BUILDS),
            Build::Io { .. } | Build::Output { .. } | Build::Component { .. } => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The id mdBook gives a heading: lower case, letters, digits, `-`
    /// and `_` kept, spaces made `-`, everything else dropped.
    fn heading_id(heading: &str) -> String {
        heading
            .trim()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
                _ => None,
            })
            .collect()
    }

    /// Whether `path` (`page.html#heading`) is a page of docs/ and a
    /// heading of it.
    fn in_docs(path: &str) -> Result<(), String> {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        let (page, heading) = path.split_once('#').unwrap_or((path, ""));
        let source = docs.join(page.replace(".html", ".md"));
        let text = std::fs::read_to_string(&source)
            .map_err(|e| format!("{path}: no page {}: {e}", source.display()))?;
        if heading.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| heading_id(l.trim_start_matches('#')))
            .collect();
        if ids.iter().any(|id| id == heading) {
            Ok(())
        } else {
            Err(format!("{path}: no such heading; the page has {ids:?}"))
        }
    }

    #[test]
    fn every_page_mfw_names_is_in_the_book() {
        let mut paths: Vec<&str> = ALL.iter().map(|p| p.0).collect();
        paths.extend(
            HELP.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
                .map(|w| w.trim_end_matches(['.', ')']))
                .filter(|w| w.ends_with(".html")),
        );
        assert!(paths.len() > ALL.len(), "the help names no page: {HELP}");
        let missing: Vec<String> = paths.into_iter().filter_map(|p| in_docs(p).err()).collect();
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn a_heading_id_is_mdbooks() {
        assert_eq!(heading_id(" Files: `IncludeFile`"), "files-includefile");
        assert_eq!(
            heading_id(" A run that fails, then resumes"),
            "a-run-that-fails-then-resumes"
        );
    }

    #[test]
    fn an_error_names_the_page_about_its_fix() {
        let error = anyhow::Error::new(mfw_orchestrator::OrchestratorError::NothingToResume {
            flow: "F".into(),
            run_id: "1".into(),
        })
        .context("cannot resume");
        assert_eq!(page_for(&error), Some(RESUME));
        assert_eq!(page_for(&anyhow::anyhow!("no page is about this")), None);
        let not_a_flow = anyhow::Error::new(mfw_build::BuildError::NotAFlow("x".into()));
        assert_eq!(page_for(&not_a_flow), Some(QUICKSTART));
        let go_code = anyhow::Error::new(mfw_build::BuildError::Code {
            language: mfw_build::Language::Go,
            message: "go build failed".into(),
        });
        assert_eq!(page_for(&go_code), Some(GO_FLOWS));
    }
}
