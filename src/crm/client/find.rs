//! Person, organization and sales-quote finds filtered on `ModifyDate`.

use chrono::NaiveDateTime;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use reqwest::Url;

use super::{CrmClient, ORGANIZATION_FIND_PATH, PERSON_FIND_PATH, QUOTE_FIND_PATH, parse_json};
use crate::crm::error::Error;
use crate::crm::find::{
    CrmFindOrder, CrmFindPage, CrmFindQuery, CrmFindRequest, MODIFY_DATE_FIELD,
};
use crate::crm::model::{CrmOrganization, CrmPerson};
use crate::crm::quote::CrmQuote;

/// Statuses that mean the CRM lacks the find call or does not understand the query.
const FIND_UNSUPPORTED_STATUSES: [StatusCode; 4] = [
    StatusCode::BAD_REQUEST,
    StatusCode::NOT_FOUND,
    StatusCode::METHOD_NOT_ALLOWED,
    StatusCode::NOT_IMPLEMENTED,
];

impl CrmClient {
    /// Fetches one page of the persons of type `type_code` whose `modifyDate` is at or after
    /// `since`, oldest change first.
    ///
    /// `type_code` is the identity type's code, `person` unless the installation uses others
    /// (see [`IdentityKind::default_type_code`]). `since` is CRM server-local time, like
    /// `modifyDate`. `page_number` starts at 1.
    ///
    /// NOTE: no find call to a live CRM has been published. That pages start at 1, and that
    /// the CRM accepts a `ModifyDate` condition with a local timestamp, are unconfirmed.
    ///
    /// Fails with [`Error::FindUnsupported`] when the CRM responds with 400, 404, 405 or 501, so
    /// that the caller can fall back to [`CrmClient::search_all_identities`]. Fails with
    /// [`Error::InvalidRequest`] when `page_number` or `page_size` is 0.
    #[tracing::instrument(
        name = "crm.find_people_modified_since",
        skip_all,
        fields(page_number = page_number, page_size = page_size)
    )]
    pub async fn find_people_modified_since(
        &self,
        type_code: &str,
        since: NaiveDateTime,
        page_number: u32,
        page_size: u32,
    ) -> Result<CrmFindPage<CrmPerson>, Error> {
        let request = modified_since_request(type_code, since, page_number, page_size);
        let url = self.inner.endpoints.person_find.clone();
        self.find(PERSON_FIND_PATH, url, &request).await
    }

    /// Fetches one page of the organizations of type `type_code` whose `modifyDate` is at or
    /// after `since`, oldest change first. See [`CrmClient::find_people_modified_since`].
    #[tracing::instrument(
        name = "crm.find_organizations_modified_since",
        skip_all,
        fields(page_number = page_number, page_size = page_size)
    )]
    pub async fn find_organizations_modified_since(
        &self,
        type_code: &str,
        since: NaiveDateTime,
        page_number: u32,
        page_size: u32,
    ) -> Result<CrmFindPage<CrmOrganization>, Error> {
        let request = modified_since_request(type_code, since, page_number, page_size);
        let url = self.inner.endpoints.organization_find.clone();
        self.find(ORGANIZATION_FIND_PATH, url, &request).await
    }

    /// Fetches one page of the sales quotes of type `type_code` (such as `PI_5`) whose
    /// `modifyDate` is at or after `since`, oldest change first. See
    /// [`CrmClient::find_people_modified_since`].
    ///
    /// NOTE: the vendor's libraries name find calls for identities and invoices only, so
    /// whether the CRM offers `quote/sales/find` at all is unconfirmed. A CRM without it fails
    /// with [`Error::FindUnsupported`].
    #[tracing::instrument(
        name = "crm.find_quotes_modified_since",
        skip_all,
        fields(page_number = page_number, page_size = page_size)
    )]
    pub async fn find_quotes_modified_since(
        &self,
        type_code: &str,
        since: NaiveDateTime,
        page_number: u32,
        page_size: u32,
    ) -> Result<CrmFindPage<CrmQuote>, Error> {
        let request = modified_since_request(type_code, since, page_number, page_size);
        let url = self.inner.endpoints.quote_find.clone();
        self.find(QUOTE_FIND_PATH, url, &request).await
    }

    async fn find<T: DeserializeOwned>(
        &self,
        path: &'static str,
        url: Url,
        request: &CrmFindRequest,
    ) -> Result<CrmFindPage<T>, Error> {
        if request.page_number == 0 || request.page_size == 0 {
            return Err(Error::InvalidRequest {
                path: path.to_owned(),
                reason: format!(
                    "page number {} and page size {} must both be at least 1",
                    request.page_number, request.page_size
                ),
            });
        }

        let started = Instant::now();
        let (status, body) = self.call(path, url, request).await?;
        if FIND_UNSUPPORTED_STATUSES.contains(&status) {
            return Err(Error::FindUnsupported {
                path: path.to_owned(),
                status,
            });
        }
        if !status.is_success() {
            return Err(Error::status(path, status, &body));
        }
        let page: CrmFindPage<T> = parse_json(path, &body)?;

        tracing::debug!(
            crm.path = path,
            crm.total = page.total,
            crm.records = page.data.len(),
            duration_ms = started.elapsed().as_millis() as u64,
            "fetched a CRM find page"
        );
        Ok(page)
    }
}

/// Builds a find request for the records of type `type_code` with `ModifyDate >= since`,
/// in ascending `ModifyDate` order.
fn modified_since_request(
    type_code: &str,
    since: NaiveDateTime,
    page_number: u32,
    page_size: u32,
) -> CrmFindRequest {
    CrmFindRequest {
        type_key: type_code.to_owned(),
        queries: vec![CrmFindQuery::modified_since(since)],
        orders: vec![CrmFindOrder {
            field: MODIFY_DATE_FIELD.to_owned(),
            order: CrmFindOrder::ASCENDING,
        }],
        page_number,
        page_size,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::crm::model::local_datetime;

    #[test]
    fn request_filters_and_orders_on_modify_date() {
        let since = local_datetime::parse("2026-01-10T10:15:42.517").unwrap();

        let request = modified_since_request("person", since, 1, 50);

        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({
                "typeKey": "person",
                "queries": [{
                    "logicalOperator": 0,
                    "field": "ModifyDate",
                    "operator": 2,
                    "value": "2026-01-10T10:15:42.517",
                    "leafLogicalOperator": null,
                    "leafNegate": false,
                    "leafs": []
                }],
                "orders": [{"field": "ModifyDate", "order": 0}],
                "pageNumber": 1,
                "pageSize": 50
            })
        );
    }
}
