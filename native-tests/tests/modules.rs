//! The layering rule of ARCHITECTURE.md: no cycle among the modules of `src/`, counting every
//! `crate::` and `super::` path a module names (imports, calls and doc links alike).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Module name (`net/stream`, `compat/hyper`; the crate root is "") to its source.
fn modules(src: &Path) -> BTreeMap<String, (String, bool)> {
    // (the source, and whether it is a `mod.rs`)
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("read src/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                // src/macros is a crate of its own (wasio-macros).
                if path != src.join("macros") {
                    dirs.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path
                .strip_prefix(src)
                .expect("under src/")
                .with_extension("");
            let rel = rel.to_string_lossy().replace('\\', "/");
            let is_mod_rs = rel == "mod" || rel.ends_with("/mod");
            let name = match rel.as_str() {
                "lib" | "main" => String::new(),
                r if is_mod_rs => r.strip_suffix("/mod").unwrap_or_default().to_string(),
                r => r.to_string(),
            };
            let text = fs::read_to_string(&path).expect("read a source file");
            // A file's unit tests may use anything.
            let text = match text.find("#[cfg(test)]\nmod tests") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            out.insert(name, (text, is_mod_rs));
        }
    }
    out
}

/// The identifiers of `text` that follow `prefix`, as `a/b/c` paths.
fn paths_after(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let path: Vec<&str> = rest[..end].split("::").filter(|p| !p.is_empty()).collect();
        if !path.is_empty() {
            out.push(path.join("/"));
        }
    }
    out
}

/// The longest prefix of `path` that is a module.
fn resolve<'a>(mods: &'a BTreeMap<String, (String, bool)>, path: &str) -> Option<&'a str> {
    let parts: Vec<&str> = path.split('/').collect();
    (1..=parts.len())
        .rev()
        .map(|k| parts[..k].join("/"))
        .find_map(|cand| mods.get_key_value(&cand).map(|(k, _)| k.as_str()))
}

#[test]
fn no_module_cycle_in_src() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("native-tests/ is in the repository")
        .join("src");
    let mods = modules(&src);
    assert!(mods.len() > 50, "found the modules: {}", mods.len());
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, (text, _)) in &mods {
        let targets = edges.entry(name.as_str()).or_default();
        // `super::` in `a/b.rs` and in `a/b/mod.rs` both name `a`'s items.
        let parent = name.rsplit_once('/').map_or("", |(p, _)| p);
        let supers = paths_after(text, "super::").into_iter().map(|p| {
            if parent.is_empty() {
                p
            } else {
                format!("{parent}/{p}")
            }
        });
        for path in paths_after(text, "crate::").into_iter().chain(supers) {
            if let Some(t) = resolve(&mods, &path)
                && !t.is_empty()
                && t != name
                && !name.starts_with(&format!("{t}/"))
            {
                targets.insert(t);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit<'a>(
        node: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        state: &mut BTreeMap<&'a str, bool>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        state.insert(node, false);
        stack.push(node);
        for &next in edges.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(false) => {
                    let from = stack.iter().position(|&m| m == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next);
                    return Some(cycle);
                }
                Some(true) => {}
                None => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        state.insert(node, true);
        stack.pop();
        None
    }
    let mut state = BTreeMap::new();
    for &node in edges.keys() {
        if !state.contains_key(node) {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(node, &edges, &mut state, &mut stack) {
                panic!(
                    "modules of src/ use each other in a circle: {}",
                    cycle.join(" -> ")
                );
            }
        }
    }
}
