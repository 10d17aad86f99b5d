//! What a file handed to `wasio-host` is, before wasmtime sees it: a component goes on; a
//! native binary, a Rust library, a core module or a text file is a clear error that says what
//! it is and how to get a component (instead of wasmtime's "input bytes aren't valid utf-8",
//! or a parse error quoting the file back).

use std::path::Path;

/// `Ok` for a WebAssembly component (binary, or WAT text starting with `(component` or
/// `(module`); otherwise what the file is and what to do.
pub fn check(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let name = path.display();
    let build = "build it for the component target: `cargo build --target wasm32-wasip2` \
                 (the .wasm is under target/wasm32-wasip2/)";
    if bytes.is_empty() {
        return Err(format!("{name} is empty: not a WebAssembly component"));
    }
    if let Some(rest) = bytes.strip_prefix(b"\0asm") {
        // Bytes 4..8: a 16-bit version then a 16-bit layer (0: core module, 1: component).
        return match rest.get(2..4) {
            Some([1, 0]) => Ok(()),
            Some([0, 0]) => Err(format!(
                "{name} is a core WebAssembly module, not a component: wasio guests are \
                 components; {build}, or wrap a wasm32-wasip1 module with \
                 `wasm-tools component new --adapt`"
            )),
            _ if rest.len() < 4 => Err(format!(
                "{name} is a truncated WebAssembly file ({} bytes)",
                bytes.len()
            )),
            _ => Err(format!(
                "{name} is a WebAssembly file of an unknown version or layer"
            )),
        };
    }
    let what = if bytes.starts_with(b"\x7fELF") {
        Some("a native ELF executable or library (built for this machine, not for WebAssembly)")
    } else if bytes.starts_with(b"!<arch>\n") {
        Some("a static library archive (an .rlib or .a), not a program")
    } else if bytes.starts_with(b"MZ") {
        Some("a Windows executable")
    } else if bytes.starts_with(&[0xcf, 0xfa, 0xed, 0xfe])
        || bytes.starts_with(&[0xca, 0xfe, 0xba, 0xbe])
    {
        Some("a macOS (Mach-O) executable")
    } else {
        None
    };
    if let Some(what) = what {
        return Err(format!("{name} is {what}; {build}"));
    }
    // Text: WAT is accepted (wasmtime compiles it); anything else is not a component.
    if let Ok(text) = std::str::from_utf8(bytes) {
        let code = text
            .lines()
            .map(str::trim_start)
            .find(|l| !l.is_empty() && !l.starts_with(";;"))
            .unwrap_or("");
        if code.starts_with("(component") || code.starts_with("(module") {
            return Ok(());
        }
        let hint = if path.extension().is_some_and(|e| e == "d") {
            " (a .d file lists a build's dependencies; the .wasm is beside it)"
        } else {
            ""
        };
        return Err(format!(
            "{name} is a text file{hint}, not a WebAssembly component; {build}"
        ));
    }
    Err(format!(
        "{name} is not a WebAssembly component (no `\\0asm` header); {build}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bytes: &[u8], file: &str) -> String {
        check(Path::new(file), bytes).expect_err("refused")
    }

    #[test]
    fn each_kind_of_file_gets_its_own_message() {
        assert!(check(Path::new("a.wasm"), b"\0asm\x0d\0\x01\0rest").is_ok());
        assert!(check(Path::new("a.wat"), b";; c\n(component)").is_ok());
        assert!(err(b"\0asm\x01\0\0\0", "m.wasm").contains("core WebAssembly module"));
        assert!(err(b"\x7fELF\x02\x01", "a").contains("native ELF"));
        assert!(err(b"!<arch>\nx", "libx.rlib").contains("library archive"));
        assert!(err(b"target/x.wasm: src/main.rs\n", "x.d").contains(".d file"));
        assert!(err(b"\0asm\x0d", "t.wasm").contains("truncated"));
        assert!(err(&[0xff, 0xfe, 0x00], "b.bin").contains("no `\\0asm` header"));
        assert!(err(b"", "e.wasm").contains("empty"));
    }
}
