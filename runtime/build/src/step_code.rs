//! Each Python step's own code identity, so that editing one step's body
//! changes the cache key of that step alone (docs/reproducibility.md).
//!
//! A step's identity hashes everything that went into its component except
//! the bodies of the *other* steps of the flow file: the toolchain, every
//! other file of the code package, `requirements.txt`, the resolved
//! packages, and the flow file with each other step's `def` (and the
//! decorators above it) replaced by the step's name. Where a body cannot be
//! delimited by its indentation (a line of it less indented than its `def`),
//! the rest stays in every step's identity: an edit there reruns them all,
//! which is safe.

use std::collections::BTreeMap;
use std::ops::Range;

/// The lines of `source` (0-based, end exclusive) that each of `steps`
/// occupies: its decorators, its `def` line and its indented body. A name
/// defined several times (a subclass overriding a step) has every range.
///
/// ```ignore
/// let ranges = step_ranges("class F:\n    @step\n    def a(self):\n        x = 1\n", &["a"]);
/// assert_eq!(ranges["a"], vec![1..4]);
/// ```
pub(crate) fn step_ranges(source: &str, steps: &[String]) -> BTreeMap<String, Vec<Range<usize>>> {
    let lines: Vec<&str> = source.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut ranges: BTreeMap<String, Vec<Range<usize>>> = BTreeMap::new();
    for (at, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let rest = trimmed
            .strip_prefix("async ")
            .map(str::trim_start)
            .unwrap_or(trimmed);
        let Some(rest) = rest.strip_prefix("def ") else {
            continue;
        };
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !steps.contains(&name) {
            continue;
        }
        let depth = indent(line);
        // Its decorators: the lines right above at the same depth that
        // start with `@` (a decorator's continuation lines are deeper).
        let mut start = at;
        while start > 0 {
            let above = lines[start - 1];
            let deeper = indent(above) > depth && !above.trim().is_empty();
            if (above.trim_start().starts_with('@') && indent(above) == depth) || deeper {
                start -= 1;
            } else {
                break;
            }
        }
        // What the walk took above the first decorator (the body of a step
        // right above, deeper than this `def`) is not this step's.
        while start < at && !lines[start].trim_start().starts_with('@') {
            start += 1;
        }
        let mut end = at + 1;
        while end < lines.len() {
            let next = lines[end];
            if !next.trim().is_empty() && indent(next) <= depth {
                break;
            }
            end += 1;
        }
        // Blank lines after the body belong to what follows.
        while end > at + 1 && lines[end - 1].trim().is_empty() {
            end -= 1;
        }
        ranges.entry(name).or_default().push(start..end);
    }
    ranges
}

/// Each step's identity: `common` (everything but the flow file, already
/// hashed), then the flow file with the other steps masked.
pub(crate) fn step_codes(
    common: &blake3::Hasher,
    flow_source: &str,
    steps: &[String],
) -> BTreeMap<String, blake3::Hash> {
    let ranges = step_ranges(flow_source, steps);
    let lines: Vec<&str> = flow_source.lines().collect();
    let mut owner: Vec<Option<&str>> = vec![None; lines.len()];
    for (name, spans) in &ranges {
        for span in spans {
            for slot in &mut owner[span.clone()] {
                *slot = Some(name);
            }
        }
    }
    steps
        .iter()
        .map(|step| {
            let mut hasher = common.clone();
            hasher.update(b"flow file\0");
            let mut masked: Option<&str> = None;
            for (line, who) in lines.iter().zip(&owner) {
                match who {
                    Some(other) if *other != step.as_str() => {
                        // One marker per masked step, not per line.
                        if masked != Some(*other) {
                            hasher.update(b"\0step ");
                            hasher.update(other.as_bytes());
                            hasher.update(b"\0");
                        }
                        masked = Some(*other);
                    }
                    _ => {
                        masked = None;
                        hasher.update(line.as_bytes());
                        hasher.update(b"\n");
                    }
                }
            }
            (step.clone(), hasher.finalize())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = "\
from mfw import FlowSpec, step

SCALE = 2

class F(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.double)

    @retry(times=2,
           minutes_between_retries=0)
    @step
    def double(self):
        self.y = self.x * SCALE
# a comment at column 0 ends the body here
        self.next(self.end)

    @step
    def end(self):
        print(self.y)
";

    fn steps() -> Vec<String> {
        ["start", "double", "end"].map(String::from).to_vec()
    }

    fn codes(source: &str) -> BTreeMap<String, blake3::Hash> {
        step_codes(&blake3::Hasher::new(), source, &steps())
    }

    #[test]
    fn each_step_spans_its_decorators_and_indented_body() {
        let ranges = step_ranges(FLOW, &steps());
        assert_eq!(ranges["start"], vec![5..9]);
        // Up to the comment that is less indented than its def.
        assert_eq!(ranges["double"], vec![10..15]);
        assert_eq!(ranges["end"], vec![18..21]);
    }

    #[test]
    fn editing_one_step_changes_its_code_only() {
        let before = codes(FLOW);
        let edited = codes(&FLOW.replace("print(self.y)", "print('y', self.y)"));
        assert_eq!(before["start"], edited["start"]);
        assert_eq!(before["double"], edited["double"]);
        assert_ne!(before["end"], edited["end"]);
        // The steps' decorators are their own too.
        let retried = codes(&FLOW.replace("times=2", "times=3"));
        assert_eq!(before["start"], retried["start"]);
        assert_ne!(before["double"], retried["double"]);
    }

    #[test]
    fn editing_shared_code_changes_every_step() {
        let before = codes(FLOW);
        let scaled = codes(&FLOW.replace("SCALE = 2", "SCALE = 3"));
        // What a step's body cannot be told apart from is shared too.
        let after_comment = codes(&FLOW.replace("self.next(self.end)", "self.next(self.end) "));
        for step in steps() {
            assert_ne!(before[&step], scaled[&step], "{step}");
            assert_ne!(before[&step], after_comment[&step], "{step}");
        }
    }

    #[test]
    fn the_common_part_is_in_every_step() {
        let mut other = blake3::Hasher::new();
        other.update(b"another requirements.txt");
        let with_other = step_codes(&other, FLOW, &steps());
        let before = codes(FLOW);
        for step in steps() {
            assert_ne!(before[&step], with_other[&step], "{step}");
        }
    }
}
