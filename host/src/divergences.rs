//! The divergence list: where WASI behaviour must differ from native (`host/DIVERGENCES.md`).
//!
//! Format: each `## <id>` heading starts a divergence; the lines `- <key>: <value>` under it
//! give `what`, `native`, `wasi`, `probe` (the guest probe the host runs to check the WASI side)
//! and `cases` (shared cases whose outcome or transcript may differ; usually none). A listed
//! case may state what each world must show: `native-shows` and `wasi-shows` are events its
//! transcript must contain natively and in wasmtime, so the case stays strict in both worlds.
//! `worlds` says which WASI builds of the suite a divergence applies to (`p2`, `p3`, or both,
//! comma-separated); without it, it applies to both.

use std::path::{Path, PathBuf};

use crate::WasiVersion;

/// One documented divergence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Divergence {
    /// Short identifier (the heading).
    pub id: String,
    /// What differs.
    pub what: String,
    /// Native behaviour.
    pub native: String,
    /// WASI behaviour.
    pub wasi: String,
    /// Probe checking the WASI behaviour.
    pub probe: Option<String>,
    /// Test checking it when a probe cannot (for example because the WASI side is a trap).
    pub test: Option<String>,
    /// Shared cases allowed to differ between the worlds.
    pub cases: Vec<String>,
    /// An event the native transcript of those cases must contain.
    pub native_shows: Option<String>,
    /// An event the WASI transcript of those cases must contain.
    pub wasi_shows: Option<String>,
    /// The WASI versions it applies to (its cases, `wasi-shows` and probe); empty: every one.
    pub worlds: Vec<WasiVersion>,
}

impl Divergence {
    /// Whether it applies to the suite built for `world`.
    pub fn applies_to(&self, world: WasiVersion) -> bool {
        self.worlds.is_empty() || self.worlds.contains(&world)
    }
}

/// The list shipped with the host.
pub fn default_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("DIVERGENCES.md")
}

/// Parses the list.
pub fn parse(text: &str) -> Result<Vec<Divergence>, String> {
    let mut out: Vec<Divergence> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if let Some(id) = line.strip_prefix("## ") {
            out.push(Divergence {
                id: id.trim().to_string(),
                ..Divergence::default()
            });
            continue;
        }
        let Some(item) = line.strip_prefix("- ") else {
            continue;
        };
        let Some(d) = out.last_mut() else {
            continue;
        };
        let Some((key, value)) = item.split_once(':') else {
            return Err(format!("line {}: expected `- key: value`", n + 1));
        };
        let value = value.trim().to_string();
        match key.trim() {
            "what" => d.what = value,
            "native" => d.native = value,
            "wasi" => d.wasi = value,
            "probe" => {
                d.probe = Some(value.trim_matches('`').to_string()).filter(|p| !p.is_empty())
            }
            "test" => d.test = Some(value).filter(|t| !t.is_empty()),
            "native-shows" => d.native_shows = Some(value.trim_matches('`').to_string()),
            "wasi-shows" => d.wasi_shows = Some(value.trim_matches('`').to_string()),
            "worlds" => {
                let mut worlds = Vec::new();
                for w in value.split(',').map(|w| w.trim().trim_matches('`')) {
                    let v = match w {
                        "both" | "all" => {
                            worlds.extend(WasiVersion::ALL);
                            continue;
                        }
                        w => WasiVersion::parse(w).ok_or_else(|| {
                            format!("line {}: unknown world `{w}` (p2, p3 or both)", n + 1)
                        })?,
                    };
                    worlds.push(v);
                }
                worlds.sort();
                worlds.dedup();
                d.worlds = worlds;
            }
            "cases" => {
                d.cases = value
                    .split(',')
                    .map(|c| c.trim().trim_matches('`').to_string())
                    .filter(|c| !c.is_empty() && c != "none")
                    .collect()
            }
            other => return Err(format!("line {}: unknown key `{other}`", n + 1)),
        }
    }
    for d in &out {
        if d.what.is_empty() || d.wasi.is_empty() {
            return Err(format!("divergence `{}` needs `what` and `wasi`", d.id));
        }
        if d.probe.is_none() && d.test.is_none() {
            return Err(format!("divergence `{}` needs a `probe` or a `test`", d.id));
        }
    }
    Ok(out)
}

/// Reads and parses a list file.
pub fn load(path: &Path) -> Result<Vec<Divergence>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text)
}

/// The divergence that allows `case` to differ in the suite built for `world`, if any.
pub fn allowing<'a>(
    list: &'a [Divergence],
    case: &str,
    world: WasiVersion,
) -> Option<&'a Divergence> {
    list.iter()
        .find(|d| d.applies_to(world) && d.cases.iter().any(|c| c == case))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections() {
        let text = "# t\n\n## threads\n- what: no threads\n- native: pool\n- wasi: inline\n- probe: `div_x`\n- cases: a, b\n\n## other\n- what: w\n- wasi: v\n- test: t.rs\n- cases: none\n";
        let list = parse(text).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].probe.as_deref(), Some("div_x"));
        assert_eq!(list[0].cases, vec!["a", "b"]);
        assert!(list[1].cases.is_empty());
        for world in WasiVersion::ALL {
            assert_eq!(
                allowing(&list, "b", world).map(|d| d.id.as_str()),
                Some("threads")
            );
        }
        assert!(parse("## x\n- what: y\n").is_err(), "wasi is required");
        assert!(
            parse("## x\n- what: y\n- wasi: z\n").is_err(),
            "a check is required"
        );
        assert!(parse("## x\n- bogus: y\n").is_err());
        let shows = parse("## x\n- what: y\n- wasi: z\n- test: t\n- cases: c\n- native-shows: `a`\n- wasi-shows: b\n").unwrap();
        assert_eq!(shows[0].native_shows.as_deref(), Some("a"));
        assert_eq!(shows[0].wasi_shows.as_deref(), Some("b"));
    }

    #[test]
    fn worlds_restrict_a_divergence() {
        let text = "## both\n- what: w\n- wasi: v\n- test: t\n- cases: a\n\n\
                    ## p3-only\n- what: w\n- wasi: v\n- test: t\n- cases: b\n- worlds: p3\n\n\
                    ## explicit\n- what: w\n- wasi: v\n- test: t\n- cases: c\n- worlds: `p3`, p2\n";
        let list = parse(text).unwrap();
        assert!(list[0].worlds.is_empty(), "no `worlds`: every world");
        assert!(WasiVersion::ALL.iter().all(|&w| list[0].applies_to(w)));
        assert_eq!(list[1].worlds, [WasiVersion::P3]);
        assert_eq!(list[2].worlds, WasiVersion::ALL);
        assert!(allowing(&list, "b", WasiVersion::P2).is_none());
        assert_eq!(
            allowing(&list, "b", WasiVersion::P3).map(|d| d.id.as_str()),
            Some("p3-only")
        );
        assert!(allowing(&list, "a", WasiVersion::P2).is_some());
        assert!(parse("## x\n- what: y\n- wasi: z\n- test: t\n- worlds: p4\n").is_err());
        assert!(parse("## x\n- what: y\n- wasi: z\n- test: t\n- worlds:\n").is_err());
    }

    #[test]
    fn shipped_list_parses() {
        let list = load(&default_path()).unwrap();
        assert!(!list.is_empty());
    }
}
