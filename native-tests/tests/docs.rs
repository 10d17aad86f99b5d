//! What the published docs promise about themselves: code they quote is the code that runs,
//! and nothing points outside the repository.

use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("native-tests/ is inside the repository")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The code blocks that follow a `<!-- quoted from FILE -->` marker, with their files.
fn quotes(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(file) = line
            .trim()
            .strip_prefix("<!-- quoted from ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "a code block after the marker for {file}"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        out.push((file.to_string(), block.join("\n")));
    }
    out
}

#[test]
fn from_tokio_quotes_the_example_as_it_is() {
    let doc = read(&repo().join("docs/from-tokio.md"));
    let quoted = quotes(&doc);
    assert!(
        quoted.len() >= 9,
        "every mapping is quoted: {}",
        quoted.len()
    );
    for (file, block) in quoted {
        let source = read(&repo().join(&file));
        assert!(
            source.contains(&block),
            "docs/from-tokio.md quotes {file}, but the file does not hold:\n{block}"
        );
    }
}

/// Markdown and Rust files that are published (the crate, the host, the docs), scanned for
/// references to files that only exist beside this repository.
#[test]
fn nothing_published_points_outside_the_repository() {
    let root = repo();
    let mut files = Vec::new();
    for dir in ["src", "host/src", "docs", "examples"] {
        collect(&root.join(dir), &mut files);
    }
    for file in [
        "README.md",
        "ARCHITECTURE.md",
        "BENCHMARKS.md",
        "host/SECURITY.md",
    ] {
        files.push(root.join(file));
    }
    files.push(root.join("host/DIVERGENCES.md"));
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| f.is_file()) {
        let text = read(file);
        for (n, line) in text.lines().enumerate() {
            if line.contains("../shared") || line.contains("shared/DESIGN") {
                offenders.push(format!("{}:{}: {line}", file.display(), n + 1));
            }
        }
    }
    assert!(
        files.len() > 50,
        "the scan found the sources: {}",
        files.len()
    );
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            collect(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "rs" || e == "md" || e == "toml")
        {
            out.push(path);
        }
    }
}
