//! The `siagh-sync` binary as an operator runs it.

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
    // The admin token, the webhook secret, Siagh session ids and MD5 digests are all 32 hex
    // digits here; JWTs start with eyJ.
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

fn siagh_sync() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_siagh-sync"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn migrate_needs_only_the_database_url() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("migrate.db");

    let output = siagh_sync()
        .current_dir(dir.path())
        .arg("migrate")
        .env("DATABASE_URL", &database)
        .output()
        .unwrap();

    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "migrate failed:\n{logs}");
    assert!(database.exists());
}

#[test]
fn busy_port_fails_cleanly_naming_listen_addr() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();

    let output = siagh_sync()
        .current_dir(dir.path())
        .arg("serve")
        .envs([
            ("LISTEN_ADDR", address.as_str()),
            ("DATABASE_URL", "busy.db"),
            ("CRM_BASE_URL", "http://127.0.0.1:9/"),
            ("CRM_USERNAME", "api-user"),
            ("CRM_PASSWORD", "not-a-real-password"),
            ("SIAGH_BASE_URL", "http://127.0.0.1:9/"),
            ("SIAGH_USERNAME", "user"),
            ("SIAGH_PASSWORD", "sample-password"),
            ("WEBHOOK_SECRET", "0123456789abcdef"),
            ("ADMIN_TOKEN", "admin-token-0123456789"),
        ])
        .output()
        .unwrap();

    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(logs.contains("LISTEN_ADDR"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

#[test]
fn missing_settings_are_all_named() {
    let dir = tempfile::tempdir().unwrap();

    let output = siagh_sync()
        .current_dir(dir.path())
        .arg("serve")
        .output()
        .unwrap();

    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    for name in [
        "CRM_BASE_URL",
        "SIAGH_USERNAME",
        "WEBHOOK_SECRET",
        "ADMIN_TOKEN",
    ] {
        assert!(logs.contains(name), "{name} not named:\n{logs}");
    }
}

#[test]
fn unquoted_env_value_with_spaces_explains_quoting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "SIAGH_USERNAME=\"کاربر نمونه\"\nCRM_PASSWORD=correct horse battery\n",
    )
    .unwrap();

    let output = siagh_sync()
        .current_dir(dir.path())
        .arg("serve")
        .output()
        .unwrap();

    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(logs.contains("double quotes"), "{logs}");
    assert!(logs.contains("line 2 (CRM_PASSWORD)"), "{logs}");
    assert!(
        !logs.contains("horse"),
        "the value must not be printed: {logs}"
    );
}

#[test]
fn config_file_belongs_to_settings_commands() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("from-file.db");
    let file = dir.path().join("siagh.toml");
    std::fs::write(
        &file,
        format!("DATABASE_URL = {:?}\n", database.to_str().unwrap()),
    )
    .unwrap();

    let migrate = siagh_sync()
        .current_dir(dir.path())
        .args(["migrate", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let hash = siagh_sync()
        .current_dir(dir.path())
        .args(["hash-password", "--stdin", "--config", "siagh.toml"])
        .output()
        .unwrap();

    let logs = String::from_utf8_lossy(&migrate.stderr);
    assert!(migrate.status.success(), "migrate failed:\n{logs}");
    assert!(database.exists(), "migrate used the file's DATABASE_URL");
    let message = String::from_utf8_lossy(&hash.stderr);
    assert!(!hash.status.success());
    assert!(message.contains("--config"), "{message}");
}
