//! The Siagh client against the Siagh simulator over real HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures::future::join_all;
use secrecy::SecretString;

use super::*;
use crate::sim::siagh::{self as sim, DUPLICATE_MOBILE_MESSAGE, SiaghSim, SiaghSimConfig};

async fn start_sim(config: SiaghSimConfig) -> SiaghSim {
    sim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn config_for(sim: &SiaghSim) -> SiaghClientConfig {
    SiaghClientConfig {
        base_url: sim.base_url(),
        username: "کاربر نمونه".to_owned(),
        password_md5: SecretString::from(password_md5("sample-password")),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
    }
}

fn client_for(sim: &SiaghSim) -> SiaghClient {
    SiaghClient::new(config_for(sim)).unwrap()
}

fn form(name: &str, mobile: &str) -> ContactForm {
    ContactForm {
        full_name: name.to_owned(),
        is_active: true,
        mobile: mobile.to_owned(),
        email: "new.person@example.com".to_owned(),
        tmp_id: "404".to_owned(),
        ..ContactForm::default()
    }
}

#[actix_rt::test]
async fn login_is_lazy_and_cached() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);
    let logins_before = sim.counters().logins;

    let info = client.session_info().await.unwrap();
    let again = client.session_info().await.unwrap();

    assert_eq!(logins_before, 0);
    assert_eq!(info.fiscal_year, 1405);
    assert_eq!(info.system_date.as_deref(), Some("1405/09/04"));
    assert_eq!(info.user_code, Some(1));
    assert_eq!(info, again);
    assert_eq!(sim.counters().logins, 1);
    assert_eq!(client.login_count(), 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn get_all_returns_seeded_contacts() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);

    let contacts = client.get_all_contacts().await.unwrap();

    let codes: Vec<i64> = contacts.iter().map(|c| c.code.0).collect();
    assert_eq!(codes, vec![2, 8401, 8402, 8403]);
    assert_eq!(contacts[0].is_admin_user, Some(true));
    assert_eq!(contacts[2].toward_type, Some(true));
    assert_eq!(contacts[3].is_active, Some(false));
    assert_eq!(sim.counters().get_all_calls, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn created_contact_shows_in_get_all() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);
    let new = ContactForm {
        party_type: PartyType::Organization,
        address: "خیابان نمونه | واحد ۲\nطبقه ۳".to_owned(),
        ..form("شرکت تازه", "09121111111")
    };

    let code = client.create_contact(&new).await.unwrap();
    let contacts = client.get_all_contacts().await.unwrap();

    assert_eq!(code, SiaghCode(8404));
    let created = contacts.iter().find(|c| c.code == code).unwrap();
    assert_eq!(created.name.as_deref(), Some("شرکت تازه"));
    assert_eq!(created.mobile_no.as_deref(), Some("09121111111"));
    assert_eq!(
        created.address.as_deref(),
        Some("خیابان نمونه ¦ واحد ۲ طبقه ۳")
    );
    assert_eq!(created.toward_type, Some(true));
    assert_eq!(sim.contact(8404).unwrap().tmp_id(), Some("404"));
    assert_eq!(sim.counters().contact_creates, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn update_changes_contact_in_place() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);
    let code = client
        .create_contact(&form("نام اول", "09122222222"))
        .await
        .unwrap();

    let updated = client
        .update_contact(code, &form("نام دوم", "09122222222"))
        .await
        .unwrap();

    assert_eq!(updated, code);
    assert_eq!(sim.contact(code.0).unwrap().full_name(), "نام دوم");
    assert_eq!(sim.contacts().len(), 5);
    assert_eq!(sim.counters().contact_creates, 1);
    assert_eq!(sim.counters().contact_updates, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn duplicate_mobile_is_rejected_in_persian() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);

    let error = client
        .create_contact(&form("تکراری", "09120000001"))
        .await
        .unwrap_err();

    let Error::Rejected { messages } = &error else {
        panic!("expected Rejected, got {error:?}")
    };
    assert_eq!(messages, &vec![DUPLICATE_MOBILE_MESSAGE.to_owned()]);
    assert!(!error.is_retryable());
    assert!(!error.outcome_uncertain());
    assert_eq!(sim.counters().contact_creates, 0);
    assert_eq!(sim.counters().rejected_saves, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn expired_session_costs_exactly_one_login() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);
    client.get_all_contacts().await.unwrap();
    sim.expire_sessions();

    let reads = (0..25).map(|_| {
        let client = client.clone();
        async move { client.get_all_contacts().await.map(|_| ()) }
    });
    let writes = (0..25).map(|_| {
        let client = client.clone();
        async move {
            client
                .update_contact(SiaghCode(8401), &form("شخص نمونه", "09120000001"))
                .await
                .map(|_| ())
        }
    });
    let (reads, writes) = futures::join!(join_all(reads), join_all(writes));

    assert!(reads.iter().all(Result::is_ok), "{reads:?}");
    assert!(writes.iter().all(Result::is_ok), "{writes:?}");
    assert_eq!(sim.counters().logins, 2);
    assert_eq!(client.login_count(), 2);
    assert_eq!(sim.counters().contact_updates, 25);
    sim.stop().await;
}

#[actix_rt::test]
async fn wrong_password_is_login_rejected() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let config = SiaghClientConfig {
        password_md5: SecretString::from(password_md5("wrong-password")),
        ..config_for(&sim)
    };
    let client = SiaghClient::new(config).unwrap();

    let error = client.get_all_contacts().await.unwrap_err();

    let Error::LoginRejected { reason } = &error else {
        panic!("expected LoginRejected, got {error:?}")
    };
    assert!(reason.contains("Invalid username or password"));
    assert!(!error.is_retryable());
    assert_eq!(sim.counters().failed_logins, 1);
    assert_eq!(client.login_count(), 0);
    sim.stop().await;
}

#[actix_rt::test]
async fn concurrent_callers_share_one_rejected_login() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    sim.set_latency(Duration::from_millis(50));
    let config = SiaghClientConfig {
        password_md5: SecretString::from(password_md5("wrong-password")),
        ..config_for(&sim)
    };
    let client = SiaghClient::new(config).unwrap();

    let calls = (0..10).map(|_| {
        let client = client.clone();
        async move { client.get_all_contacts().await }
    });
    let results = join_all(calls).await;

    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(Error::LoginRejected { .. })))
    );
    assert_eq!(sim.counters().failed_logins, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn lower_case_digest_in_config_is_sent_upper_case() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let config = SiaghClientConfig {
        password_md5: SecretString::from(password_md5("sample-password").to_lowercase()),
        ..config_for(&sim)
    };
    let client = SiaghClient::new(config).unwrap();

    assert!(client.session_info().await.is_ok());
    sim.stop().await;
}

#[actix_rt::test]
async fn timeout_after_commit_is_uncertain_and_saved_once() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let config = SiaghClientConfig {
        request_timeout: Duration::from_millis(300),
        ..config_for(&sim)
    };
    let client = SiaghClient::new(config).unwrap();
    client.session_info().await.unwrap();
    sim.delay_responses_after_commit(1, Duration::from_millis(800));

    let error = client
        .create_contact(&form("کند", "09123333333"))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            Error::Timeout {
                request_sent: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.outcome_uncertain());
    assert!(error.is_retryable());
    let saved: Vec<_> = sim
        .contacts()
        .into_iter()
        .filter(|c| c.mobile() == "09123333333")
        .collect();
    assert_eq!(saved.len(), 1);
    assert_eq!(sim.counters().contact_creates, 1);
    sim.stop().await;
}

#[actix_rt::test]
async fn server_error_is_retryable() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);
    client.session_info().await.unwrap();
    sim.set_error_rate(1.0);

    let read = client.get_all_contacts().await.unwrap_err();
    let write = client
        .create_contact(&form("x", "09124444444"))
        .await
        .unwrap_err();

    assert!(
        matches!(read, Error::Server { status: 500, .. }),
        "{read:?}"
    );
    assert!(read.is_retryable());
    assert!(write.is_retryable());
    assert!(write.outcome_uncertain());
    assert_eq!(sim.counters().contact_creates, 0);
    sim.stop().await;
}

#[actix_rt::test]
async fn connect_failure_is_retryable_and_certain() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = SiaghClientConfig {
        base_url: url::Url::parse(&format!("http://{addr}/")).unwrap(),
        username: "کاربر نمونه".to_owned(),
        password_md5: SecretString::from(password_md5("sample-password")),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
    };
    let client = SiaghClient::new(config).unwrap();

    let error = client
        .create_contact(&form("x", "09125555555"))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert!(!error.outcome_uncertain());
}

#[actix_rt::test]
async fn client_debug_hides_digest() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);
    client.session_info().await.unwrap();

    let debug = format!("{client:?}");

    assert!(debug.contains("login_count: 1"));
    assert!(!debug.contains("63FE8E9E"));
    sim.stop().await;
}

#[actix_rt::test]
async fn legacy_insert_is_code_mismatch() {
    let sim = start_sim(SiaghSimConfig {
        legacy_update_bug: true,
        ..Default::default()
    })
    .await;
    let client = client_for(&sim);
    let (mut request, _) = form("شخص نمونه", "09127777777").save_request(Some(SiaghCode(8401)));
    request.ctrl_values = request.ctrl_values.replacen("Param1=8401|", "", 1);

    let response = client.save_form(&request).await.unwrap();
    let error = client::saved_contact_code(&response, Some(SiaghCode(8401))).unwrap_err();

    let Error::CodeMismatch {
        requested,
        returned,
    } = error
    else {
        panic!("expected CodeMismatch, got {error:?}")
    };
    assert_eq!(requested, SiaghCode(8401));
    assert_eq!(returned, SiaghCode(8404));
    assert_eq!(sim.counters().contact_creates, 1);
    assert_eq!(sim.counters().contact_updates, 0);
    sim.stop().await;
}

fn preinvoice_line(product: &str, quantity: &str, price: &str, row: u32) -> PreInvoiceLine {
    PreInvoiceLine {
        product_code: product.to_owned(),
        unit_name: "عدد".to_owned(),
        quantity: quantity.parse().unwrap(),
        unit_price: price.parse().unwrap(),
        discount: rust_decimal::Decimal::ZERO,
        line_number: row,
    }
}

fn preinvoice(customer: &str, lines: Vec<PreInvoiceLine>) -> PreInvoiceForm {
    PreInvoiceForm {
        sale_model: "5".to_owned(),
        sales_center: "5".to_owned(),
        customer_code: customer.to_owned(),
        description: "Sample quote from CRM".to_owned(),
        lines,
        ..PreInvoiceForm::default()
    }
}

#[actix_rt::test]
async fn preinvoice_gets_next_number() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);
    let mut second = preinvoice_line("P-2040", "2.5", "1000.50", 2);
    second.discount = "0.25".parse().unwrap();
    let form = preinvoice(
        "8401",
        vec![preinvoice_line("P-1001", "1.0000", "2500000", 1), second],
    );

    let first = client.create_preinvoice(&form).await.unwrap();
    let next = client.create_preinvoice(&form).await.unwrap();

    assert_eq!(first.document_number, 2501);
    assert_eq!(first.return_code, "15460");
    assert_eq!(first.return_params, "458650");
    assert_eq!(
        first.message,
        "پیش فاکتور فروش با موفقیت به شماره 2501 ثبت گردید"
    );
    assert_eq!(next.document_number, 2502);
    let stored = sim.preinvoices();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].customer_code, 8401);
    assert_eq!(stored[0].header_value("sl_sanad.salmali"), Some("1405"));
    assert_ne!(stored[0].suid, stored[1].suid);
    let lines = &stored[0].lines;
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].quantity.to_string(), "1");
    assert_eq!(lines[1].quantity.to_string(), "2.5");
    assert_eq!(lines[1].unit_price.to_string(), "1000.5");
    assert_eq!(lines[1].discount.to_string(), "0.25");
    assert_eq!(lines[1].final_quantity.to_string(), "2.5");
    assert_eq!(stored[0].net.normalize().to_string(), "2502501");
    assert_eq!(sim.counters().preinvoice_creates, 2);
    sim.stop().await;
}

#[actix_rt::test]
async fn preinvoice_unknown_customer_is_runtime_error() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);
    let form = preinvoice("9999", vec![preinvoice_line("P-1001", "1", "10", 1)]);

    let error = client.create_preinvoice(&form).await.unwrap_err();

    let Error::Rejected { messages } = &error else {
        panic!("expected Rejected, got {error:?}")
    };
    assert!(messages[0].starts_with("پیامهای سرویس : RUNTIME ERROR"));
    assert!(!error.outcome_uncertain());
    assert!(sim.preinvoices().is_empty());
    sim.stop().await;
}

#[actix_rt::test]
async fn preinvoice_zero_price_names_row_2() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);
    let form = preinvoice(
        "8401",
        vec![
            preinvoice_line("P-1001", "1", "10", 1),
            preinvoice_line("P-2040", "1", "0.00", 2),
        ],
    );

    let error = client.create_preinvoice(&form).await.unwrap_err();

    let Error::Rejected { messages } = &error else {
        panic!("expected Rejected, got {error:?}")
    };
    assert_eq!(messages, &vec!["قیمت ردیف 2 درست وارد نشده است".to_owned()]);
    assert!(!error.is_retryable());
    assert!(!error.outcome_uncertain());
    assert_eq!(sim.counters().preinvoice_creates, 0);
    sim.stop().await;
}

#[actix_rt::test]
async fn preinvoice_unknown_product_is_rejected() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = client_for(&sim);
    let form = preinvoice("8401", vec![preinvoice_line("NO-SUCH", "1", "10", 1)]);

    let error = client.create_preinvoice(&form).await.unwrap_err();

    let Error::Rejected { messages } = &error else {
        panic!("expected Rejected, got {error:?}")
    };
    assert_eq!(messages, &vec!["کالای ردیف 1 یافت نشد".to_owned()]);

    sim.add_product("NO-SUCH");
    let created = client.create_preinvoice(&form).await.unwrap();
    assert_eq!(created.document_number, 2501);
    sim.stop().await;
}

#[actix_rt::test]
async fn preinvoice_timeout_after_commit_is_uncertain() {
    let sim = start_sim(SiaghSimConfig::default()).await;
    let client = SiaghClient::new(SiaghClientConfig {
        request_timeout: Duration::from_millis(300),
        ..config_for(&sim)
    })
    .unwrap();
    client.session_info().await.unwrap();
    sim.delay_responses_after_commit(1, Duration::from_secs(1));
    let form = preinvoice("8401", vec![preinvoice_line("P-1001", "1", "10", 1)]);

    let error = client.create_preinvoice(&form).await.unwrap_err();

    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(error.outcome_uncertain());
    assert_eq!(sim.preinvoices().len(), 1);
    assert_eq!(sim.counters().preinvoice_creates, 1);
    sim.stop().await;
}
