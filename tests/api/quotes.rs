//! CRM quotes exported once as Siagh pre-invoices.

use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use siagh_sync::crm::CrmId;
use siagh_sync::sim::crm::{NewOrganization, NewQuote, NewQuoteLine};
use siagh_sync::sim::siagh::SiaghSimConfig;
use siagh_sync::store::{Backend, LogFilter};

use crate::helpers::{
    TestApp, TestConfig, on_both_backends, spawn_app, spawn_app_with, wait_until,
};

on_both_backends!(
    quote_becomes_one_preinvoice,
    quote_for_new_customer_syncs_customer_first,
    repeated_and_edited_deliveries_make_one_preinvoice,
    lost_answer_goes_to_review_without_resending,
    rejected_line_is_dead_lettered_with_its_row,
    quote_edited_after_export_is_a_conflict,
    fiscal_year_follows_tehran_nowruz,
    distant_fiscal_year_goes_to_review,
    poller_catches_lost_quote_webhooks,
    seen_quote_types_are_polled,
    missing_quote_find_keeps_webhooks,
    rejected_quote_is_not_polled_again,
    failed_customer_sends_quote_to_review,
    quote_waits_for_a_held_customer_job,
);

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn line(product_code: &str, count: &str, price: &str, discount: &str) -> NewQuoteLine {
    NewQuoteLine {
        product_code: product_code.into(),
        product_name: "کالا".into(),
        unit_name: "عدد".into(),
        count: decimal(count),
        unit_price: decimal(price),
        discount: decimal(discount),
    }
}

fn quote_for(customer: &CrmId, lines: Vec<NewQuoteLine>) -> NewQuote {
    NewQuote {
        identity_id: customer.clone(),
        type_code: "PI_5".into(),
        subject: "پیش فاکتور آزمون".into(),
        description: String::new(),
        quote_date: None,
        lines,
    }
}

/// Creates an organization in the CRM as a user would, which fires its webhook.
async fn new_organization(app: &TestApp, name: &str, mobile: &str) -> CrmId {
    app.crm
        .create_organization(NewOrganization {
            nick_name: name.into(),
            mobile: Some(mobile.into()),
            ..NewOrganization::default()
        })
        .await
}

async fn linked_organization(app: &TestApp, name: &str, mobile: &str) -> (CrmId, String) {
    let id = new_organization(app, name, mobile).await;
    app.wait_until_idle().await;
    let code = app.link(&id).await.unwrap().siagh_code.unwrap();
    (id, code)
}

async fn quote_link(app: &TestApp, id: &CrmId) -> Option<siagh_sync::store::Link> {
    app.store.link_by_crm_id("quote", &id.0).await.unwrap()
}

async fn quote_becomes_one_preinvoice(backend: Backend) {
    let app = spawn_app(backend).await;
    let (customer, code) = linked_organization(&app, "شرکت پیش‌فاکتور", "09360000001").await;

    let quote = app
        .crm
        .create_quote(quote_for(
            &customer,
            vec![
                line("P-1001", "2", "1400000", "0"),
                line("P-2040", "3.5", "200000", "70000"),
            ],
        ))
        .await;
    app.wait_until_idle().await;

    let preinvoices = app.siagh.preinvoices();
    assert_eq!(preinvoices.len(), 1);
    let preinvoice = &preinvoices[0];
    assert_eq!(
        preinvoice.header_value("sl_sanad.codemoshtari"),
        Some(code.as_str())
    );
    assert_eq!(preinvoice.header_value("sl_sanad.codesalemodel"), Some("5"));
    assert_eq!(preinvoice.header_value("sl_sanad.salmali"), Some("1405"));
    assert_eq!(preinvoice.lines.len(), 2);
    assert_eq!(preinvoice.lines[1].product_code, "P-2040");
    assert_eq!(preinvoice.lines[1].quantity, decimal("3.5"));
    assert_eq!(preinvoice.lines[1].discount, decimal("70000"));
    let link = quote_link(&app, &quote).await.unwrap();
    assert_eq!(link.siagh_code, Some(preinvoice.number.to_string()));
    app.shutdown().await;
}

async fn quote_for_new_customer_syncs_customer_first(backend: Backend) {
    let app = spawn_app(backend).await;
    app.crm.set_identity_webhook_url(None);
    let customer = new_organization(&app, "مشتری تازه", "09360000002").await;

    app.crm
        .create_quote(quote_for(
            &customer,
            vec![line("P-1001", "1", "500000", "0")],
        ))
        .await;
    crate::helpers::wait_until(
        "the pre-invoice exists",
        Duration::from_secs(20),
        || async { !app.siagh.preinvoices().is_empty() },
    )
    .await;
    app.wait_until_idle().await;

    assert_eq!(app.siagh.counters().contact_creates, 1);
    assert_eq!(app.siagh.preinvoices().len(), 1);
    let code = app.link(&customer).await.unwrap().siagh_code.unwrap();
    assert_eq!(
        app.siagh.preinvoices()[0].header_value("sl_sanad.codemoshtari"),
        Some(code.as_str())
    );
    app.shutdown().await;
}

async fn repeated_and_edited_deliveries_make_one_preinvoice(backend: Backend) {
    let app = spawn_app(backend).await;
    let (customer, _) = linked_organization(&app, "شرکت تکرار", "09360000003").await;
    app.admin_post("/admin/pause", None).await;
    app.crm.set_duplicate_deliveries(2);

    let quote = app
        .crm
        .create_quote(quote_for(
            &customer,
            vec![line("P-1001", "1", "100000", "0")],
        ))
        .await;
    app.crm
        .edit_quote(&quote, |record| {
            record.details[0].count = decimal("4");
        })
        .await;
    app.admin_post("/admin/resume", None).await;
    app.wait_until_idle().await;

    let preinvoices = app.siagh.preinvoices();
    assert_eq!(preinvoices.len(), 1);
    assert_eq!(
        preinvoices[0].lines[0].quantity,
        decimal("4"),
        "the latest state wins"
    );
    app.shutdown().await;
}

async fn lost_answer_goes_to_review_without_resending(backend: Backend) {
    let config = TestConfig {
        engine: Box::new(|settings| {
            settings.siagh.request_timeout = Duration::from_millis(700);
        }),
        ..TestConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    let (customer, _) = linked_organization(&app, "شرکت مهلت", "09360000004").await;
    app.siagh
        .delay_responses_after_commit(1, Duration::from_secs(2));

    app.crm
        .create_quote(quote_for(
            &customer,
            vec![line("P-1001", "1", "100000", "0")],
        ))
        .await;
    app.wait_until_idle().await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(app.siagh.preinvoices().len(), 1, "sent once");
    let dead = app.admin_get("/admin/dead-letters").await;
    let reason = dead["dead_letters"][0]["last_error"].as_str().unwrap();
    assert!(reason.contains("outcome unknown"), "{reason}");
    assert_eq!(app.admin_get("/admin/status").await["dead_letters"], 1);
    app.shutdown().await;
}

async fn rejected_line_is_dead_lettered_with_its_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let (customer, _) = linked_organization(&app, "شرکت قیمت", "09360000005").await;

    let bad = app
        .crm
        .create_quote(quote_for(
            &customer,
            vec![
                line("P-1001", "1", "100000", "0"),
                line("NO-SUCH-PRODUCT", "1", "100", "0"),
            ],
        ))
        .await;
    app.crm
        .create_quote(quote_for(
            &customer,
            vec![line("P-2040", "2", "50000", "0")],
        ))
        .await;
    app.wait_until_idle().await;

    assert_eq!(app.siagh.preinvoices().len(), 1, "the other quote flows");
    let dead = app.admin_get("/admin/dead-letters").await;
    let job = &dead["dead_letters"][0];
    assert_eq!(job["record_id"], bad.0.as_str());
    let reason = job["last_error"].as_str().unwrap();
    assert!(reason.contains("ردیف 2"), "names the row: {reason}");

    app.crm
        .edit_quote(&bad, |record| {
            record.details[1].product_code = "P-3000".into();
        })
        .await;
    app.wait_until_idle().await;

    assert_eq!(
        app.siagh.preinvoices().len(),
        2,
        "the corrected quote flows"
    );
    let status = app.admin_get("/admin/status").await;
    assert_eq!(
        status["dead_letters"], 0,
        "the export settles its dead letter"
    );
    app.shutdown().await;
}

async fn quote_edited_after_export_is_a_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    let (customer, _) = linked_organization(&app, "شرکت ویرایش", "09360000006").await;
    let quote = app
        .crm
        .create_quote(quote_for(
            &customer,
            vec![line("P-1001", "1", "100000", "0")],
        ))
        .await;
    app.wait_until_idle().await;

    app.crm
        .edit_quote(&quote, |record| {
            record.details[0].count = decimal("9");
        })
        .await;
    app.wait_until_idle().await;

    assert_eq!(app.siagh.preinvoices().len(), 1, "no second pre-invoice");
    let conflicts = app.admin_get("/admin/conflicts").await;
    let conflict = &conflicts["conflicts"][0];
    assert_eq!(conflict["field"], "quote changed after export");
    assert!(conflict["base_value"].as_str().unwrap().contains("\"1\""));
    assert!(conflict["crm_value"].as_str().unwrap().contains("\"9\""));

    app.crm
        .edit_quote(&quote, |record| {
            record.details[0].count = decimal("1");
        })
        .await;
    app.wait_until_idle().await;

    let conflicts = app.admin_get("/admin/conflicts").await;
    assert_eq!(
        conflicts["conflicts"].as_array().unwrap().len(),
        1,
        "an edit back to the exported quote is no conflict"
    );
    assert_eq!(app.siagh.preinvoices().len(), 1);
    app.shutdown().await;
}

fn local(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").unwrap()
}

async fn spawn_with_fiscal_year(backend: Backend, fiscal_year: i32) -> TestApp {
    let config = TestConfig {
        siagh: SiaghSimConfig {
            fiscal_year,
            ..SiaghSimConfig::default()
        },
        ..TestConfig::default()
    };
    spawn_app_with(backend, config).await
}

/// Exports a one-line quote dated `quote_date` (CRM local time, Tehran) and returns the
/// pre-invoice's `salmali` and the audit's fiscal-year notes for the quote.
async fn export_dated(app: &TestApp, customer: &CrmId, quote_date: &str) -> (String, Vec<String>) {
    let before = app.siagh.preinvoices().len();
    let mut new = quote_for(customer, vec![line("P-1001", "1", "100000", "0")]);
    new.quote_date = Some(local(quote_date));
    let quote = app.crm.create_quote(new).await;
    app.wait_until_idle().await;

    let preinvoices = app.siagh.preinvoices();
    assert_eq!(
        preinvoices.len(),
        before + 1,
        "one pre-invoice for {quote_date}"
    );
    let year = preinvoices[before]
        .header_value("sl_sanad.salmali")
        .unwrap()
        .to_owned();
    let notes = app
        .store
        .log_entries(LogFilter {
            entity: Some("quote".into()),
            record_id: Some(quote.0.clone()),
            action: Some("fiscal_year_mismatch".into()),
            ..LogFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter_map(|entry| entry.error)
        .collect();
    (year, notes)
}

async fn fiscal_year_follows_tehran_nowruz(backend: Backend) {
    // Siagh's open fiscal year, then quote dates in Tehran time with the Jalali year recorded
    // as a mismatch, if any. 1404 began on 2025-03-21 (1 Farvardin), and 2025-03-21T01:30
    // in Tehran is 2025-03-20 22:00 UTC.
    let cases = [
        (
            1404,
            [
                ("2025-03-21T10:00:00", None),
                ("2025-03-20T10:00:00", Some("1403")),
            ],
        ),
        (
            1403,
            [
                ("2025-03-20T23:59:00", None),
                ("2025-03-21T01:30:00", Some("1404")),
            ],
        ),
    ];

    for (open_year, quotes) in cases {
        let app = spawn_with_fiscal_year(backend, open_year).await;
        let mobile = format!("0936000{open_year}");
        let (customer, _) = linked_organization(&app, "شرکت نوروز", &mobile).await;
        for (quote_date, quote_year) in quotes {
            let (year, notes) = export_dated(&app, &customer, quote_date).await;

            assert_eq!(
                year,
                open_year.to_string(),
                "{quote_date} booked into the open year"
            );
            match quote_year {
                None => assert!(notes.is_empty(), "{quote_date}: {notes:?}"),
                Some(quote_year) => {
                    assert_eq!(notes.len(), 1, "{quote_date} is recorded as a mismatch");
                    assert!(notes[0].contains(quote_year), "{quote_date}: {}", notes[0]);
                }
            }
        }
        app.shutdown().await;
    }
}

async fn distant_fiscal_year_goes_to_review(backend: Backend) {
    let app = spawn_with_fiscal_year(backend, 1404).await;
    let (customer, _) = linked_organization(&app, "شرکت سال دور", "09360000009").await;
    let mut new = quote_for(&customer, vec![line("P-1001", "1", "100000", "0")]);
    new.quote_date = Some(local("2023-06-01T10:00:00"));

    let quote = app.crm.create_quote(new).await;
    app.wait_until_idle().await;

    assert!(app.siagh.preinvoices().is_empty(), "nothing booked");
    let dead = app.admin_get("/admin/dead-letters").await;
    let job = &dead["dead_letters"][0];
    assert_eq!(job["record_id"], quote.0.as_str());
    let reason = job["last_error"].as_str().unwrap();
    assert!(
        reason.contains("1402") && reason.contains("1404"),
        "{reason}"
    );
    app.shutdown().await;
}

const POLL: Duration = Duration::from_millis(300);

async fn spawn_quote_polling_app(backend: Backend, type_codes: &[&str]) -> TestApp {
    let type_codes: Vec<String> = type_codes.iter().map(|code| (*code).to_owned()).collect();
    let config = TestConfig {
        engine: Box::new(move |settings| {
            settings.sync.crm_poll_interval = Some(POLL);
            settings.sync.crm_full_scan_interval = Duration::from_secs(3600);
            settings.sync.crm_quote_type_codes = type_codes;
        }),
        ..TestConfig::default()
    };
    spawn_app_with(backend, config).await
}

async fn wait_for_quote_cursor(app: &TestApp, type_code: &str) {
    let name = format!("crm_quote_modify_date:{type_code}");
    wait_until(
        "the quote poll cursor starts",
        Duration::from_secs(10),
        || async { app.store.poll_cursor(&name).await.unwrap().is_some() },
    )
    .await;
}

async fn wait_for_preinvoices(app: &TestApp, count: usize) {
    wait_until(
        &format!("{count} pre-invoices"),
        Duration::from_secs(10),
        || async { app.siagh.preinvoices().len() >= count },
    )
    .await;
}

async fn poller_catches_lost_quote_webhooks(backend: Backend) {
    let app = spawn_quote_polling_app(backend, &["PI_5"]).await;
    let (customer, code) = linked_organization(&app, "شرکت وب‌هوک گمشده", "09360000010").await;
    wait_for_quote_cursor(&app, "PI_5").await;
    app.crm.set_quote_webhook_url(None);

    let quote = app
        .crm
        .create_quote(quote_for(
            &customer,
            vec![line("P-1001", "1", "100000", "0")],
        ))
        .await;
    wait_for_preinvoices(&app, 1).await;
    let preinvoice = &app.siagh.preinvoices()[0];
    assert_eq!(
        preinvoice.header_value("sl_sanad.codemoshtari"),
        Some(code.as_str())
    );
    wait_until("the export is linked", Duration::from_secs(10), || async {
        quote_link(&app, &quote)
            .await
            .is_some_and(|link| link.state == "linked")
    })
    .await;

    app.crm
        .edit_quote(&quote, |record| {
            record.details[0].count = decimal("9");
        })
        .await;
    wait_until(
        "the edit becomes a conflict",
        Duration::from_secs(10),
        || async {
            app.admin_get("/admin/conflicts").await["conflicts"]
                .as_array()
                .is_some_and(|conflicts| !conflicts.is_empty())
        },
    )
    .await;
    // Several more cycles read the same quotes again through the cursor's overlap.
    tokio::time::sleep(POLL * 4).await;
    app.wait_until_idle().await;

    assert_eq!(app.siagh.preinvoices().len(), 1, "no second pre-invoice");
    let conflicts = app.admin_get("/admin/conflicts").await;
    assert_eq!(conflicts["conflicts"].as_array().unwrap().len(), 1);
    assert_eq!(conflicts["conflicts"][0]["crm_id"], quote.0.as_str());
    app.shutdown().await;
}

async fn seen_quote_types_are_polled(backend: Backend) {
    let app = spawn_quote_polling_app(backend, &[]).await;
    let (customer, _) = linked_organization(&app, "شرکت نوع تازه", "09360000011").await;
    let mut first = quote_for(&customer, vec![line("P-1001", "1", "100000", "0")]);
    first.type_code = "PI_7".into();
    app.crm.create_quote(first.clone()).await;
    app.wait_until_idle().await;
    assert_eq!(app.siagh.preinvoices().len(), 1, "exported by webhook");
    wait_for_quote_cursor(&app, "PI_7").await;
    let start = app.store.poll_cursor("crm_quote_poll_start:PI_7").await;
    assert!(
        start.unwrap().is_some(),
        "the start stays put while the cursor moves"
    );

    app.crm.set_quote_webhook_url(None);
    app.crm.create_quote(first).await;
    wait_for_preinvoices(&app, 2).await;

    let second = &app.siagh.preinvoices()[1];
    assert_eq!(second.header_value("sl_sanad.codesalemodel"), Some("7"));

    app.crm
        .set_quote_webhook_url(Some(url::Url::parse(&app.webhook_url("quote")).unwrap()));
    let mut odd = quote_for(&customer, vec![line("P-1001", "1", "100000", "0")]);
    odd.type_code = "Odd".into();
    app.crm.create_quote(odd).await;
    app.wait_until_idle().await;
    let odd_cursor = app.store.poll_cursor("crm_quote_modify_date:Odd").await;
    assert_eq!(
        odd_cursor.unwrap(),
        None,
        "a type with no sale model is not polled"
    );
    app.shutdown().await;
}

async fn missing_quote_find_keeps_webhooks(backend: Backend) {
    let app = spawn_quote_polling_app(backend, &["PI_5"]).await;
    app.crm.set_quote_find_supported(false);
    let (customer, _) = linked_organization(&app, "شرکت بدون جستجو", "09360000012").await;

    wait_until(
        "the status names the limit",
        Duration::from_secs(10),
        || async {
            let status = app.admin_get("/admin/status").await;
            status["actors"]["crm_poller"]["poll"]["limitations"]
                .as_array()
                .is_some_and(|limits| {
                    limits
                        .iter()
                        .any(|limit| limit.as_str().unwrap().contains("quote/sales/find"))
                })
        },
    )
    .await;
    app.crm
        .create_quote(quote_for(
            &customer,
            vec![line("P-1001", "1", "100000", "0")],
        ))
        .await;
    wait_for_preinvoices(&app, 1).await;

    let status = app.admin_get("/admin/status").await;
    let poll = &status["actors"]["crm_poller"]["poll"];
    assert!(poll["last_error"].is_null(), "polling goes on: {poll}");
    let limitations = poll["limitations"].as_array().unwrap();
    assert_eq!(limitations.len(), 1, "{poll}");
    assert!(
        limitations[0].as_str().unwrap().contains("PI_5 (HTTP 404)"),
        "{poll}"
    );
    app.shutdown().await;
}

async fn rejected_quote_is_not_polled_again(backend: Backend) {
    let app = spawn_quote_polling_app(backend, &["PI_5"]).await;
    let (customer, _) = linked_organization(&app, "شرکت کالای ناشناس", "09360000013").await;
    wait_for_quote_cursor(&app, "PI_5").await;

    app.crm
        .create_quote(quote_for(&customer, vec![line("NOPE", "1", "100000", "0")]))
        .await;
    app.wait_until_idle().await;
    // The rejected quote is the newest record, so every cycle reads it again.
    tokio::time::sleep(POLL * 5).await;
    app.wait_until_idle().await;

    assert_eq!(app.siagh.counters().rejected_saves, 1, "sent to Siagh once");
    assert_eq!(app.admin_get("/admin/status").await["dead_letters"], 1);
    app.shutdown().await;
}

async fn failed_customer_sends_quote_to_review(backend: Backend) {
    let app = spawn_app(backend).await;
    linked_organization(&app, "شرکت اول", "09360000014").await;
    let twin = new_organization(&app, "شرکت دوم", "09360000014").await;
    app.crm.set_identity_webhook_url(None);

    let quote = app
        .crm
        .create_quote(quote_for(&twin, vec![line("P-1001", "1", "100000", "0")]))
        .await;
    app.wait_until_idle().await;

    assert!(app.siagh.preinvoices().is_empty());
    let dead = app.admin_get("/admin/dead-letters").await;
    let dead = dead["dead_letters"].as_array().unwrap();
    assert_eq!(
        dead.len(),
        2,
        "one for the customer, one for the quote: {dead:?}"
    );
    let quote_job = dead
        .iter()
        .find(|job| job["record_id"] == quote.0.as_str())
        .unwrap();
    let reason = quote_job["last_error"].as_str().unwrap();
    assert!(reason.contains(twin.0.as_str()), "{reason}");
    assert!(
        reason.contains("تکراری"),
        "carries Siagh's message: {reason}"
    );
    assert_eq!(app.siagh.counters().rejected_saves, 1);
    app.shutdown().await;
}

async fn quote_waits_for_a_held_customer_job(backend: Backend) {
    let config = TestConfig {
        engine: Box::new(|settings| settings.sync.max_attempts = 2),
        ..TestConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    app.admin_post(
        "/admin/pause",
        Some(serde_json::json!({"entity": "customer"})),
    )
    .await;
    let customer = new_organization(&app, "شرکت منتظر", "09360000015").await;

    app.crm
        .create_quote(quote_for(
            &customer,
            vec![line("P-1001", "1", "100000", "0")],
        ))
        .await;
    // Far longer than two counted attempts would last.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app.admin_get("/admin/status").await["dead_letters"], 0);
    app.admin_post("/admin/resume", None).await;
    wait_for_preinvoices(&app, 1).await;

    let preinvoice = &app.siagh.preinvoices()[0];
    let code = app.link(&customer).await.unwrap().siagh_code.unwrap();
    assert_eq!(
        preinvoice.header_value("sl_sanad.codemoshtari"),
        Some(code.as_str())
    );
    app.shutdown().await;
}
