//! `siagh-sync demo` and `siagh-sync sim`: the engine against both simulators on one machine.
//!
//! The demo runs the real server on a throw-away SQLite file with in-process dedup, drives the
//! CRM simulator's edit API the way a CRM user would, and prints what reached Siagh.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::SecretString;
use url::Url;

use crate::config::{CrmSettings, Settings, SiaghSettings, SyncSettings, WebhookSettings};
use crate::crm::CrmId;
use crate::sim::crm::{CrmSim, CrmSimConfig, NewOrganization, NewPerson, NewQuote, NewQuoteLine};
use crate::sim::siagh::{SiaghSim, SiaghSimConfig};
use crate::startup::Application;
use crate::store::{LogFilter, Store};

/// How long the demo waits for its edits to reach Siagh.
const DEMO_SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of `siagh-sync sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Port of the CRM simulator on 127.0.0.1.
    #[arg(long, default_value_t = 8081)]
    pub crm_port: u16,
    /// Port of the Siagh simulator on 127.0.0.1.
    #[arg(long, default_value_t = 8082)]
    pub siagh_port: u16,
    /// URL the CRM simulator calls on identity changes, e.g.
    /// http://127.0.0.1:3000/webhook/crm/<secret>/identity
    #[arg(long)]
    pub identity_webhook_url: Option<Url>,
    /// URL the CRM simulator calls on quote changes, e.g.
    /// http://127.0.0.1:3000/webhook/crm/<secret>/quote
    #[arg(long)]
    pub quote_webhook_url: Option<Url>,
}

/// Runs both simulators until Ctrl-C.
#[expect(
    clippy::print_stdout,
    reason = "the addresses are the command's output"
)]
pub async fn run_simulators(args: SimArgs) -> anyhow::Result<()> {
    let crm_config = CrmSimConfig {
        identity_webhook_url: args.identity_webhook_url.clone(),
        quote_webhook_url: args.quote_webhook_url.clone(),
        ..CrmSimConfig::default()
    };
    let siagh_config = SiaghSimConfig::default();
    println!(
        "CRM simulator on port {}, Siagh simulator on port {}.",
        args.crm_port, args.siagh_port
    );
    println!("Settings for `siagh-sync serve`, ready to paste into .env:");
    println!("CRM_BASE_URL=http://127.0.0.1:{}/", args.crm_port);
    println!("CRM_USERNAME=\"{}\"", crm_config.username);
    println!("CRM_PASSWORD=\"{}\"", crm_config.password);
    println!("SIAGH_BASE_URL=http://127.0.0.1:{}/", args.siagh_port);
    println!("SIAGH_USERNAME=\"{}\"", siagh_config.username);
    println!("SIAGH_PASSWORD=\"{}\"", siagh_config.password);
    println!(
        "Edit CRM records as a CRM user would with POST /sim/persons, /sim/organizations and \
         /sim/quotes on the CRM simulator, and read what reached Siagh with GET /sim/contacts \
         and /sim/preinvoices on the Siagh simulator (see the README). The secret in the \
         webhook URLs must equal WEBHOOK_SECRET."
    );
    let crm = crate::sim::crm::start(
        crm_config,
        SocketAddr::from(([127, 0, 0, 1], args.crm_port)),
    )
    .await
    .with_context(|| format!("starting the CRM simulator on port {}", args.crm_port))?;
    let siagh = crate::sim::siagh::start(
        siagh_config,
        SocketAddr::from(([127, 0, 0, 1], args.siagh_port)),
    )
    .await
    .with_context(|| format!("starting the Siagh simulator on port {}", args.siagh_port))?;
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    crm.stop().await;
    siagh.stop().await;
    Ok(())
}

/// Builds engine settings that point at the two simulators.
pub fn settings_for_simulators(
    crm: &CrmSim,
    siagh: &SiaghSim,
    crm_config: &CrmSimConfig,
    siagh_config: &SiaghSimConfig,
    database_url: String,
) -> Settings {
    let secret = || uuid::Uuid::new_v4().simple().to_string();
    Settings {
        listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url,
        redis_url: None,
        redis_key_prefix: "siagh-sync".to_owned(),
        crm: CrmSettings {
            base_url: crm.base_url(),
            username: crm_config.username.clone(),
            password: SecretString::from(crm_config.password.clone()),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
        },
        siagh: SiaghSettings {
            base_url: siagh.base_url(),
            username: siagh_config.username.clone(),
            password_md5: crate::siagh::password_md5(&siagh_config.password).into(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
        },
        webhook: WebhookSettings {
            secret: secret().into(),
            allowed_ips: Vec::new(),
            dedup_ttl: Duration::from_secs(600),
        },
        admin_token: secret().into(),
        sync: SyncSettings::default(),
        faults: crate::sync::FaultInjection::default(),
    }
}

/// Runs the demo: simulators, engine, edits, and an account of what was synced.
pub async fn run(once: bool) -> anyhow::Result<()> {
    let crm_config = CrmSimConfig::default();
    let siagh_config = SiaghSimConfig::default();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let crm = crate::sim::crm::start(crm_config.clone(), loopback)
        .await
        .context("starting the CRM simulator")?;
    let siagh = crate::sim::siagh::start(siagh_config.clone(), loopback)
        .await
        .context("starting the Siagh simulator")?;

    let database = std::env::temp_dir().join(format!("siagh-sync-demo-{}.db", std::process::id()));
    remove_database_files(&database);
    let settings = settings_for_simulators(
        &crm,
        &siagh,
        &crm_config,
        &siagh_config,
        database.display().to_string(),
    );
    let webhook_secret = crate::config::expose(&settings.webhook.secret).to_owned();
    let admin_token = crate::config::expose(&settings.admin_token).to_owned();
    let application = Application::build(settings).await?;
    let engine = format!("http://{}", application.address());
    let webhook_url = Url::parse(&format!("{engine}/webhook/crm/{webhook_secret}/identity"))?;
    crm.set_identity_webhook_url(Some(webhook_url));
    let quote_url = Url::parse(&format!("{engine}/webhook/crm/{webhook_secret}/quote"))?;
    crm.set_quote_webhook_url(Some(quote_url));
    let store = application.store().clone();
    let server = application.spawn();

    let names = make_demo_edits(&crm).await;
    let drained = wait_until_drained(&store, DEMO_SYNC_TIMEOUT).await?;
    print_account(&store, &siagh, &names, &engine, drained).await?;

    if !once {
        print_serving(&engine, &admin_token);
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
    }
    server.stop(true).await;
    crm.stop().await;
    siagh.stop().await;
    remove_database_files(&database);
    Ok(())
}

fn remove_database_files(database: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = database.as_os_str().to_owned();
        path.push(suffix);
        // Absent files are the normal case on a first run.
        let _ = std::fs::remove_file(path);
    }
}

/// Makes the demo's CRM edits and returns a readable label for each record id.
async fn make_demo_edits(crm: &CrmSim) -> HashMap<String, String> {
    let mut labels = HashMap::new();

    let person = crm
        .create_person(NewPerson {
            first_name: "مریم".into(),
            last_name: "احمدی".into(),
            nick_name: Some("مریم احمدی".into()),
            mobile: Some("09121110001".into()),
            phone: Some("02188001100".into()),
            email: Some("maryam.ahmadi@example.com".into()),
            national_code: Some("0012345678".into()),
            customer_number: Some("100-1501".into()),
            address: Some("تهران، خیابان ولیعصر، پلاک ۱۲".into()),
            city: Some("تهران".into()),
            state: Some("تهران".into()),
            country: Some("ایران".into()),
            zip_code: Some("1415913311".into()),
            ..NewPerson::default()
        })
        .await;
    labels.insert(person.0.clone(), "person مریم احمدی".to_owned());

    let organization = crm
        .create_organization(NewOrganization {
            nick_name: "شرکت آرمان تجارت".into(),
            national_code: Some("10100234567".into()),
            economic_code: Some("411122223333".into()),
            phone: Some("02166004400".into()),
            email: Some("info@arman.example".into()),
            website: Some("https://arman.example".into()),
            customer_number: Some("100-1502".into()),
            address: Some("اصفهان، خیابان چهارباغ".into()),
            city: Some("اصفهان".into()),
            state: Some("اصفهان".into()),
            country: Some("ایران".into()),
            zip_code: Some("8173612345".into()),
            ..NewOrganization::default()
        })
        .await;
    labels.insert(
        organization.0.clone(),
        "organization شرکت آرمان تجارت".to_owned(),
    );

    let piped = crm
        .create_person(NewPerson {
            first_name: "علی".into(),
            last_name: "رضایی | بازرگانی".into(),
            nick_name: Some("علی رضایی | بازرگانی".into()),
            mobile: Some("09121110003".into()),
            address: Some("شیراز، بلوار زند\nکوچه ۵ | واحد=۳".into()),
            customer_number: Some("100-1503".into()),
            ..NewPerson::default()
        })
        .await;
    labels.insert(piped.0.clone(), "person with '|' in name".to_owned());

    crm.edit_person(&person, |record| {
        record.identity.email = Some("m.ahmadi@example.com".into());
    })
    .await;
    crm.edit_organization(&organization, |record| {
        record.object.description = Some("مشتری عمده".into());
    })
    .await;

    // One quote for the organization above, one for a customer created just before it.
    let quote = crm
        .create_quote(demo_quote(&organization, "P-1001", "2", "1400000"))
        .await;
    labels.insert(quote.0.clone(), "quote for the organization".to_owned());
    let newcomer = crm
        .create_person(NewPerson {
            first_name: "سارا".into(),
            last_name: "کاظمی".into(),
            nick_name: Some("سارا کاظمی".into()),
            mobile: Some("09121110004".into()),
            customer_number: Some("100-1504".into()),
            ..NewPerson::default()
        })
        .await;
    labels.insert(newcomer.0.clone(), "person سارا کاظمی".to_owned());
    let second_quote = crm
        .create_quote(demo_quote(&newcomer, "P-2040", "3.5", "200000"))
        .await;
    labels.insert(
        second_quote.0.clone(),
        "quote for the new person".to_owned(),
    );
    labels
}

fn demo_quote(customer: &CrmId, product: &str, count: &str, price: &str) -> NewQuote {
    let decimal = |text: &str| rust_decimal::Decimal::from_str_exact(text).unwrap_or_default();
    NewQuote {
        identity_id: customer.clone(),
        type_code: "PI_5".into(),
        subject: "پیش فاکتور نمایشی".into(),
        description: String::new(),
        quote_date: None,
        lines: vec![NewQuoteLine {
            product_code: product.into(),
            product_name: "کالای نمایشی".into(),
            unit_name: "عدد".into(),
            count: decimal(count),
            unit_price: decimal(price),
            discount: rust_decimal::Decimal::ZERO,
        }],
    }
}

/// Waits until no customer job is pending or running; returns whether that happened in time.
async fn wait_until_drained(store: &Store, timeout: Duration) -> anyhow::Result<bool> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let stats = store.queue_stats().await?;
        if stats.pending == 0 && stats.running == 0 {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[expect(clippy::print_stdout, reason = "the account is the demo's output")]
async fn print_account(
    store: &Store,
    siagh: &SiaghSim,
    labels: &HashMap<String, String>,
    engine: &str,
    drained: bool,
) -> anyhow::Result<()> {
    let mut entries = store
        .log_entries(LogFilter {
            entity: None,
            limit: 1_000,
            ..LogFilter::default()
        })
        .await?;
    entries.reverse();

    println!();
    println!("What the engine did (oldest first):");
    println!(
        "{:<38} {:<32} {:<15} {:<10} result",
        "CRM id", "record", "action", "Siagh"
    );
    for entry in entries.iter().filter(|entry| entry.action != "received") {
        let label = labels
            .get(&entry.record_id)
            .map(String::as_str)
            .unwrap_or("");
        let result = entry.error.as_deref().unwrap_or("ok");
        println!(
            "{:<38} {:<32} {:<15} {:<10} {}",
            entry.record_id,
            label,
            entry.action,
            entry.target_id.as_deref().unwrap_or("-"),
            result
        );
    }

    let counters = siagh.counters();
    println!();
    println!(
        "Siagh simulator: {} contacts created, {} updated, {} logins.",
        counters.contact_creates, counters.contact_updates, counters.logins
    );
    for preinvoice in siagh.preinvoices() {
        println!(
            "Pre-invoice {} for customer {}: {} lines, net {}",
            preinvoice.number,
            preinvoice.customer_code,
            preinvoice.lines.len(),
            preinvoice.net.normalize()
        );
    }
    println!("Contacts now in Siagh (codes below 8404 were loaded as sample data):");
    for contact in siagh.contacts() {
        println!(
            "  {:>5}  {}",
            contact.code,
            contact
                .fields
                .get("gn_web_users.fullname")
                .map(String::as_str)
                .unwrap_or("")
        );
    }
    if !drained {
        println!(
            "Some jobs were still waiting after {DEMO_SYNC_TIMEOUT:?}; see {engine}/admin/status."
        );
    }
    Ok(())
}

#[expect(
    clippy::print_stdout,
    reason = "tells the user how to reach and stop the demo"
)]
fn print_serving(engine: &str, admin_token: &str) {
    println!();
    println!("Admin API: curl -H 'Authorization: Bearer {admin_token}' {engine}/admin/status");
    println!("The engine keeps serving on {engine}; press Ctrl-C to stop.");
}
