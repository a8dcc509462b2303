//! What every detector gets: the tree, the history, the source's own name, and a place for
//! warnings.

use std::cell::RefCell;

use crate::error::InspectError;
use crate::history::History;
use crate::package_json::PackageJson;
use crate::tree::Tree;

/// Read-only inputs of one inspection, plus collected warnings.
pub struct Ctx<'a> {
    /// The indexed tree.
    pub tree: &'a Tree,
    /// Git history, when there is one.
    pub history: Option<&'a History>,
    /// The source's own name (folder, archive stem or repository).
    pub source_name: &'a str,
    /// The root package.json, parsed once.
    pub root_pkg: Option<PackageJson>,
    /// The root `.replit`, parsed once.
    pub replit: Option<crate::units::ReplitConfig>,
    warnings: RefCell<Vec<String>>,
}

impl<'a> Ctx<'a> {
    /// Prepares a context; fails if the root package.json or `.replit` is malformed.
    pub fn new(
        tree: &'a Tree,
        history: Option<&'a History>,
        source_name: &'a str,
    ) -> Result<Self, InspectError> {
        let root_pkg = PackageJson::load(tree, "")?;
        let replit = match tree.read(".replit") {
            Some(text) => Some(crate::units::parse_replit(&text)?),
            None => None,
        };
        Ok(Ctx {
            tree,
            history,
            source_name,
            root_pkg,
            replit,
            warnings: RefCell::new(Vec::new()),
        })
    }

    /// Records a warning (deduplicated).
    pub fn warn(&self, text: impl Into<String>) {
        let text = text.into();
        let mut w = self.warnings.borrow_mut();
        if !w.contains(&text) {
            w.push(text);
        }
    }

    /// Takes the collected warnings.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.borrow_mut())
    }

    /// `path:line` of the first line of `path` containing `needle`, if the file does.
    pub fn find_in(&self, path: &str, needle: &str) -> Option<String> {
        let text = self.tree.read(path)?;
        crate::tree::line_of(&text, needle).map(|line| format!("{path}:{line}"))
    }

    /// `package.json:<line>` of the root package's `name`.
    pub fn package_name_at(&self) -> String {
        self.root_pkg
            .as_ref()
            .map(|p| p.at("\"name\""))
            .unwrap_or_else(|| "package.json".into())
    }
}
