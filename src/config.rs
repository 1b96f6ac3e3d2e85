//! The `Settings` tree: read once at start from environment variables, a `.env` file and an
//! optional TOML file, then passed down. Tests build `Settings` directly.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Every variable the service reads, in the order `.env.example` documents them.
pub const VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "LISTEN_ADDR",
    "CRM_BASE_URL",
    "CRM_USERNAME",
    "CRM_PASSWORD",
    "SIAGH_BASE_URL",
    "SIAGH_USERNAME",
    "SIAGH_PASSWORD",
    "SIAGH_PASSWORD_MD5",
    "WEBHOOK_SECRET",
    "WEBHOOK_ALLOWED_IPS",
    "ADMIN_TOKEN",
    "CRM_PERSON_SUBTYPES",
    "CRM_ORGANIZATION_SUBTYPES",
    "SYNC_MAX_CONCURRENT_JOBS",
    "SYNC_MAX_ATTEMPTS",
    "SYNC_RETRY_BASE_MS",
    "SYNC_RETRY_MAX_MS",
    "UPSTREAM_CONNECT_TIMEOUT_MS",
    "UPSTREAM_TIMEOUT_MS",
    "SIAGH_POLL_INTERVAL_SECS",
    "CRM_POLL_INTERVAL_SECS",
    "CRM_FULL_SCAN_INTERVAL_SECS",
    "CONFLICT_POLICY",
    "QUOTE_SALE_MODELS",
    "CRM_QUOTE_TYPE_CODES",
    "PREINVOICE_DOCUMENT_TYPE",
    "PREINVOICE_PAYMENT_TYPE",
    "PREINVOICE_SALE_TYPE",
    "PREINVOICE_INTERMEDIARY",
];

/// SQLite file used when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "siagh-sync.db";

/// Seconds between Siagh polls by default: GetAll returns the whole contact table, so a poll
/// costs one full read of it.
const DEFAULT_SIAGH_POLL_INTERVAL_SECS: u64 = 60;

/// Seconds between CRM polls by default; webhooks carry most changes, so this only bounds how
/// late a change whose webhook was lost arrives.
const DEFAULT_CRM_POLL_INTERVAL_SECS: u64 = 60;
/// Seconds between full CRM identity scans by default (one day): a scan reads every linked
/// record.
const DEFAULT_CRM_FULL_SCAN_INTERVAL_SECS: u64 = 86_400;

/// Webhook subtypes that name a person in a stock Payamgostar installation.
const DEFAULT_PERSON_SUBTYPES: &str = "مخاطب حقیقی";
/// Webhook subtypes that name an organization in a stock Payamgostar installation.
const DEFAULT_ORGANIZATION_SUBTYPES: &str = "مخاطب حقوقی";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is required but not set; add it to the environment, .env or the config file")]
    Missing { name: &'static str },
    #[error(
        "required settings are not set: {}; add them to the environment, .env or the config \
         file (see .env.example)",
        names.join(", ")
    )]
    MissingMany { names: Vec<&'static str> },
    #[error("{name} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("set either SIAGH_PASSWORD or SIAGH_PASSWORD_MD5, not both")]
    BothSiaghPasswords,
    #[error("could not read the config file {path}: {reason}")]
    File { path: String, reason: String },
}

/// The whole configuration of one siagh-sync process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the HTTP server (webhooks, health, admin) listens on.
    pub listen_addr: SocketAddr,
    /// `postgres://…` for PostgreSQL, otherwise a SQLite file path or `sqlite://path`.
    pub database_url: String,
    /// Redis URL for webhook deduplication; `None` keeps deduplication in process.
    pub redis_url: Option<SecretString>,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub redis_key_prefix: String,
    pub crm: CrmSettings,
    pub siagh: SiaghSettings,
    pub webhook: WebhookSettings,
    /// Bearer token required on `/admin/*`.
    pub admin_token: SecretString,
    pub sync: SyncSettings,
    /// Failure injection for tests; always empty when loaded from the environment.
    pub faults: crate::sync::FaultInjection,
}

#[derive(Debug, Clone)]
pub struct CrmSettings {
    pub base_url: Url,
    pub username: String,
    pub password: SecretString,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct SiaghSettings {
    pub base_url: Url,
    pub username: String,
    /// Upper-case hex MD5 of the Siagh password, the form Siagh's login expects.
    pub password_md5: SecretString,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Path segment that authenticates Payamgostar's webhook calls, which carry no header,
    /// body or signature.
    pub secret: SecretString,
    /// Source addresses allowed to call the webhook routes; empty allows every address.
    pub allowed_ips: Vec<IpAddr>,
    /// How long a webhook delivery key lives in the dedup store.
    pub dedup_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Jobs of different records processed at the same time by one orchestrator.
    pub max_concurrent_jobs: usize,
    /// Attempts of a job that keeps failing with retryable errors before it is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; later ones double up to `retry_max`, each with full jitter.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a claimed job stays leased to its worker before another may take it.
    pub lease: Duration,
    /// How often the orchestrator looks for due jobs without being woken.
    pub idle_poll: Duration,
    /// Webhook subtypes (display names of CRM identity types) that denote a person.
    pub person_subtypes: Vec<String>,
    /// Webhook subtypes that denote an organization.
    pub organization_subtypes: Vec<String>,
    /// Time between two Siagh polls; `None` disables the Siagh poller.
    pub siagh_poll_interval: Option<Duration>,
    /// Time between two CRM polls for changes whose webhook was lost; `None` disables the CRM
    /// poller.
    pub crm_poll_interval: Option<Duration>,
    /// Time between two full CRM identity scans, the CRM poller's safety net.
    pub crm_full_scan_interval: Duration,
    /// Rule that picks the winner of a customer field changed on both sides since the last
    /// sync.
    pub conflict_policy: crate::sync::merge::ConflictPolicy,
    /// Siagh sale model of each CRM quote type code that does not follow `PI_<n>`.
    pub quote_sale_models: HashMap<String, String>,
    /// Quote type codes the CRM poller follows from its first cycle. It also follows the
    /// codes of `quote_sale_models` and every code seen on a quote the engine fetched.
    pub crm_quote_type_codes: Vec<String>,
    /// Pre-invoice header values that no quote field decides.
    pub preinvoice_defaults: crate::sync::quote_mapping::PreInvoiceDefaults,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            max_concurrent_jobs: 8,
            max_attempts: 8,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(600),
            lease: Duration::from_secs(300),
            idle_poll: Duration::from_secs(1),
            person_subtypes: split_list(DEFAULT_PERSON_SUBTYPES),
            organization_subtypes: split_list(DEFAULT_ORGANIZATION_SUBTYPES),
            siagh_poll_interval: Some(Duration::from_secs(DEFAULT_SIAGH_POLL_INTERVAL_SECS)),
            crm_poll_interval: Some(Duration::from_secs(DEFAULT_CRM_POLL_INTERVAL_SECS)),
            crm_full_scan_interval: Duration::from_secs(DEFAULT_CRM_FULL_SCAN_INTERVAL_SECS),
            conflict_policy: crate::sync::merge::ConflictPolicy::default(),
            quote_sale_models: HashMap::new(),
            crm_quote_type_codes: Vec::new(),
            preinvoice_defaults: crate::sync::quote_mapping::PreInvoiceDefaults::default(),
        }
    }
}

impl Settings {
    /// Loads settings: the TOML file first, then `.env`, then the process environment, each
    /// later source overriding the earlier ones.
    pub fn load(config_file: Option<&Path>) -> Result<Settings, ConfigError> {
        Settings::from_values(&collect_values(config_file)?)
    }

    /// Loads only the database URL, for commands such as `migrate` that need nothing else.
    pub fn load_database_url(config_file: Option<&Path>) -> Result<String, ConfigError> {
        let values = collect_values(config_file)?;
        Ok(Source(&values)
            .optional("DATABASE_URL")
            .unwrap_or(DEFAULT_DATABASE_URL)
            .to_owned())
    }

    /// Builds settings from variable names and raw values; every error names its variable.
    pub fn from_values(values: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        let source = Source(values);
        report_missing(&source)?;
        let connect_timeout =
            Duration::from_millis(source.positive("UPSTREAM_CONNECT_TIMEOUT_MS", 5_000)?);
        let request_timeout =
            Duration::from_millis(source.positive("UPSTREAM_TIMEOUT_MS", 30_000)?);

        let crm = CrmSettings {
            base_url: source.url("CRM_BASE_URL")?,
            username: source.required("CRM_USERNAME")?.to_owned(),
            password: source.secret("CRM_PASSWORD")?.into(),
            connect_timeout,
            request_timeout,
        };
        let siagh = SiaghSettings {
            base_url: source.url("SIAGH_BASE_URL")?,
            username: source.required("SIAGH_USERNAME")?.to_owned(),
            password_md5: siagh_password_md5(&source)?,
            connect_timeout,
            request_timeout,
        };
        let webhook = WebhookSettings {
            secret: webhook_secret(&source)?,
            allowed_ips: source.ip_list("WEBHOOK_ALLOWED_IPS")?,
            dedup_ttl: Duration::from_secs(600),
        };
        let defaults = SyncSettings::default();
        let sync = SyncSettings {
            max_concurrent_jobs: source.number("SYNC_MAX_CONCURRENT_JOBS", 8)? as usize,
            max_attempts: source.positive("SYNC_MAX_ATTEMPTS", 8)? as u32,
            retry_base: Duration::from_millis(source.positive("SYNC_RETRY_BASE_MS", 2_000)?),
            retry_max: Duration::from_millis(source.positive("SYNC_RETRY_MAX_MS", 600_000)?),
            person_subtypes: source
                .optional("CRM_PERSON_SUBTYPES")
                .map(split_list)
                .unwrap_or(defaults.person_subtypes),
            organization_subtypes: source
                .optional("CRM_ORGANIZATION_SUBTYPES")
                .map(split_list)
                .unwrap_or(defaults.organization_subtypes),
            siagh_poll_interval: match source
                .number("SIAGH_POLL_INTERVAL_SECS", DEFAULT_SIAGH_POLL_INTERVAL_SECS)?
            {
                0 => None,
                seconds => Some(Duration::from_secs(seconds)),
            },
            crm_poll_interval: match source
                .number("CRM_POLL_INTERVAL_SECS", DEFAULT_CRM_POLL_INTERVAL_SECS)?
            {
                0 => None,
                seconds => Some(Duration::from_secs(seconds)),
            },
            crm_full_scan_interval: Duration::from_secs(source.positive(
                "CRM_FULL_SCAN_INTERVAL_SECS",
                DEFAULT_CRM_FULL_SCAN_INTERVAL_SECS,
            )?),
            quote_sale_models: sale_model_table(&source)?,
            crm_quote_type_codes: quote_type_codes(&source)?,
            preinvoice_defaults: preinvoice_defaults(&source)?,
            conflict_policy: match source.optional("CONFLICT_POLICY") {
                None => defaults.conflict_policy,
                Some(raw) => raw.parse().map_err(|reason| ConfigError::Invalid {
                    name: "CONFLICT_POLICY",
                    value: raw.to_owned(),
                    reason,
                })?,
            },
            ..defaults
        };
        if sync.max_concurrent_jobs == 0 {
            return Err(ConfigError::Invalid {
                name: "SYNC_MAX_CONCURRENT_JOBS",
                value: "0".to_owned(),
                reason: "must be at least 1".to_owned(),
            });
        }
        if sync.retry_base > sync.retry_max {
            return Err(ConfigError::Invalid {
                name: "SYNC_RETRY_MAX_MS",
                value: sync.retry_max.as_millis().to_string(),
                reason: format!(
                    "must not be below SYNC_RETRY_BASE_MS ({} ms)",
                    sync.retry_base.as_millis()
                ),
            });
        }

        Ok(Settings {
            listen_addr: source.socket_addr("LISTEN_ADDR", "0.0.0.0:3000")?,
            database_url: source
                .optional("DATABASE_URL")
                .unwrap_or(DEFAULT_DATABASE_URL)
                .to_owned(),
            redis_url: source.optional("REDIS_URL").map(SecretString::from),
            redis_key_prefix: source
                .optional("REDIS_KEY_PREFIX")
                .unwrap_or("siagh-sync")
                .to_owned(),
            crm,
            siagh,
            webhook,
            admin_token: admin_token(&source)?,
            sync,
            faults: crate::sync::FaultInjection::default(),
        })
    }
}

/// Reads the raw values of every known variable from the TOML file, `.env` and the
/// environment, later sources overriding earlier ones.
fn collect_values(config_file: Option<&Path>) -> Result<HashMap<String, String>, ConfigError> {
    let mut values = match config_file {
        Some(path) => read_toml(path)?,
        None => HashMap::new(),
    };
    // A missing .env file is normal; an unreadable one stops the start, because silently
    // ignoring half of the configuration would be worse.
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(error) if error.not_found() => {}
        Err(dotenvy::Error::LineParse(line, _)) => {
            // Only the line number and variable name are shown: the value may be a password.
            let text = std::fs::read_to_string(".env").unwrap_or_default();
            let name = text
                .lines()
                .enumerate()
                .find(|(_, text_line)| text_line.contains(line.as_str()))
                .map(|(index, text_line)| {
                    let key = text_line.split('=').next().unwrap_or_default().trim();
                    format!("line {} ({key})", index + 1)
                })
                .unwrap_or_else(|| "a line".to_owned());
            return Err(ConfigError::File {
                path: ".env".to_owned(),
                reason: format!(
                    "cannot parse {name}; put values that contain spaces in double quotes, \
                     e.g. SIAGH_USERNAME=\"کاربر نمونه\""
                ),
            });
        }
        Err(error) => {
            return Err(ConfigError::File {
                path: ".env".to_owned(),
                reason: error.to_string(),
            });
        }
    }
    for name in VARIABLES {
        if let Ok(value) = std::env::var(name) {
            values.insert((*name).to_owned(), value);
        }
    }
    Ok(values)
}

/// Splits a `;`-separated list, trimming entries and dropping empty ones.
fn split_list(raw: &str) -> Vec<String> {
    raw.split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

fn read_toml(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|error| file_error(error.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| file_error(error.to_string()))?;
    let mut values = HashMap::new();
    for (key, value) in table {
        let name = key.to_ascii_uppercase();
        if !VARIABLES.contains(&name.as_str()) {
            return Err(file_error(format!(
                "unknown key {key:?}; the keys are the environment variable names listed in \
                 .env.example"
            )));
        }
        let text = match value {
            toml::Value::String(text) => text,
            toml::Value::Integer(number) => number.to_string(),
            toml::Value::Boolean(flag) => flag.to_string(),
            other => {
                return Err(file_error(format!(
                    "key {key:?} must be a string or a number, not {}",
                    other.type_str()
                )));
            }
        };
        values.insert(name, text);
    }
    Ok(values)
}

fn siagh_password_md5(source: &Source<'_>) -> Result<SecretString, ConfigError> {
    match (
        source.optional("SIAGH_PASSWORD"),
        source.optional("SIAGH_PASSWORD_MD5"),
    ) {
        (Some(_), Some(_)) => Err(ConfigError::BothSiaghPasswords),
        (Some(_), None) => {
            let plain = source.secret("SIAGH_PASSWORD")?;
            Ok(crate::siagh::password_md5(plain).into())
        }
        (None, Some(digest)) => {
            let valid = digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit());
            if !valid {
                // The value is a credential, so the message shows its length, not its text.
                return Err(ConfigError::Invalid {
                    name: "SIAGH_PASSWORD_MD5",
                    value: format!("<{} characters>", digest.len()),
                    reason: "expected 32 hexadecimal characters; `siagh-sync hash-password` \
                             prints the digest of a password"
                        .to_owned(),
                });
            }
            Ok(digest.to_ascii_uppercase().into())
        }
        (None, None) => Err(ConfigError::MissingMany {
            names: vec!["SIAGH_PASSWORD or SIAGH_PASSWORD_MD5"],
        }),
    }
}

fn webhook_secret(source: &Source<'_>) -> Result<SecretString, ConfigError> {
    let secret = source.required("WEBHOOK_SECRET")?;
    let valid = secret.len() >= 16
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(ConfigError::Invalid {
            name: "WEBHOOK_SECRET",
            value: format!("<{} characters>", secret.len()),
            reason: "use at least 16 characters from A-Z, a-z, 0-9, '-' and '_' so the secret \
                     fits in a URL path segment unchanged"
                .to_owned(),
        });
    }
    Ok(secret.into())
}

fn admin_token(source: &Source<'_>) -> Result<SecretString, ConfigError> {
    let token = source.required("ADMIN_TOKEN")?;
    if token.len() < 16 {
        return Err(ConfigError::Invalid {
            name: "ADMIN_TOKEN",
            value: format!("<{} characters>", token.len()),
            reason: "use at least 16 characters".to_owned(),
        });
    }
    Ok(token.into())
}

/// Reads `CRM_QUOTE_TYPE_CODES`: type codes separated by `;`.
fn quote_type_codes(source: &Source<'_>) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = source.optional("CRM_QUOTE_TYPE_CODES") else {
        return Ok(Vec::new());
    };
    let codes = split_list(raw);
    if let Some(code) = codes
        .iter()
        .find(|code| code.contains(|c: char| c == ',' || c.is_whitespace()))
    {
        return Err(ConfigError::Invalid {
            name: "CRM_QUOTE_TYPE_CODES",
            value: code.clone(),
            reason: "a type code has no commas or spaces; separate codes with ';', e.g. \
                     PI_5;Productinvoice"
                .to_owned(),
        });
    }
    Ok(codes)
}

/// Reads `QUOTE_SALE_MODELS`: `type code=sale model` pairs separated by `;`.
fn sale_model_table(source: &Source<'_>) -> Result<HashMap<String, String>, ConfigError> {
    let Some(raw) = source.optional("QUOTE_SALE_MODELS") else {
        return Ok(HashMap::new());
    };
    split_list(raw)
        .into_iter()
        .map(|entry| {
            let (code, model) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
            let (code, model) = (code.trim(), model.trim());
            // `parse` alone would accept a leading `+`.
            let all_digits = model.bytes().all(|b| b.is_ascii_digit());
            let number = model.parse::<u32>().ok().filter(|n| all_digits && *n >= 1);
            let Some(number) = number.filter(|_| !code.is_empty()) else {
                return Err(ConfigError::Invalid {
                    name: "QUOTE_SALE_MODELS",
                    value: entry.clone(),
                    reason: "expected `type code=sale model number` pairs separated by ';', \
                             with sale models from 1, e.g. Productinvoice=3"
                        .to_owned(),
                });
            };
            Ok((code.to_owned(), number.to_string()))
        })
        .collect()
}

/// Reads the `PREINVOICE_*` header codes; each must be a whole number.
fn preinvoice_defaults(
    source: &Source<'_>,
) -> Result<crate::sync::quote_mapping::PreInvoiceDefaults, ConfigError> {
    let defaults = crate::sync::quote_mapping::PreInvoiceDefaults::default();
    let code = |name: &'static str, default: String| -> Result<String, ConfigError> {
        match source.optional(name) {
            None => Ok(default),
            Some(value) if value.bytes().all(|b| b.is_ascii_digit()) => Ok(value.to_owned()),
            Some(value) => Err(ConfigError::Invalid {
                name,
                value: value.to_owned(),
                reason: "expected a Siagh code, a whole number".to_owned(),
            }),
        }
    };
    Ok(crate::sync::quote_mapping::PreInvoiceDefaults {
        document_type: code("PREINVOICE_DOCUMENT_TYPE", defaults.document_type)?,
        payment_type: code("PREINVOICE_PAYMENT_TYPE", defaults.payment_type)?,
        sale_type: code("PREINVOICE_SALE_TYPE", defaults.sale_type)?,
        intermediary: code("PREINVOICE_INTERMEDIARY", defaults.intermediary)?,
    })
}

/// Variables without a default.
const REQUIRED: &[&str] = &[
    "CRM_BASE_URL",
    "CRM_USERNAME",
    "CRM_PASSWORD",
    "SIAGH_BASE_URL",
    "SIAGH_USERNAME",
    "WEBHOOK_SECRET",
    "ADMIN_TOKEN",
];

/// Names every missing required setting at once, so one run shows all that is left to fill.
fn report_missing(source: &Source<'_>) -> Result<(), ConfigError> {
    let mut names: Vec<&'static str> = REQUIRED
        .iter()
        .copied()
        .filter(|name| source.optional(name).is_none())
        .collect();
    if source.optional("SIAGH_PASSWORD").is_none()
        && source.optional("SIAGH_PASSWORD_MD5").is_none()
    {
        names.push("SIAGH_PASSWORD or SIAGH_PASSWORD_MD5");
    }
    match names.as_slice() {
        [] => Ok(()),
        [name] => Err(ConfigError::Missing { name }),
        _ => Err(ConfigError::MissingMany { names }),
    }
}

/// Raw values by variable name, with typed accessors whose errors name the variable.
struct Source<'a>(&'a HashMap<String, String>);

impl Source<'_> {
    fn optional(&self, name: &'static str) -> Option<&str> {
        self.0
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<&str, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing { name })
    }

    /// Returns a secret exactly as given: unlike other values it is not trimmed, so it matches
    /// what `siagh-sync hash-password` hashes.
    fn secret(&self, name: &'static str) -> Result<&str, ConfigError> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
            .ok_or(ConfigError::Missing { name })
    }

    fn positive(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.number(name, default)? {
            0 => Err(ConfigError::Invalid {
                name,
                value: "0".to_owned(),
                reason: "must be greater than zero".to_owned(),
            }),
            value => Ok(value),
        }
    }

    fn url(&self, name: &'static str) -> Result<Url, ConfigError> {
        let raw = self.required(name)?;
        let url = Url::parse(raw).map_err(|error| ConfigError::Invalid {
            name,
            value: raw.to_owned(),
            reason: format!("{error}; expected e.g. http://192.168.1.10:8045/"),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::Invalid {
                name,
                value: raw.to_owned(),
                reason: "the scheme must be http or https".to_owned(),
            });
        }
        Ok(url)
    }

    fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        let Some(raw) = self.optional(name) else {
            return Ok(default);
        };
        raw.parse().map_err(|_| ConfigError::Invalid {
            name,
            value: raw.to_owned(),
            reason: "expected a whole non-negative number".to_owned(),
        })
    }

    fn socket_addr(&self, name: &'static str, default: &str) -> Result<SocketAddr, ConfigError> {
        let raw = self.optional(name).unwrap_or(default);
        raw.parse().map_err(|_| ConfigError::Invalid {
            name,
            value: raw.to_owned(),
            reason: "expected an address and port such as 0.0.0.0:3000".to_owned(),
        })
    }

    fn ip_list(&self, name: &'static str) -> Result<Vec<IpAddr>, ConfigError> {
        let Some(raw) = self.optional(name) else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry.parse().map_err(|_| ConfigError::Invalid {
                    name,
                    value: entry.to_owned(),
                    reason: "expected comma-separated IP addresses such as 10.0.0.5,10.0.0.6"
                        .to_owned(),
                })
            })
            .collect()
    }
}

/// Exposes a secret for the one place that must send it upstream.
pub fn expose(secret: &SecretString) -> &str {
    secret.expose_secret()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn minimal() -> HashMap<String, String> {
        [
            ("CRM_BASE_URL", "http://127.0.0.1:9001/"),
            ("CRM_USERNAME", "api-user"),
            ("CRM_PASSWORD", "secret"),
            ("SIAGH_BASE_URL", "http://127.0.0.1:9002/"),
            ("SIAGH_USERNAME", "کاربر نمونه"),
            ("SIAGH_PASSWORD", "sample-password"),
            ("WEBHOOK_SECRET", "0123456789abcdef"),
            ("ADMIN_TOKEN", "admin-token-0123456789"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn defaults_apply_when_optional_values_are_absent() {
        let settings = Settings::from_values(&minimal()).unwrap();

        assert_eq!(settings.database_url, DEFAULT_DATABASE_URL);
        assert!(settings.redis_url.is_none());
        assert_eq!(settings.listen_addr.to_string(), "0.0.0.0:3000");
        assert_eq!(settings.sync.person_subtypes, vec!["مخاطب حقیقی"]);
    }

    #[test]
    fn plain_siagh_password_is_hashed_upper_case() {
        let settings = Settings::from_values(&minimal()).unwrap();

        assert_eq!(
            expose(&settings.siagh.password_md5),
            "63FE8E9E6E805F2CB28675D5592F22E8"
        );
    }

    #[test]
    fn lower_case_digest_is_accepted_and_upper_cased() {
        let mut values = minimal();
        values.remove("SIAGH_PASSWORD");
        values.insert(
            "SIAGH_PASSWORD_MD5".into(),
            "63fe8e9e6e805f2cb28675d5592f22e8".into(),
        );

        let settings = Settings::from_values(&values).unwrap();

        assert_eq!(
            expose(&settings.siagh.password_md5),
            "63FE8E9E6E805F2CB28675D5592F22E8"
        );
    }

    #[test]
    fn missing_required_value_is_named() {
        let mut values = minimal();
        values.remove("WEBHOOK_SECRET");

        let error = Settings::from_values(&values).unwrap_err();

        assert!(error.to_string().contains("WEBHOOK_SECRET"), "{error}");
    }

    #[test]
    fn every_missing_value_is_named_at_once() {
        let message = Settings::from_values(&HashMap::new())
            .unwrap_err()
            .to_string();

        for name in REQUIRED {
            assert!(message.contains(name), "{name} missing from: {message}");
        }
        assert!(
            message.contains("SIAGH_PASSWORD or SIAGH_PASSWORD_MD5"),
            "{message}"
        );
    }

    #[test]
    fn zero_timeout_and_attempts_are_rejected() {
        for name in [
            "UPSTREAM_TIMEOUT_MS",
            "UPSTREAM_CONNECT_TIMEOUT_MS",
            "SYNC_MAX_ATTEMPTS",
        ] {
            let mut values = minimal();
            values.insert(name.into(), "0".into());

            let message = Settings::from_values(&values).unwrap_err().to_string();

            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn retry_cap_below_base_is_rejected() {
        let mut values = minimal();
        values.insert("SYNC_RETRY_BASE_MS".into(), "5000".into());
        values.insert("SYNC_RETRY_MAX_MS".into(), "10".into());

        let message = Settings::from_values(&values).unwrap_err().to_string();

        assert!(message.contains("SYNC_RETRY_MAX_MS"), "{message}");
    }

    #[test]
    fn passwords_keep_surrounding_spaces() {
        let mut values = minimal();
        values.insert("SIAGH_PASSWORD".into(), " pw ".into());

        let settings = Settings::from_values(&values).unwrap();

        assert_eq!(
            expose(&settings.siagh.password_md5),
            crate::siagh::password_md5(" pw ")
        );
    }

    #[test]
    fn both_siagh_passwords_are_rejected() {
        let mut values = minimal();
        values.insert(
            "SIAGH_PASSWORD_MD5".into(),
            "63FE8E9E6E805F2CB28675D5592F22E8".into(),
        );

        let error = Settings::from_values(&values).unwrap_err();

        assert!(matches!(error, ConfigError::BothSiaghPasswords));
    }

    #[test]
    fn malformed_digest_error_hides_the_value() {
        let mut values = minimal();
        values.remove("SIAGH_PASSWORD");
        values.insert("SIAGH_PASSWORD_MD5".into(), "not-a-digest".into());

        let message = Settings::from_values(&values).unwrap_err().to_string();

        assert!(message.contains("SIAGH_PASSWORD_MD5"), "{message}");
        assert!(!message.contains("not-a-digest"), "{message}");
    }

    #[test]
    fn invalid_url_names_variable_and_value() {
        let mut values = minimal();
        values.insert("CRM_BASE_URL".into(), "crm.local:8080".into());

        let message = Settings::from_values(&values).unwrap_err().to_string();

        assert!(message.contains("CRM_BASE_URL"), "{message}");
        assert!(message.contains("crm.local:8080"), "{message}");
    }

    #[test]
    fn subtype_lists_split_on_semicolons() {
        let mut values = minimal();
        values.insert(
            "CRM_PERSON_SUBTYPES".into(),
            "مخاطب حقیقی siagh; مشتری حقیقی ;".into(),
        );

        let settings = Settings::from_values(&values).unwrap();

        assert_eq!(
            settings.sync.person_subtypes,
            vec!["مخاطب حقیقی siagh", "مشتری حقیقی"]
        );
    }

    #[test]
    fn poll_interval_zero_disables_the_poller() {
        let mut values = minimal();
        values.insert("SIAGH_POLL_INTERVAL_SECS".into(), "0".into());

        let settings = Settings::from_values(&values).unwrap();

        assert_eq!(settings.sync.siagh_poll_interval, None);
    }

    #[test]
    fn sale_model_table_is_read() {
        let mut values = minimal();
        values.insert(
            "QUOTE_SALE_MODELS".into(),
            "Productinvoice=3; Service=4".into(),
        );

        let settings = Settings::from_values(&values).unwrap();

        assert_eq!(settings.sync.quote_sale_models["Productinvoice"], "3");
        assert_eq!(settings.sync.quote_sale_models["Service"], "4");
    }

    #[test]
    fn malformed_sale_model_entry_is_named() {
        let mut values = minimal();
        values.insert("QUOTE_SALE_MODELS".into(), "Productinvoice".into());

        let message = Settings::from_values(&values).unwrap_err().to_string();

        assert!(message.contains("QUOTE_SALE_MODELS"), "{message}");
        assert!(message.contains("Productinvoice"), "{message}");
    }

    #[test]
    fn sale_models_start_at_one() {
        for entry in ["Productinvoice=0", "Productinvoice=+3", "=3"] {
            let mut values = minimal();
            values.insert("QUOTE_SALE_MODELS".into(), entry.into());

            let message = Settings::from_values(&values).unwrap_err().to_string();

            assert!(message.contains(entry), "{entry}: {message}");
        }
        let mut values = minimal();
        values.insert("QUOTE_SALE_MODELS".into(), "Productinvoice=03".into());
        let settings = Settings::from_values(&values).unwrap();
        assert_eq!(settings.sync.quote_sale_models["Productinvoice"], "3");
    }

    #[test]
    fn quote_type_codes_need_semicolons() {
        let mut values = minimal();
        values.insert("CRM_QUOTE_TYPE_CODES".into(), "PI_5;PI_6,PI_7".into());

        let message = Settings::from_values(&values).unwrap_err().to_string();

        assert!(message.contains("PI_6,PI_7"), "{message}");
        assert!(message.contains("';'"), "{message}");
        values.insert("CRM_QUOTE_TYPE_CODES".into(), "PI_5; Productinvoice".into());
        let settings = Settings::from_values(&values).unwrap();
        assert_eq!(
            settings.sync.crm_quote_type_codes,
            ["PI_5", "Productinvoice"]
        );
    }

    #[test]
    fn unknown_conflict_policy_is_named() {
        let mut values = minimal();
        values.insert("CONFLICT_POLICY".into(), "siagh-wins".into());

        let message = Settings::from_values(&values).unwrap_err().to_string();

        assert!(message.contains("CONFLICT_POLICY"), "{message}");
        assert!(message.contains("siagh-wins"), "{message}");
    }

    #[test]
    fn toml_file_keys_are_variable_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("siagh-sync.toml");
        std::fs::write(
            &path,
            "listen_addr = \"127.0.0.1:4000\"\nSYNC_MAX_ATTEMPTS = 3\n",
        )
        .unwrap();

        let values = read_toml(&path).unwrap();

        assert_eq!(values["LISTEN_ADDR"], "127.0.0.1:4000");
        assert_eq!(values["SYNC_MAX_ATTEMPTS"], "3");
    }

    #[test]
    fn toml_file_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("siagh-sync.toml");
        std::fs::write(&path, "LISTEN_ADRESS = \"127.0.0.1:4000\"\n").unwrap();

        let message = read_toml(&path).unwrap_err().to_string();

        assert!(message.contains("LISTEN_ADRESS"), "{message}");
    }
}
