//! Webhook intake: validation, Persian text, deduplication and coalescing.

use std::time::Duration;

use siagh_sync::store::Backend;

use siagh_sync::store::testing::execute_sql;

use crate::helpers::{TestConfig, on_both_backends, person, spawn_app, spawn_app_with, wait_until};

on_both_backends!(
    persian_subtype_is_stored_byte_for_byte,
    malformed_queries_are_rejected_and_not_stored,
    wrong_secret_is_not_found,
    disallowed_source_is_forbidden,
    store_failure_answers_503_then_recovers,
    repeated_deliveries_make_one_write_per_change,
    delivery_storm_writes_once,
    edit_during_processing_is_not_lost,
);

async fn persian_subtype_is_stored_byte_for_byte(backend: Backend) {
    let app = spawn_app(backend).await;
    app.admin_post("/admin/pause", None).await;
    // The subtype as captured from Payamgostar: percent-encoded UTF-8, spaces as '+'.
    let query = "event=Insert&id=9295bc51-ce7c-4c3c-be1d-addf602c8081&type=Identity&subtype=%D9%85%D8%AE%D8%A7%D8%B7%D8%A8+%D8%AD%D9%82%DB%8C%D9%82%DB%8C+siagh";

    let response = app.send_webhook("identity", query).await;

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let job_id = body["job_id"].as_i64().unwrap();
    let job = app.store.job(job_id).await.unwrap().unwrap();
    assert_eq!(job.kind_hint.as_deref(), Some("مخاطب حقیقی siagh"));
    assert_eq!(job.record_id, "9295bc51-ce7c-4c3c-be1d-addf602c8081");
    assert_eq!(job.event, "Insert");
    app.shutdown().await;
}

async fn malformed_queries_are_rejected_and_not_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        ("event=Insert&type=Identity", "\"id\""),
        ("event=Created&id=a1&type=Identity", "\"event\""),
        ("id=a1&type=Identity", "\"event\""),
        ("event=Insert&id=a1&subtype=%D9%FF", "\"subtype\""),
        ("event=Insert&id=a1&type=Quote", "\"type\""),
    ];

    for (query, parameter) in cases {
        let response = app.send_webhook("identity", query).await;

        assert_eq!(response.status(), 400, "query {query}");
        let body: serde_json::Value = response.json().await.unwrap();
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(parameter), "query {query}: {message}");
    }
    let quote_on_identity = app
        .send_webhook("identity", "event=Insert&id=a1&type=Quote")
        .await;
    let invoice_on_quote = app
        .send_webhook("quote", "event=Insert&id=a1&type=PI_5")
        .await;
    let quote_on_identity = quote_on_identity.text().await.unwrap();
    let invoice_on_quote = invoice_on_quote.text().await.unwrap();
    assert!(
        quote_on_identity.contains("/webhook/crm/<secret>/quote for that type"),
        "{quote_on_identity}"
    );
    assert!(
        invoice_on_quote.contains("only Identity and Quote"),
        "no route is advised for an unknown type: {invoice_on_quote}"
    );
    let stats = app.store.queue_stats().await.unwrap();
    assert_eq!(stats.pending + stats.running + stats.done + stats.dead, 0);
    app.shutdown().await;
}

async fn wrong_secret_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app
        .http
        .get(format!(
            "{}/webhook/crm/not-the-secret-0000/identity?event=Insert&id=a1",
            app.address
        ))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 404);
    assert_eq!(app.store.queue_stats().await.unwrap().pending, 0);
    app.shutdown().await;
}

async fn repeated_deliveries_make_one_write_per_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.crm.create_person(person(10, "نگار")).await;
    app.wait_until_idle().await;
    app.crm
        .edit_person(&id, |record| {
            record.identity.email = Some("negar@example.com".into())
        })
        .await;
    app.wait_until_idle().await;
    let writes_before = app.siagh.counters().contact_updates;

    // An edit that is delivered three more times within 200 ms.
    app.crm.set_identity_webhook_url(None);
    app.crm
        .edit_person(&id, |record| {
            record.object.description = Some("ویرایش".into())
        })
        .await;
    app.admin_post("/admin/pause", None).await;
    for _ in 0..3 {
        assert_eq!(app.send_update_webhook(&id).await.status(), 200);
    }
    app.admin_post("/admin/resume", None).await;
    app.wait_until_idle().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(app.send_update_webhook(&id).await.status(), 200);
    app.wait_until_idle().await;

    assert_eq!(app.siagh.counters().contact_updates, writes_before + 1);
    assert_eq!(app.siagh.counters().contact_creates, 1);
    let actions = app.actions_for(&id).await;
    let tail = &actions[actions.len() - 6..];
    assert_eq!(
        tail,
        [
            "received",
            "duplicate",
            "duplicate",
            "update",
            "received",
            "skip_unchanged"
        ]
    );
    app.shutdown().await;
}

async fn edit_during_processing_is_not_lost(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.crm.create_person(person(11, "کاوه")).await;
    app.wait_until_idle().await;
    app.siagh.set_latency(Duration::from_millis(1_500));
    let fetches_before = app.crm.counters().gets;

    app.crm
        .edit_person(&id, |record| {
            record.identity.email = Some("first@example.com".into())
        })
        .await;
    // The job has fetched the first edit and is now waiting on the slow Siagh update.
    let crm = &app.crm;
    let store = &app.store;
    wait_until(
        "the first edit's job is writing to Siagh",
        Duration::from_secs(10),
        || async {
            let stats = store.queue_stats().await.unwrap();
            stats.running == 1 && crm.counters().gets > fetches_before
        },
    )
    .await;
    app.crm
        .edit_person(&id, |record| {
            record.identity.email = Some("second@example.com".into())
        })
        .await;
    app.wait_until_idle().await;

    let link = app.link(&id).await.unwrap();
    let code: i64 = link.siagh_code.unwrap().parse().unwrap();
    let contact = app.siagh.contact(code).unwrap();
    assert_eq!(
        contact.fields.get("gn_web_users.email").map(String::as_str),
        Some("second@example.com")
    );
    assert_eq!(
        app.siagh.counters().contact_updates,
        2,
        "each edit is written"
    );
    let actions = app.actions_for(&id).await;
    assert_eq!(
        actions.iter().filter(|action| *action == "update").count(),
        2
    );
    assert!(!actions.contains(&"duplicate".to_owned()), "{actions:?}");
    app.shutdown().await;
}

async fn delivery_storm_writes_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.crm.create_person(person(12, "طوفان")).await;
    app.wait_until_idle().await;
    app.crm.set_duplicate_deliveries(2);

    app.crm
        .edit_person(&id, |record| {
            record.identity.email = Some("storm@example.com".into())
        })
        .await;
    app.wait_until_idle().await;

    let counters = app.siagh.counters();
    assert_eq!(counters.contact_creates, 1);
    assert_eq!(counters.contact_updates, 1);
    let deliveries = app.crm.webhook_log();
    assert_eq!(
        deliveries.len(),
        4,
        "one Insert, then an Update sent three times"
    );
    assert!(
        deliveries
            .iter()
            .all(|delivery| delivery.status == Some(200))
    );
    let actions = app.actions_for(&id).await;
    let after_create: Vec<&str> = actions
        .iter()
        .map(String::as_str)
        .skip_while(|action| *action != "create")
        .skip(1)
        .collect();
    let updates = after_create
        .iter()
        .filter(|action| **action == "update")
        .count();
    let extras = after_create
        .iter()
        .filter(|action| matches!(**action, "duplicate" | "skip_unchanged"))
        .count();
    assert_eq!(updates, 1, "{after_create:?}");
    assert_eq!(extras, 2, "{after_create:?}");
    app.shutdown().await;
}

async fn disallowed_source_is_forbidden(backend: Backend) {
    let config = TestConfig {
        engine: Box::new(|settings| {
            settings.webhook.allowed_ips = vec!["10.9.9.9".parse().unwrap()];
        }),
        ..TestConfig::default()
    };
    let app = spawn_app_with(backend, config).await;

    let response = app
        .send_webhook("identity", "event=Insert&id=a1&type=Identity")
        .await;

    assert_eq!(response.status(), 403);
    assert_eq!(app.store.queue_stats().await.unwrap().pending, 0);
    app.shutdown().await;
}

async fn store_failure_answers_503_then_recovers(backend: Backend) {
    let app = spawn_app(backend).await;
    let query = "event=Update&id=4bb1e60b-eb1b-46de-a8d3-e49ddb316e19&type=Identity";
    execute_sql(
        &app.store,
        "ALTER TABLE sync_jobs RENAME TO sync_jobs_unavailable",
    )
    .await
    .unwrap();

    let failed = app.send_webhook("identity", query).await;

    assert_eq!(failed.status(), 503);
    let body = failed.text().await.unwrap();
    assert!(
        !body.contains("sync_jobs"),
        "internal detail leaked: {body}"
    );

    execute_sql(
        &app.store,
        "ALTER TABLE sync_jobs_unavailable RENAME TO sync_jobs",
    )
    .await
    .unwrap();
    let recovered = app.send_webhook("identity", query).await;

    assert_eq!(recovered.status(), 200);
    app.shutdown().await;
}
