//! Tests that disagree across worlds on purpose (see Cargo.toml), beside tests that agree.

/// The world this build runs in.
pub fn world() -> &'static str {
    if cfg!(target_os = "wasi") {
        "wasi"
    } else {
        "native"
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[wasio::test]
    async fn agrees_everywhere() {
        wasio::sleep(Duration::from_millis(1)).await;
        assert!(!super::world().is_empty());
    }

    /// Fails on WASI: the difference `compare` must report.
    #[wasio::test]
    async fn knows_it_is_native() {
        wasio::yield_now().await;
        assert_eq!(
            super::world(),
            "native",
            "this test expects to run natively"
        );
    }

    /// Panics on WASI, where a panic aborts the test binary: the tests after it must still
    /// get their own outcomes.
    #[wasio::test]
    async fn panics_on_wasi() {
        wasio::yield_now().await;
        if cfg!(target_os = "wasi") {
            panic!("a panic on WASI");
        }
    }

    /// A failure returned as `Err`, the same in every world.
    #[wasio::test]
    #[ignore = "fails everywhere; run with --ignored"]
    async fn fails_everywhere() -> Result<(), String> {
        Err("always".into())
    }

    /// Never ends on its own: a runner's time limit must stop it and go on with the others.
    #[wasio::test]
    #[ignore = "sleeps for an hour; run with --ignored and a time limit"]
    async fn hangs_until_stopped() {
        wasio::sleep(Duration::from_secs(3600)).await;
    }

    #[wasio::test]
    async fn zz_runs_after_the_panic() {
        wasio::sleep(Duration::from_millis(1)).await;
    }
}
