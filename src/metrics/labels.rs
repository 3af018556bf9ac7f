//! Bounded label values: workflow names can arrive in a header, so only configured names and
//! a bounded number of others become label values; the rest share `_other`.

use std::collections::HashSet;
use std::sync::RwLock;

/// How many unconfigured workflow names may become label values.
const MAX_DYNAMIC: usize = 64;

/// The set of workflow label values.
pub struct WorkflowLabels {
    known: RwLock<HashSet<String>>,
    configured: usize,
}

impl WorkflowLabels {
    pub(crate) fn new(configured: &[String]) -> Self {
        Self {
            known: RwLock::new(configured.iter().cloned().collect()),
            configured: configured.len(),
        }
    }

    /// The label value for a workflow name: the name itself while the set is not full.
    pub fn label(&self, workflow: &str) -> String {
        if let Ok(k) = self.known.read()
            && k.contains(workflow)
        {
            return workflow.to_owned();
        }
        let Ok(mut k) = self.known.write() else {
            return "_other".to_owned();
        };
        if k.len() < self.configured + MAX_DYNAMIC && is_label_safe(workflow) {
            k.insert(workflow.to_owned());
            workflow.to_owned()
        } else {
            "_other".to_owned()
        }
    }

    /// Adds newly configured names (after a reload).
    pub fn add_configured(&self, names: &[String]) {
        if let Ok(mut k) = self.known.write() {
            k.extend(names.iter().cloned());
        }
    }
}

fn is_label_safe(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfigured_names_are_bounded() {
        let l = WorkflowLabels::new(&["a".into()]);
        assert_eq!(l.label("a"), "a");
        for i in 0..MAX_DYNAMIC {
            assert_eq!(l.label(&format!("w{i}")), format!("w{i}"));
        }
        assert_eq!(l.label("one-too-many"), "_other");
        assert_eq!(l.label("bad label\n"), "_other");
    }
}
