//! Admin API: authentication, pause and resume, status.

use std::time::Duration;

use serde_json::json;
use siagh_sync::store::Backend;

use crate::helpers::{on_both_backends, person, spawn_app};

on_both_backends!(
    admin_requires_the_bearer_token,
    health_and_ready_answer,
    pause_holds_jobs_across_a_restart,
    pause_rejects_unknown_entity,
    resume_without_body_clears_every_scope,
    bearer_scheme_is_case_insensitive,
    requeue_all_runs_every_dead_letter_again,
    admin_timestamps_are_utc,
    resume_under_global_pause_reports_paused,
    sync_log_rejects_unknown_entity,
    requeue_rejects_non_numeric_id,
);

async fn admin_requires_the_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;

    let missing = app
        .http
        .get(format!("{}/admin/status", app.address))
        .send()
        .await
        .unwrap();
    let wrong = app
        .http
        .post(format!("{}/admin/pause", app.address))
        .bearer_auth("wrong-token-0000000000")
        .send()
        .await
        .unwrap();

    assert_eq!(missing.status(), 401);
    assert_eq!(wrong.status(), 401);
    assert!(app.store.paused_scopes().await.unwrap().is_empty());
    app.shutdown().await;
}

async fn health_and_ready_answer(backend: Backend) {
    let app = spawn_app(backend).await;

    let health = app
        .http
        .get(format!("{}/health", app.address))
        .send()
        .await
        .unwrap();
    let ready = app
        .http
        .get(format!("{}/ready", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(health.status(), 200);
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["store"], "ok");
    let redis = if backend == Backend::Postgres {
        "ok"
    } else {
        "not configured"
    };
    assert_eq!(body["redis"], redis);
    app.shutdown().await;
}

async fn pause_holds_jobs_across_a_restart(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let paused = app
        .admin_post("/admin/pause", Some(json!({"entity": "customer"})))
        .await;
    assert_eq!(paused.status(), 200);
    // Pausing twice is harmless.
    assert_eq!(
        app.admin_post("/admin/pause", Some(json!({"entity": "customer"})))
            .await
            .status(),
        200
    );

    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(app.crm.create_person(person(100 + n, "مکث")).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        app.siagh.counters().contact_creates,
        0,
        "nothing reaches Siagh while paused"
    );

    app.restart().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = app.admin_get("/admin/status").await;
    assert_eq!(status["paused_scopes"], json!(["customer"]));
    assert_eq!(status["queue"]["pending"], 10);
    assert_eq!(
        app.siagh.counters().contact_creates,
        0,
        "the pause survives a restart"
    );

    let resumed = app
        .admin_post("/admin/resume", Some(json!({"entity": "customer"})))
        .await;
    assert_eq!(resumed.status(), 200);
    app.wait_until_idle().await;

    assert_eq!(app.siagh.counters().contact_creates, 10);
    for id in &ids {
        assert_eq!(app.link(id).await.unwrap().state, "linked");
    }
    let status = app.admin_get("/admin/status").await;
    assert_eq!(status["paused_scopes"], json!([]));
    app.shutdown().await;
}

async fn pause_rejects_unknown_entity(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app
        .admin_post("/admin/pause", Some(json!({"entity": "invoices"})))
        .await;

    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("invoices"));
    assert!(app.store.paused_scopes().await.unwrap().is_empty());
    app.shutdown().await;
}

async fn resume_without_body_clears_every_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    app.admin_post("/admin/pause", Some(json!({"entity": "customer"})))
        .await;
    app.admin_post("/admin/pause", None).await;

    let response = app.admin_post("/admin/resume", None).await;

    assert_eq!(response.status(), 200);
    assert!(app.store.paused_scopes().await.unwrap().is_empty());
    app.shutdown().await;
}

async fn bearer_scheme_is_case_insensitive(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app
        .http
        .get(format!("{}/admin/status", app.address))
        .header("Authorization", format!("bearer {}", app.admin_token))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    app.shutdown().await;
}

async fn requeue_all_runs_every_dead_letter_again(backend: Backend) {
    let app = spawn_app(backend).await;
    for n in [600, 601] {
        let mut clash = person(n, "تکراری");
        clash.mobile = Some("09120000001".into());
        app.crm.create_person(clash).await;
    }
    app.wait_until_idle().await;
    assert_eq!(app.store.queue_stats().await.unwrap().dead, 2);

    let response = app.admin_post("/admin/dead-letters/requeue", None).await;

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["requeued"].as_array().unwrap().len(), 2);
    app.wait_until_idle().await;
    let dead = app.admin_get("/admin/dead-letters").await;
    let reasons: Vec<&str> = dead["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["last_error"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "both ran again and were rejected again");
    assert_eq!(app.siagh.counters().rejected_saves, 4);
    app.shutdown().await;
}

async fn admin_timestamps_are_utc(backend: Backend) {
    let app = spawn_app(backend).await;
    for n in [610, 611] {
        let mut clash = person(n, "زمان");
        clash.mobile = Some("09120000002".into());
        app.crm.create_person(clash).await;
    }
    app.wait_until_idle().await;

    let dead = app.admin_get("/admin/dead-letters").await;
    let log = app.admin_get("/admin/sync-log").await;
    let job = &dead["dead_letters"][0];
    let entry = &log["entries"][0];
    let stamps = [
        &job["created_at"],
        &job["updated_at"],
        &job["run_at"],
        &job["finished_at"],
        &entry["created_at"],
    ];

    for stamp in stamps {
        let text = stamp.as_str().unwrap_or_default();
        assert!(text.ends_with('Z'), "{stamp} names no zone");
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "{stamp} is not RFC 3339"
        );
    }
    app.shutdown().await;
}

async fn resume_under_global_pause_reports_paused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.admin_post("/admin/pause", None).await;

    let response = app
        .admin_post("/admin/resume", Some(json!({"entity": "quote"})))
        .await;

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["paused"], true, "{body}");
    assert!(
        body["note"].as_str().unwrap().contains("every entity"),
        "{body}"
    );
    app.shutdown().await;
}

async fn sync_log_rejects_unknown_entity(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app
        .http
        .get(format!("{}/admin/sync-log?entity=customers", app.address))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(body.contains("customers"), "{body}");
    assert!(body.contains("customer, quote"), "{body}");
    app.shutdown().await;
}

async fn requeue_rejects_non_numeric_id(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app
        .admin_post("/admin/dead-letters/abc/requeue", None)
        .await;

    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("\"abc\" is not a number"), "{message}");
    app.shutdown().await;
}
