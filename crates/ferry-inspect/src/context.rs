//! What every detector gets: the tree, the history, the source's own name, and a place for
//! warnings.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

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
    pub root_pkg: Option<Rc<PackageJson>>,
    /// The root `.replit`, parsed once.
    pub replit: Option<crate::units::ReplitConfig>,
    warnings: RefCell<Vec<String>>,
    /// Member package.json files, parsed on first use (`None`: the directory has none).
    packages: RefCell<HashMap<String, Option<Rc<PackageJson>>>>,
}

impl<'a> Ctx<'a> {
    /// Prepares a context; fails if the root package.json or `.replit` is malformed.
    pub fn new(
        tree: &'a Tree,
        history: Option<&'a History>,
        source_name: &'a str,
    ) -> Result<Self, InspectError> {
        let root_pkg = PackageJson::load(tree, "")?.map(Rc::new);
        let replit = match tree.read(".replit") {
            Some(text) => Some(crate::units::parse_replit(&text)?),
            None => None,
        };
        Ok(Ctx {
            tree,
            history,
            source_name,
            root_pkg: root_pkg.clone(),
            replit,
            warnings: RefCell::new(Vec::new()),
            packages: RefCell::new(HashMap::from([(String::new(), root_pkg)])),
        })
    }

    /// `<dir>/package.json`, parsed once per inspection however many detectors ask for it
    /// (the root one is `root_pkg`, the same value). A malformed file is an error every time it is asked for.
    pub fn package_json(&self, dir: &str) -> Result<Option<Rc<PackageJson>>, InspectError> {
        let key = if dir == "." { "" } else { dir };
        if let Some(known) = self.packages.borrow().get(key) {
            return Ok(known.clone());
        }
        let loaded = PackageJson::load(self.tree, key)?.map(Rc::new);
        self.packages
            .borrow_mut()
            .insert(key.to_string(), loaded.clone());
        Ok(loaded)
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
