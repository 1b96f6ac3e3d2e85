//! `siagh-sync import`: linking, creating once, resuming after an interruption.

use std::collections::BTreeMap;
use std::time::Duration;

use siagh_sync::import::{ImportOptions, run};
use siagh_sync::sim::crm::NewPerson;
use siagh_sync::store::Backend;

use crate::helpers::{TestApp, on_both_backends, spawn_app, wait_until};

on_both_backends!(
    import_creates_each_contact_once_across_interruptions,
    dry_run_writes_nothing,
    ambiguous_match_goes_to_review,
    linked_records_converge_by_policy,
);

/// Contacts the Siagh simulator is seeded with, besides its admin user.
const SEEDED: usize = 3;

fn options() -> ImportOptions {
    ImportOptions {
        dry_run: false,
        concurrency: 8,
        rate_per_second: 10_000,
    }
}

fn add_contacts(app: &TestApp, count: u32) {
    for n in 0..count {
        let fields: BTreeMap<String, String> = [
            ("gn_web_users.fullname", format!("مخاطب شماره {n}")),
            ("gn_web_users.mobileno", format!("0936{n:07}")),
            ("gn_web_users.isactive", "1".to_owned()),
            ("gn_web_users.taraftype", "0".to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
        app.siagh.add_contact(fields);
    }
}

fn crm_creates(app: &TestApp) -> u64 {
    let counters = app.crm.counters();
    counters.person_creates + counters.organization_creates
}

async fn import_creates_each_contact_once_across_interruptions(backend: Backend) {
    let app = spawn_app(backend).await;
    add_contacts(&app, 2_000);
    // The seeded person 8401 shares its mobile with the CRM's seeded person but not its
    // national code: listed for review, neither linked nor created.
    let expected_creates = 2_000 + SEEDED as u64 - 1;

    let settings = app.settings().clone();
    let interrupted = actix_rt::spawn(async move { run(settings, options()).await });
    let crm = &app.crm;
    wait_until(
        "the import is half done",
        Duration::from_secs(120),
        || async { crm.counters().person_creates >= 1_000 },
    )
    .await;
    interrupted.abort();
    let _ = interrupted.await;
    let resumed = run(app.settings().clone(), options()).await.unwrap();
    // A create that failed transiently waits for a retry, which the server runs.
    app.wait_until_idle().await;
    let again = run(app.settings().clone(), options()).await.unwrap();

    assert_eq!(
        crm_creates(&app),
        expected_creates,
        "each contact created exactly once"
    );
    assert!(
        resumed.failed.len() <= 10,
        "transient failures only: {:?}",
        resumed.failed
    );
    assert!(again.created.is_empty(), "a rerun creates nothing");
    assert_eq!(
        again.skipped.len(),
        2_000 + SEEDED,
        "already linked, and the admin user"
    );
    let review: Vec<&str> = again.review.iter().map(|(code, _)| code.as_str()).collect();
    assert_eq!(review, ["8401"]);
    let links = app.store.links("customer", 10_000).await.unwrap();
    assert_eq!(links.len(), 2_000 + SEEDED - 1);
    assert!(links.iter().all(|link| link.state == "linked"));
    app.shutdown().await;
}

async fn dry_run_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    add_contacts(&app, 5);

    let plan = run(
        app.settings().clone(),
        ImportOptions {
            dry_run: true,
            ..options()
        },
    )
    .await
    .unwrap();

    assert_eq!(plan.created.len(), 5 + SEEDED - 1);
    assert_eq!(
        plan.review.len(),
        1,
        "8401 contradicts the CRM person it shares a mobile with"
    );
    assert!(plan.linked.is_empty());
    assert_eq!(crm_creates(&app), 0);
    assert!(app.store.links("customer", 100).await.unwrap().is_empty());
    app.shutdown().await;
}

async fn ambiguous_match_goes_to_review(backend: Backend) {
    let app = spawn_app(backend).await;
    app.crm.set_identity_webhook_url(None);
    for name in ["اول", "دوم"] {
        app.crm
            .create_person(NewPerson {
                first_name: name.into(),
                last_name: "همنام".into(),
                mobile: Some("09120000003".into()),
                ..NewPerson::default()
            })
            .await;
    }

    let summary = run(app.settings().clone(), options()).await.unwrap();

    let ambiguous = summary
        .review
        .iter()
        .find(|(code, _)| code == "8403")
        .expect("the inactive contact's mobile matches two CRM persons");
    assert!(ambiguous.1.contains("mobile"), "{}", ambiguous.1);
    assert!(
        app.store
            .link_by_siagh_code("customer", "8403")
            .await
            .unwrap()
            .is_none(),
        "nothing is guessed"
    );
    app.shutdown().await;
}

async fn linked_records_converge_by_policy(backend: Backend) {
    let app = spawn_app(backend).await;
    app.crm.set_identity_webhook_url(None);
    let crm_id = app
        .crm
        .create_person(NewPerson {
            first_name: "نرگس".into(),
            last_name: "پیوندی".into(),
            nick_name: Some("نرگس پیوندی".into()),
            national_code: Some("5555555555".into()),
            mobile: Some("09125555555".into()),
            email: Some("crm@example.com".into()),
            ..NewPerson::default()
        })
        .await;
    let fields: BTreeMap<String, String> = [
        ("gn_web_users.fullname", "نرگس پیوندی"),
        ("gn_web_users.passno", "5555555555"),
        ("gn_web_users.mobileno", "09125555555"),
        ("gn_web_users.email", "siagh@example.com"),
        ("gn_web_users.address", "نشانی سیاق"),
        ("gn_web_users.isactive", "1"),
        ("gn_web_users.taraftype", "0"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    let code = app.siagh.add_contact(fields);

    let summary = run(app.settings().clone(), options()).await.unwrap();

    assert!(
        summary
            .linked
            .contains(&(code.to_string(), crm_id.0.clone()))
    );
    let contact = app.siagh.contact(code).unwrap();
    assert_eq!(
        contact.field("gn_web_users.email"),
        Some("crm@example.com"),
        "the CRM wins"
    );
    let person = app.crm.person(&crm_id).unwrap();
    let address = person
        .identity
        .address_contacts
        .first()
        .and_then(|a| a.address.clone());
    assert_eq!(
        address.as_deref(),
        Some("نشانی سیاق"),
        "a Siagh-only field flows"
    );
    let conflicts = app.admin_get("/admin/conflicts").await;
    let fields: Vec<&str> = conflicts["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|conflict| conflict["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email"]);
    app.shutdown().await;
}
