//! Failures along the way: expired sessions, lost responses, panics.

use std::time::Duration;

use siagh_sync::store::Backend;

use crate::helpers::{TestConfig, on_both_backends, person, spawn_app, spawn_app_with, wait_until};

on_both_backends!(
    session_expiry_mid_batch_logs_in_once,
    timeout_after_create_makes_no_second_contact,
    orchestrator_panic_restarts_and_loses_nothing,
    rejected_credentials_are_retried_not_dead_lettered,
);

async fn session_expiry_mid_batch_logs_in_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.siagh.set_latency(Duration::from_millis(50));
    app.admin_post("/admin/pause", None).await;
    for n in 0..50 {
        app.crm.create_person(person(200 + n, "دسته")).await;
    }

    app.admin_post("/admin/resume", None).await;
    let siagh = &app.siagh;
    wait_until("ten contacts exist", Duration::from_secs(30), || async {
        siagh.counters().contact_creates >= 10
    })
    .await;
    app.siagh.expire_sessions();
    app.wait_until_idle().await;

    let counters = app.siagh.counters();
    assert_eq!(counters.contact_creates, 50);
    assert_eq!(counters.logins, 2, "one login, then one shared re-login");
    let stats = app.store.queue_stats().await.unwrap();
    assert_eq!(stats.dead, 0);
    assert_eq!(stats.done, 50);
    app.shutdown().await;
}

async fn timeout_after_create_makes_no_second_contact(backend: Backend) {
    let config = TestConfig {
        engine: Box::new(|settings| {
            settings.siagh.request_timeout = Duration::from_millis(700);
        }),
        ..TestConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    app.siagh
        .delay_responses_after_commit(1, Duration::from_secs(2));

    let id = app.crm.create_person(person(300, "مهلت")).await;
    app.wait_until_idle().await;

    assert_eq!(app.siagh.counters().contact_creates, 1);
    assert_eq!(app.siagh_codes_with_mobile("09350000300").len(), 1);
    let link = app.link(&id).await.unwrap();
    assert_eq!(link.state, "linked");
    let actions = app.actions_for(&id).await;
    assert!(actions.contains(&"uncertain".to_owned()), "{actions:?}");
    assert!(actions.contains(&"adopted".to_owned()), "{actions:?}");
    app.shutdown().await;
}

async fn orchestrator_panic_restarts_and_loses_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.crm.create_person(person(400, "پیش")).await;
    app.wait_until_idle().await;

    app.admin_post("/admin/pause", None).await;
    let doomed = app.crm.create_person(person(401, "خطا")).await;
    app.faults.panic_once_on(&doomed.0);
    let others = [
        app.crm.create_person(person(402, "دیگر")).await,
        app.crm.create_person(person(403, "دیگر")).await,
    ];
    app.admin_post("/admin/resume", None).await;
    app.wait_until_idle().await;
    let after = app.crm.create_person(person(404, "پس")).await;
    app.wait_until_idle().await;

    for id in [&before, &doomed, &others[0], &others[1], &after] {
        assert_eq!(
            app.link(id).await.unwrap().state,
            "linked",
            "record {}",
            id.0
        );
    }
    assert_eq!(app.siagh.counters().contact_creates, 5);
    let status = app.admin_get("/admin/status").await;
    let orchestrator = &status["actors"]["customer_orchestrator"];
    assert_eq!(orchestrator["restarts"], 1);
    assert!(
        orchestrator["last_panic"]
            .as_str()
            .unwrap()
            .contains("injected fault")
    );
    app.shutdown().await;
}

async fn rejected_credentials_are_retried_not_dead_lettered(backend: Backend) {
    let config = TestConfig {
        engine: Box::new(|settings| {
            settings.siagh.password_md5 = siagh_sync::siagh::password_md5("wrong").into();
        }),
        ..TestConfig::default()
    };
    let app = spawn_app_with(backend, config).await;

    let id = app.crm.create_person(person(500, "رمز")).await;
    let store = app.store.clone();
    let record = id.0.clone();
    wait_until("a retry is scheduled", Duration::from_secs(10), || {
        let store = store.clone();
        let record = record.clone();
        async move {
            let filter = siagh_sync::store::LogFilter {
                record_id: Some(record),
                action: Some("retry_scheduled".into()),
                ..siagh_sync::store::LogFilter::default()
            };
            !store.log_entries(filter).await.unwrap().is_empty()
        }
    })
    .await;

    assert_eq!(app.store.queue_stats().await.unwrap().dead, 0);
    assert!(app.link(&id).await.is_none());
    app.shutdown().await;
}
