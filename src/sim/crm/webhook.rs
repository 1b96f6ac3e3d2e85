//! Webhook calls as the CRM sends them: `GET <url>?event=…&id=…&type=…&subtype=…` with no
//! body.

use std::time::Duration;

use serde::Serialize;
use url::Url;

use crate::crm::CrmId;

/// One webhook request the simulator sent, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookDelivery {
    /// Full request URL, query included.
    pub url: String,
    /// `event` parameter: `Insert`, `Update` or `Delete`.
    pub event: String,
    /// `id` parameter.
    pub crm_id: CrmId,
    /// HTTP status of the response, `None` when no response arrived.
    pub status: Option<u16>,
    /// Transport error when no response arrived.
    pub error: Option<String>,
}

impl WebhookDelivery {
    /// Returns whether the receiver responded with a 2xx status.
    pub fn succeeded(&self) -> bool {
        self.status
            .is_some_and(|status| (200..300).contains(&status))
    }
}

/// Webhook requests planned for one change: the first delivery plus its duplicates.
#[derive(Debug, Clone)]
pub(crate) struct WebhookBatch {
    pub url: Url,
    pub event: String,
    pub crm_id: CrmId,
    /// Requests to send, at least 1.
    pub copies: u32,
    /// Wait before the first request.
    pub delay: Duration,
}

/// Encodes the four webhook parameters as the CRM does: form encoding, which writes UTF-8
/// with upper-case percent escapes and spaces as `+`.
pub fn webhook_query(event: &str, id: &CrmId, record_type: &str, subtype: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("event", event)
        .append_pair("id", id.as_str())
        .append_pair("type", record_type)
        .append_pair("subtype", subtype)
        .finish()
}

/// Appends the webhook query to the configured URL, joining it to an existing query with
/// `&`. How the CRM treats a URL that already has a query is undocumented.
pub(crate) fn webhook_url(configured: &Url, query: &str) -> Url {
    let mut url = configured.clone();
    match configured.query() {
        Some(existing) if !existing.is_empty() => {
            url.set_query(Some(&format!("{existing}&{query}")));
        }
        _ => url.set_query(Some(query)),
    }
    url
}

/// Builds the HTTP client that sends webhooks.
///
/// Like the CRM, it sets no `User-Agent`. Unlike the CRM, it sends `Accept: */*`, which
/// reqwest adds to every request.
pub(crate) fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Sends one webhook request and records its outcome.
pub(crate) async fn send(client: &reqwest::Client, batch: &WebhookBatch) -> WebhookDelivery {
    let (status, error) = match client.get(batch.url.clone()).send().await {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(error) => (None, Some(error.to_string())),
    };
    WebhookDelivery {
        url: batch.url.to_string(),
        event: batch.event.clone(),
        crm_id: batch.crm_id.clone(),
        status,
        error,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::Value;

    const WEBHOOKS: &str = include_str!("../fixtures/crm/webhooks.json");

    #[test]
    fn query_matches_fixture_raw_queries() {
        let samples: Vec<Value> = serde_json::from_str(WEBHOOKS).unwrap();

        for sample in &samples {
            let query = &sample["query"];
            let encoded = webhook_query(
                query["event"].as_str().unwrap(),
                &CrmId::from(query["id"].as_str().unwrap()),
                query["type"].as_str().unwrap(),
                query["subtype"].as_str().unwrap(),
            );

            assert_eq!(
                encoded,
                sample["raw_query"].as_str().unwrap(),
                "{}",
                sample["name"]
            );
        }
        assert_eq!(samples.len(), 4);
    }

    #[test]
    fn url_keeps_raw_query() {
        let configured = Url::parse("http://127.0.0.1:8080/webhook/crm/identity").unwrap();
        let query = webhook_query("Insert", &CrmId::from("x"), "Identity", "مخاطب حقیقی");

        let url = webhook_url(&configured, &query);

        assert_eq!(url.query(), Some(query.as_str()));
        assert_eq!(url.path(), "/webhook/crm/identity");
    }

    #[test]
    fn url_appends_to_existing_query() {
        let configured = Url::parse("http://127.0.0.1:8080/hook?key=abc").unwrap();

        let url = webhook_url(&configured, "event=Update");

        assert_eq!(url.query(), Some("key=abc&event=Update"));
    }
}
