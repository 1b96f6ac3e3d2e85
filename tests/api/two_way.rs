//! Siagh → CRM: the poller's diff, echo suppression and the three-way merge.

use std::time::Duration;

use serde_json::json;
use siagh_sync::crm::CrmId;
use siagh_sync::store::Backend;

use crate::helpers::{TestApp, TestConfig, on_both_backends, person, spawn_app_with, wait_until};

on_both_backends!(
    siagh_edit_reaches_crm_once,
    crm_edit_causes_no_ping_pong,
    edits_on_both_sides_merge,
    letter_forms_cause_no_update_loop,
    new_siagh_contact_becomes_crm_person,
    lost_webhooks_are_caught_by_the_crm_poller,
    full_scan_catches_changes_without_find,
    party_type_change_goes_to_review,
    siagh_create_waits_for_a_settling_crm_create,
    crm_edit_keeps_an_inactive_contact_inactive,
    crm_create_waits_for_a_settling_siagh_create,
    rejected_person_is_not_polled_again,
);

/// Poll interval of these tests; "ten poll cycles" below means ten of these.
const POLL: Duration = Duration::from_millis(200);

async fn spawn_polling_app(backend: Backend) -> TestApp {
    let config = TestConfig {
        engine: Box::new(|settings| settings.sync.siagh_poll_interval = Some(POLL)),
        ..TestConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    app.crm.set_webhooks_on_api_writes(true);
    app
}

/// Creates a CRM person, waits until it is linked and the poller has seen its contact.
async fn linked_person(app: &TestApp, n: u32) -> (CrmId, i64) {
    let id = app.crm.create_person(person(n, "دوطرفه")).await;
    app.wait_until_idle().await;
    let code = app
        .link(&id)
        .await
        .unwrap()
        .siagh_code
        .unwrap()
        .parse()
        .unwrap();
    settle(app).await;
    (id, code)
}

/// Waits for a completed Siagh poll, then lets more cycles pass and the queue drain.
async fn settle(app: &TestApp) {
    wait_until(
        "a Siagh poll has completed",
        Duration::from_secs(10),
        || async {
            let status = app.admin_get("/admin/status").await;
            let poller = &status["actors"]["finance_poller"]["poll"];
            !poller["last_success_at"].is_null() || status["actors"]["finance_poller"].is_null()
        },
    )
    .await;
    tokio::time::sleep(POLL * 3).await;
    app.wait_until_idle().await;
}

fn crm_address(app: &TestApp, id: &CrmId) -> Option<String> {
    let person = app.crm.person(id)?;
    person.identity.address_contacts.first()?.address.clone()
}

async fn siagh_edit_reaches_crm_once(backend: Backend) {
    let app = spawn_polling_app(backend).await;
    let (id, code) = linked_person(&app, 500).await;
    let crm_updates = app.crm.counters().person_updates;
    let siagh_updates = app.siagh.counters().contact_updates;

    app.siagh.edit_contact(code, |contact| {
        contact.set_field("gn_web_users.address", "اصفهان، خیابان تازه");
    });
    wait_until(
        "the CRM shows the Siagh edit",
        Duration::from_secs(10),
        || async {
            crm_address(&app, &id).as_deref() == Some("اصفهان، خیابان تازه")
        },
    )
    .await;
    tokio::time::sleep(POLL * 10).await;
    app.wait_until_idle().await;

    assert_eq!(app.crm.counters().person_updates, crm_updates + 1);
    assert_eq!(
        app.siagh.counters().contact_updates,
        siagh_updates,
        "nothing written back"
    );
    let actions = app.actions_for(&id).await;
    assert!(
        actions.contains(&"skip_unchanged".to_owned()),
        "echo recognized: {actions:?}"
    );
    app.shutdown().await;
}

async fn crm_edit_causes_no_ping_pong(backend: Backend) {
    let app = spawn_polling_app(backend).await;
    let (id, code) = linked_person(&app, 501).await;
    let crm_updates = app.crm.counters().person_updates;
    let siagh_updates = app.siagh.counters().contact_updates;

    app.crm
        .edit_person(&id, |record| {
            record.identity.email = Some("pingpong@example.com".into())
        })
        .await;
    app.wait_until_idle().await;
    tokio::time::sleep(POLL * 10).await;
    app.wait_until_idle().await;

    assert_eq!(app.siagh.counters().contact_updates, siagh_updates + 1);
    assert_eq!(
        app.crm.counters().person_updates,
        crm_updates,
        "nothing written back"
    );
    let contact = app.siagh.contact(code).unwrap();
    assert_eq!(
        contact.field("gn_web_users.email"),
        Some("pingpong@example.com")
    );
    app.shutdown().await;
}

async fn edits_on_both_sides_merge(backend: Backend) {
    let app = spawn_polling_app(backend).await;
    let (id, code) = linked_person(&app, 502).await;

    // Paused, both edits happen before any sync step can see either of them.
    app.admin_post("/admin/pause", None).await;
    app.crm
        .edit_person(&id, |record| {
            record.identity.email = Some("both@example.com".into());
            let mobile = record
                .identity
                .phone_contacts
                .iter_mut()
                .find(|phone| phone.phone_type.as_deref() == Some("Mobile"))
                .expect("a mobile entry");
            mobile.phone_number = Some("09351111111".into());
        })
        .await;
    app.siagh.edit_contact(code, |contact| {
        contact.set_field("gn_web_users.address", "شیراز، خیابان زند");
        contact.set_field("gn_web_users.mobileno", "09352222222");
    });
    app.admin_post("/admin/resume", None).await;
    settle(&app).await;
    settle(&app).await;

    let contact = app.siagh.contact(code).unwrap();
    assert_eq!(
        contact.field("gn_web_users.email"),
        Some("both@example.com")
    );
    assert_eq!(
        contact.field("gn_web_users.address"),
        Some("شیراز، خیابان زند")
    );
    assert_eq!(
        contact.field("gn_web_users.mobileno"),
        Some("09351111111"),
        "the CRM wins"
    );
    let crm = app.crm.person(&id).unwrap();
    assert_eq!(crm.identity.email.as_deref(), Some("both@example.com"));
    assert_eq!(crm_address(&app, &id).as_deref(), Some("شیراز، خیابان زند"));
    let conflicts = app.admin_get("/admin/conflicts").await;
    let conflicts = conflicts["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["field"], "mobile");
    assert_eq!(conflicts[0]["base_value"], "09350000502");
    assert_eq!(conflicts[0]["crm_value"], "09351111111");
    assert_eq!(conflicts[0]["siagh_value"], "09352222222");
    assert_eq!(conflicts[0]["resolution"], "crm");
    assert_eq!(conflicts[0]["policy"], json!("crm-wins"));
    app.shutdown().await;
}

async fn letter_forms_cause_no_update_loop(backend: Backend) {
    let app = spawn_polling_app(backend).await;
    let mut record = person(503, "علی");
    record.nick_name = Some("علی کریمی".into());
    let id = app.crm.create_person(record).await;
    app.wait_until_idle().await;
    let code: i64 = app
        .link(&id)
        .await
        .unwrap()
        .siagh_code
        .unwrap()
        .parse()
        .unwrap();
    settle(&app).await;
    let crm_updates = app.crm.counters().person_updates;
    let siagh_updates = app.siagh.counters().contact_updates;

    app.siagh.edit_contact(code, |contact| {
        contact.set_field("gn_web_users.fullname", "علي كريمي");
        contact.set_field("gn_web_users.mobileno", "۰۹۳۵۰۰۰۰۵۰۳");
    });
    tokio::time::sleep(POLL * 10).await;
    app.wait_until_idle().await;

    assert_eq!(app.crm.counters().person_updates, crm_updates);
    assert_eq!(app.siagh.counters().contact_updates, siagh_updates);
    assert_eq!(
        app.crm.person(&id).unwrap().identity.nick_name.as_deref(),
        Some("علی کریمی")
    );
    app.shutdown().await;
}

async fn new_siagh_contact_becomes_crm_person(backend: Backend) {
    let app = spawn_polling_app(backend).await;
    settle(&app).await;
    let code = 8402;

    // The seeded organization was part of the first poll's baseline; an edit makes it a
    // change, and as it is linked to nothing the engine creates it in the CRM.
    app.siagh.edit_contact(code, |contact| {
        contact.set_field("gn_web_users.tozihat", "مشتری جدید");
    });
    let store = app.store.clone();
    wait_until("the contact is linked", Duration::from_secs(10), || {
        let store = store.clone();
        async move {
            let link = store.link_by_siagh_code("customer", "8402").await.unwrap();
            link.is_some_and(|link| link.state == "linked")
        }
    })
    .await;
    tokio::time::sleep(POLL * 10).await;
    app.wait_until_idle().await;

    assert_eq!(app.crm.counters().organization_creates, 1);
    let link = app
        .store
        .link_by_siagh_code("customer", "8402")
        .await
        .unwrap()
        .unwrap();
    let id = CrmId(link.crm_id.unwrap());
    let organization = app.crm.organization(&id).unwrap();
    assert_eq!(
        organization.identity.nick_name.as_deref(),
        Some("شرکت نمونه")
    );
    assert_eq!(
        organization.identity.customer_number.as_deref(),
        Some("100-9402")
    );
    assert_eq!(
        organization.object.description.as_deref(),
        Some("مشتری جدید")
    );
    assert_eq!(
        app.siagh.counters().contact_updates,
        0,
        "nothing written back to Siagh"
    );
    app.shutdown().await;
}

async fn spawn_crm_polling_app(backend: Backend, find_supported: bool) -> TestApp {
    let config = TestConfig {
        engine: Box::new(|settings| {
            settings.sync.crm_poll_interval = Some(POLL);
            settings.sync.crm_full_scan_interval = Duration::from_secs(1);
        }),
        ..TestConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    app.crm.set_find_supported(find_supported);
    app
}

async fn lost_webhooks_are_caught_by_the_crm_poller(backend: Backend) {
    let app = spawn_crm_polling_app(backend, true).await;
    settle(&app).await;
    app.crm.set_drop_webhooks(true);

    let id = app.crm.create_person(person(510, "گمشده")).await;
    wait_until(
        "the poller syncs the new person",
        Duration::from_secs(10),
        || async {
            app.link(&id)
                .await
                .is_some_and(|link| link.state == "linked")
        },
    )
    .await;
    app.crm
        .edit_person(&id, |record| {
            record.identity.email = Some("found@example.com".into())
        })
        .await;
    let code: i64 = app
        .link(&id)
        .await
        .unwrap()
        .siagh_code
        .unwrap()
        .parse()
        .unwrap();
    let siagh = &app.siagh;
    wait_until(
        "the poller syncs the edit",
        Duration::from_secs(10),
        || async {
            siagh.contact(code).unwrap().field("gn_web_users.email") == Some("found@example.com")
        },
    )
    .await;
    tokio::time::sleep(POLL * 5).await;
    app.wait_until_idle().await;

    assert_eq!(app.siagh.counters().contact_creates, 1);
    assert_eq!(
        app.siagh.counters().contact_updates,
        1,
        "the overlap re-reads nothing twice"
    );
    assert!(
        app.crm
            .webhook_log()
            .iter()
            .all(|delivery| delivery.status.is_none())
    );
    app.shutdown().await;
}

async fn full_scan_catches_changes_without_find(backend: Backend) {
    let app = spawn_crm_polling_app(backend, false).await;
    let id = app.crm.create_person(person(511, "پویش")).await;
    app.wait_until_idle().await;
    let code: i64 = app
        .link(&id)
        .await
        .unwrap()
        .siagh_code
        .unwrap()
        .parse()
        .unwrap();
    app.crm.set_drop_webhooks(true);

    app.crm
        .edit_person(&id, |record| {
            record.identity.email = Some("scanned@example.com".into())
        })
        .await;
    let siagh = &app.siagh;
    wait_until(
        "the full scan syncs the edit",
        Duration::from_secs(10),
        || async {
            siagh.contact(code).unwrap().field("gn_web_users.email") == Some("scanned@example.com")
        },
    )
    .await;

    let status = app.admin_get("/admin/status").await;
    assert_eq!(status["actors"]["crm_poller"]["poll"]["leader"], true);
    app.shutdown().await;
}

async fn party_type_change_goes_to_review(backend: Backend) {
    let app = spawn_polling_app(backend).await;
    let (id, code) = linked_person(&app, 520).await;

    app.siagh.edit_contact(code, |contact| {
        contact.set_field("gn_web_users.taraftype", "1");
    });
    let store = app.store.clone();
    wait_until(
        "the change is dead-lettered",
        Duration::from_secs(10),
        || {
            let store = store.clone();
            async move { store.queue_stats().await.unwrap().dead == 1 }
        },
    )
    .await;

    let dead = app.admin_get("/admin/dead-letters").await;
    let reason = dead["dead_letters"][0]["last_error"].as_str().unwrap();
    assert!(reason.contains("party type"), "{reason}");
    assert_eq!(app.crm.counters().person_creates, 0);
    assert_eq!(app.crm.counters().organization_creates, 0);
    assert!(
        app.crm.person(&id).is_some(),
        "the CRM person is left alone"
    );
    app.shutdown().await;
}

async fn siagh_create_waits_for_a_settling_crm_create(backend: Backend) {
    let config = TestConfig {
        engine: Box::new(|settings| {
            settings.sync.siagh_poll_interval = Some(POLL);
            // The job retries while the intent exists, so it must not run out of attempts on a
            // slow machine before the test removes the intent.
            settings.sync.max_attempts = 1_000;
        }),
        ..TestConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    settle(&app).await;
    // A CRM-side create whose Siagh response has not been stored yet.
    let intent = app
        .store
        .begin_create("customer", "crm-record-in-flight", "person", "attempt-1")
        .await
        .unwrap();

    app.siagh.edit_contact(8403, |contact| {
        contact.set_field("gn_web_users.tozihat", "ویرایش");
    });
    let store = app.store.clone();
    wait_until("the Siagh-side job waits", Duration::from_secs(10), || {
        let store = store.clone();
        async move {
            let filter = siagh_sync::store::LogFilter {
                record_id: Some("siagh:8403".into()),
                action: Some("retry_scheduled".into()),
                ..siagh_sync::store::LogFilter::default()
            };
            !store.log_entries(filter).await.unwrap().is_empty()
        }
    })
    .await;
    assert_eq!(
        app.crm.counters().person_creates,
        0,
        "nothing created while it settles"
    );

    app.store.discard_create(intent.id).await.unwrap();
    wait_until(
        "the contact is created in the CRM",
        Duration::from_secs(10),
        || {
            let store = store.clone();
            async move {
                let link = store.link_by_siagh_code("customer", "8403").await.unwrap();
                link.is_some_and(|link| link.state == "linked")
            }
        },
    )
    .await;

    assert_eq!(app.crm.counters().person_creates, 1);
    app.shutdown().await;
}

async fn crm_edit_keeps_an_inactive_contact_inactive(backend: Backend) {
    let app = spawn_polling_app(backend).await;
    let (id, code) = linked_person(&app, 530).await;
    app.siagh.edit_contact(code, |contact| {
        contact.set_field("gn_web_users.isactive", "0");
    });
    settle(&app).await;
    let crm_updates = app.crm.counters().person_updates;

    app.crm
        .edit_person(&id, |record| {
            record.identity.email = Some("inactive@example.com".into())
        })
        .await;
    settle(&app).await;

    let contact = app.siagh.contact(code).unwrap();
    assert_eq!(
        contact.field("gn_web_users.email"),
        Some("inactive@example.com")
    );
    assert_eq!(
        contact.field("gn_web_users.isactive"),
        Some("0"),
        "still inactive"
    );
    assert_eq!(
        app.crm.counters().person_updates,
        crm_updates,
        "nothing to write to the CRM"
    );
    app.shutdown().await;
}

async fn crm_create_waits_for_a_settling_siagh_create(backend: Backend) {
    let config = TestConfig {
        engine: Box::new(|settings| settings.sync.max_attempts = 1_000),
        ..TestConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    // A Siagh-side create whose CRM response has not been stored yet.
    let intent = app
        .store
        .begin_create_from_siagh("customer", "8403", "person", "attempt-1")
        .await
        .unwrap();

    let id = app.crm.create_person(person(540, "در راه")).await;
    let store = app.store.clone();
    let record = id.0.clone();
    wait_until("the CRM-side job waits", Duration::from_secs(10), || {
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
    assert_eq!(
        app.siagh.counters().contact_creates,
        0,
        "nothing created while it settles"
    );

    app.store
        .mark_uncertain(intent.id, "left for review")
        .await
        .unwrap();
    wait_until(
        "the person reaches Siagh",
        Duration::from_secs(10),
        || async {
            app.link(&id)
                .await
                .is_some_and(|link| link.state == "linked")
        },
    )
    .await;

    assert_eq!(app.siagh.counters().contact_creates, 1);
    app.shutdown().await;
}

async fn rejected_person_is_not_polled_again(backend: Backend) {
    let app = spawn_crm_polling_app(backend, true).await;
    settle(&app).await;
    let mut twin = person(520, "تکراری");
    twin.mobile = Some("09120000001".into());

    app.crm.create_person(twin).await;
    app.wait_until_idle().await;
    // The rejected person is the newest record, so every cycle reads it again.
    tokio::time::sleep(POLL * 10).await;
    app.wait_until_idle().await;

    assert_eq!(app.siagh.counters().rejected_saves, 1, "sent to Siagh once");
    assert_eq!(app.admin_get("/admin/status").await["dead_letters"], 1);
    app.shutdown().await;
}
