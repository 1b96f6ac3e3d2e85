//! The demo binary's log output never carries secrets.

use std::process::Command;

#[test]
fn demo_logs_carry_no_secrets() {
    let output = Command::new(env!("CARGO_BIN_EXE_siagh-sync"))
        .args(["demo", "--once"])
        .env("RUST_LOG", "debug")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .expect("run siagh-sync demo --once");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo failed:\n{logs}");
    assert!(
        stdout.contains("create"),
        "the account lists creates:\n{stdout}"
    );
    let admin_token = stdout
        .split("Bearer ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the demo prints its admin token");
    assert!(!logs.contains(admin_token), "admin token in logs");
    // Session ids, the webhook secret and MD5 digests are 32 hex digits; JWTs start with eyJ.
    for line in logs.lines() {
        let hex_run = line
            .split(|c: char| !c.is_ascii_hexdigit())
            .any(|word| word.len() == 32);
        assert!(!hex_run, "a 32-hex-digit value in a log line: {line}");
        assert!(!line.contains("eyJ"), "a JWT in a log line: {line}");
        assert!(
            !line.contains("not-a-real-password"),
            "the CRM password in a log line"
        );
        assert!(
            !line.contains("sample-password"),
            "the Siagh password in a log line"
        );
    }
}
