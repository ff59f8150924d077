//! `e2e matrix` against our own `mcp-wrapper`: every scenario runs for real (test-server on
//! loopback, the bridge over pipes) and must come out as a user wants it. This keeps both
//! the matrix code and the bridge's fault behaviour honest; the other bridges are compared
//! by `benches/compare/run.sh`, not here. The sign-in rows need the Python of the tests
//! (the MCP SDK's authorization server), which does not exist yet when `cargo test` runs in
//! `scripts/test-all.sh`: python-tests/test_oauth.py runs them; likewise the legacy-SSE row
//! needs the SDK 1.x venv, and python-tests/legacy/test_legacy_sse.py runs it; the era rows
//! need both venvs and python-tests/era (python-tests/era/test_era_bridge.py covers cases
//! A-D for our bridge).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn mcp_wrapper_passes_every_scenario_of_the_matrix() {
    let e2e = PathBuf::from(env!("CARGO_BIN_EXE_e2e"));
    // `cargo test --workspace` builds every binary of the workspace into the same directory.
    let wrapper = e2e.with_file_name("mcp-wrapper");
    assert!(
        wrapper.is_file(),
        "{} missing: run `cargo build -p jsonrpc-forward --bin mcp-wrapper` first",
        wrapper.display()
    );
    let json = std::env::temp_dir().join(format!("matrix-test-{}.json", std::process::id()));
    let output = Command::new(&e2e)
        .env("E2E_MATRIX_SKIP", "oauth_,reach_legacy,era_")
        .arg("matrix")
        .arg("--bridge")
        .arg(format!(
            "mcp-wrapper={} --url {{url}} --log-level OFF",
            wrapper.display()
        ))
        .arg("--json")
        .arg(&json)
        .output()
        .expect("e2e runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "e2e matrix failed: {stderr}");
    let text = std::fs::read_to_string(&json).expect("the JSON was written");
    let _ = std::fs::remove_file(&json);
    let matrix: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let scenarios = matrix["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 17);
    for scenario in scenarios {
        let cell = &scenario["cells"][0];
        assert_eq!(
            cell["good"], true,
            "{}: {} (stderr: {stderr})",
            scenario["title"], cell["text"]
        );
    }
    // The table on stdout has a row per scenario.
    let table = String::from_utf8_lossy(&output.stdout);
    assert_eq!(table.lines().count(), 2 + scenarios.len(), "{table}");
}
