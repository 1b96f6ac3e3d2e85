//! CRM persons and organizations reaching Siagh as contacts.

use std::time::Duration;

use siagh_sync::sim::crm::NewOrganization;
use siagh_sync::store::Backend;

use crate::helpers::{on_both_backends, person, spawn_app};

on_both_backends!(
    person_create_then_edit_updates_one_contact,
    organization_becomes_organization_contact,
    control_characters_never_inject_fields,
    duplicate_mobile_is_dead_lettered_without_blocking,
    unknown_subtype_is_resolved_by_the_crm,
    missing_record_is_dead_lettered,
);

async fn person_create_then_edit_updates_one_contact(backend: Backend) {
    let app = spawn_app(backend).await;

    let id = app.crm.create_person(person(1, "سارا")).await;
    app.wait_until_idle().await;

    let link = app.link(&id).await.expect("a link row for the person");
    assert_eq!(link.state, "linked");
    let code: i64 = link.siagh_code.as_deref().unwrap().parse().unwrap();
    let contact = app.siagh.contact(code).expect("the Siagh contact");
    let field = |key: &str| contact.fields.get(key).cloned().unwrap_or_default();
    assert_eq!(field("gn_web_users.fullname"), "سارا آزمون");
    assert_eq!(field("gn_web_users.mobileno"), "09350000001");
    assert_eq!(field("gn_web_users.telno"), "02144556677");
    assert_eq!(field("gn_web_users.email"), "person1@example.com");
    assert_eq!(field("gn_web_users.address"), "تهران، خیابان آزادی");
    assert_eq!(field("gn_web_users.pocode"), "1234567890");
    assert_eq!(field("gn_web_users.passno"), "0000000001");
    assert_eq!(field("gn_web_users.taraftype"), "0");
    assert_eq!(field("gn_web_users.tmpid"), "1001");
    assert_eq!(app.siagh.counters().contact_creates, 1);

    app.crm
        .edit_person(&id, |record| {
            record.identity.email = Some("sara.new@example.com".into());
        })
        .await;
    app.wait_until_idle().await;

    let counters = app.siagh.counters();
    assert_eq!(
        counters.contact_creates, 1,
        "an edit must not create a contact"
    );
    assert_eq!(counters.contact_updates, 1);
    let updated = app.siagh.contact(code).expect("the same contact");
    assert_eq!(
        updated.fields.get("gn_web_users.email").map(String::as_str),
        Some("sara.new@example.com")
    );
    assert_eq!(app.link(&id).await.unwrap().siagh_code, link.siagh_code);
    assert_eq!(
        app.actions_for(&id).await,
        ["received", "create", "received", "update"]
    );
    app.shutdown().await;
}

async fn organization_becomes_organization_contact(backend: Backend) {
    let app = spawn_app(backend).await;

    let id = app
        .crm
        .create_organization(NewOrganization {
            nick_name: "شرکت آزمون‌گستر".into(),
            national_code: Some("10100000077".into()),
            phone: Some("02177001100".into()),
            email: Some("office@azmoon.example".into()),
            customer_number: Some("100-3001".into()),
            ..NewOrganization::default()
        })
        .await;
    app.wait_until_idle().await;

    let link = app.link(&id).await.expect("a link row");
    assert_eq!(link.crm_kind.as_deref(), Some("organization"));
    let code: i64 = link.siagh_code.as_deref().unwrap().parse().unwrap();
    let contact = app.siagh.contact(code).unwrap();
    assert_eq!(
        contact
            .fields
            .get("gn_web_users.taraftype")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(
        contact
            .fields
            .get("gn_web_users.fullname")
            .map(String::as_str),
        Some("شرکت آزمون‌گستر")
    );
    app.shutdown().await;
}

async fn control_characters_never_inject_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut record = person(2, "رضا");
    record.nick_name = Some("رضا | gn_web_users.mobileno=09000000000".into());
    record.address = Some("خیابان اول\r\nکوچه دوم|واحد=۳".into());

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
    let contact = app.siagh.contact(code).unwrap();
    assert_eq!(
        contact
            .fields
            .get("gn_web_users.fullname")
            .map(String::as_str),
        Some("رضا ¦ gn_web_users.mobileno=09000000000")
    );
    assert_eq!(
        contact
            .fields
            .get("gn_web_users.mobileno")
            .map(String::as_str),
        Some("09350000002")
    );
    assert_eq!(
        contact
            .fields
            .get("gn_web_users.address")
            .map(String::as_str),
        Some("خیابان اول کوچه دوم¦واحد=۳")
    );
    let create = app
        .log_for(&id)
        .await
        .into_iter()
        .find(|entry| entry.action == "create")
        .expect("a create audit row");
    let sent = create
        .target_after
        .expect("the sent ctrlValues are audited");
    assert_eq!(
        sent.matches('|').count(),
        16,
        "17 pairs, 16 separators: {sent}"
    );
    assert!(sent.contains("gn_web_users.fullname=رضا ¦ gn_web_users.mobileno=09000000000|"));
    app.shutdown().await;
}

async fn duplicate_mobile_is_dead_lettered_without_blocking(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut clash = person(3, "تکراری");
    // The seeded Siagh contact 8401 already has this mobile number.
    clash.mobile = Some("09120000001".into());

    let rejected = app.crm.create_person(clash).await;
    let accepted = app.crm.create_person(person(4, "پذیرفته")).await;
    app.wait_until_idle().await;

    let status = app.admin_get("/admin/status").await;
    assert_eq!(status["dead_letters"], 1);
    let dead = app.admin_get("/admin/dead-letters").await;
    let job = &dead["dead_letters"][0];
    assert_eq!(job["record_id"], rejected.0.as_str());
    assert_eq!(job["attempts"], 0, "a rejection is not retried");
    let reason = job["last_error"].as_str().unwrap();
    assert!(
        reason.contains("شماره موبایل نمی تواند تکراری باشد."),
        "{reason}"
    );
    assert!(
        app.link(&rejected).await.is_none(),
        "no link for a rejected create"
    );
    assert_eq!(app.link(&accepted).await.unwrap().state, "linked");
    assert_eq!(app.siagh_codes_with_mobile("09120000001"), [8401]);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let actions = app.actions_for(&rejected).await;
    assert_eq!(actions, ["received", "dead_letter"]);
    app.shutdown().await;
}

async fn unknown_subtype_is_resolved_by_the_crm(backend: Backend) {
    let app = spawn_app(backend).await;
    app.crm.set_identity_webhook_url(None);
    let id = app
        .crm
        .create_organization(NewOrganization {
            nick_name: "شرکت بی‌نام".into(),
            mobile: Some("09350001234".into()),
            ..NewOrganization::default()
        })
        .await;
    let subtype: String = url::form_urlencoded::byte_serialize("مشتری ویژه".as_bytes()).collect();

    let query = format!("event=Insert&id={}&type=Identity&subtype={subtype}", id.0);
    assert_eq!(app.send_webhook("identity", &query).await.status(), 200);
    app.wait_until_idle().await;

    let link = app.link(&id).await.expect("a link row");
    assert_eq!(link.crm_kind.as_deref(), Some("organization"));
    assert_eq!(
        app.store.crm_kind(&id.0).await.unwrap().as_deref(),
        Some("organization"),
        "the kind is remembered for the id"
    );
    let code: i64 = link.siagh_code.unwrap().parse().unwrap();
    assert_eq!(
        app.siagh
            .contact(code)
            .unwrap()
            .fields
            .get("gn_web_users.taraftype")
            .map(String::as_str),
        Some("1")
    );
    app.shutdown().await;
}

async fn missing_record_is_dead_lettered(backend: Backend) {
    let app = spawn_app(backend).await;
    let query = "event=Update&id=00000000-0000-4000-8000-00000000dead&type=Identity&subtype=x";

    assert_eq!(app.send_webhook("identity", query).await.status(), 200);
    app.wait_until_idle().await;

    let dead = app.admin_get("/admin/dead-letters").await;
    let reason = dead["dead_letters"][0]["last_error"].as_str().unwrap();
    assert!(
        reason.contains("neither as a person nor as an organization"),
        "{reason}"
    );
    assert_eq!(app.siagh.counters().contact_creates, 0);
    app.shutdown().await;
}
