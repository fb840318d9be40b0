//! `Flow/run/step/task` paths, as Metaflow users type them.

use anyhow::bail;

/// A parsed pathspec; later parts are optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pathspec {
    pub flow: String,
    pub run_id: String,
    pub step: Option<String>,
    pub task_id: Option<String>,
}

impl Pathspec {
    /// Parses `Flow/run[/step[/task]]`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let parts: Vec<&str> = text.trim_matches('/').split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || !(2..=4).contains(&parts.len()) {
            bail!(
                "`{text}` is not a pathspec: expected Flow/run[/step[/task]], e.g. HelloFlow/1764312345678901/end/0"
            );
        }
        Ok(Self {
            flow: parts[0].to_string(),
            run_id: parts[1].to_string(),
            step: parts.get(2).map(|s| s.to_string()),
            task_id: parts.get(3).map(|s| s.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_after_the_run_are_optional() {
        let p = Pathspec::parse("HelloFlow/12/end").unwrap();
        assert_eq!(p.step.as_deref(), Some("end"));
        assert_eq!(p.task_id, None);
        assert!(Pathspec::parse("HelloFlow").is_err());
        assert!(Pathspec::parse("a/b/c/d/e").is_err());
    }
}
