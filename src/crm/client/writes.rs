//! Person and organization creates and updates.

use reqwest::StatusCode;
use serde::Serialize;
use tokio::time::Instant;
use url::Url;

use super::{
    CrmClient, ORGANIZATION_CREATE_PATH, ORGANIZATION_UPDATE_PATH, PERSON_CREATE_PATH,
    PERSON_UPDATE_PATH,
};
use crate::crm::error::Error;
use crate::crm::model::{CrmId, CrmWriteResponse};
use crate::crm::write::{CrmOrganizationWrite, CrmPersonWrite};

impl CrmClient {
    /// Creates a person and returns its `crmId`.
    ///
    /// The request is sent once. It is sent a second time only when the CRM rejected the
    /// token with HTTP 401, which it does before storing anything. Creates are not
    /// idempotent: when [`Error::outcome_uncertain`] is true, search the CRM for the person
    /// (by customer number or national code) before creating it again.
    ///
    /// Fails with [`Error::InvalidRequest`] when `person` has a `crmId`, with
    /// [`Error::Status`] on a non-2xx response, and with [`Error::CreateWithoutId`] on
    /// anything but HTTP 200 with a non-empty `crmId`.
    #[tracing::instrument(name = "crm.create_person", skip_all)]
    pub async fn create_person(&self, person: &CrmPersonWrite) -> Result<CrmId, Error> {
        let url = self.inner.endpoints.person_create.clone();
        let crm_id = person.identity.crm_id.as_ref();
        self.create(PERSON_CREATE_PATH, url, crm_id, person).await
    }

    /// Creates an organization and returns its `crmId`. Retries and errors are as for
    /// [`CrmClient::create_person`].
    #[tracing::instrument(name = "crm.create_organization", skip_all)]
    pub async fn create_organization(
        &self,
        organization: &CrmOrganizationWrite,
    ) -> Result<CrmId, Error> {
        let url = self.inner.endpoints.organization_create.clone();
        let crm_id = organization.identity.crm_id.as_ref();
        self.create(ORGANIZATION_CREATE_PATH, url, crm_id, organization)
            .await
    }

    /// Updates the person named by `person.identity.crm_id` and returns its `crmId`.
    ///
    /// Send the whole record, built with `CrmPersonWrite::from(&fetched)` and then changed:
    /// whether the CRM replaces the record or only the fields sent is undocumented.
    ///
    /// Fails with [`Error::InvalidRequest`] when `crmId` is unset, with [`Error::Status`] on
    /// a non-2xx response (404 when the record is gone), and with
    /// [`Error::UpdateWithoutId`] when a 2xx response lacks the record's `crmId`.
    #[tracing::instrument(name = "crm.update_person", skip_all)]
    pub async fn update_person(&self, person: &CrmPersonWrite) -> Result<CrmId, Error> {
        let url = self.inner.endpoints.person_update.clone();
        let crm_id = person.identity.crm_id.as_ref();
        self.update(PERSON_UPDATE_PATH, url, crm_id, person).await
    }

    /// Updates the organization named by `organization.identity.crm_id` and returns its
    /// `crmId`. See [`CrmClient::update_person`].
    #[tracing::instrument(name = "crm.update_organization", skip_all)]
    pub async fn update_organization(
        &self,
        organization: &CrmOrganizationWrite,
    ) -> Result<CrmId, Error> {
        let url = self.inner.endpoints.organization_update.clone();
        let crm_id = organization.identity.crm_id.as_ref();
        self.update(ORGANIZATION_UPDATE_PATH, url, crm_id, organization)
            .await
    }

    async fn create<B: Serialize>(
        &self,
        path: &'static str,
        url: Url,
        crm_id: Option<&CrmId>,
        body: &B,
    ) -> Result<CrmId, Error> {
        if let Some(crm_id) = crm_id {
            return Err(Error::InvalidRequest {
                path: path.to_owned(),
                reason: format!(
                    "the body names record {crm_id}; a create must not set crmId, so call \
                     update to change an existing record"
                ),
            });
        }

        let started = Instant::now();
        let (status, response) = self.call(path, url, body).await?;
        if !status.is_success() {
            return Err(Error::status(path, status, &response));
        }
        // A 2xx alone proves nothing: a wrong path on a live CRM returned 201 with an empty
        // body.
        let created = match status {
            StatusCode::OK => written_id(&response),
            _ => None,
        };
        let crm_id = created.ok_or_else(|| Error::CreateWithoutId {
            path: path.to_owned(),
            status,
        })?;

        tracing::info!(
            crm.id = %crm_id,
            crm.path = path,
            duration_ms = started.elapsed().as_millis() as u64,
            "created a CRM record"
        );
        Ok(crm_id)
    }

    async fn update<B: Serialize>(
        &self,
        path: &'static str,
        url: Url,
        crm_id: Option<&CrmId>,
        body: &B,
    ) -> Result<CrmId, Error> {
        let Some(crm_id) = crm_id else {
            return Err(Error::InvalidRequest {
                path: path.to_owned(),
                reason: "crmId is missing; an update must name the record, so build the body \
                         from the fetched record"
                    .to_owned(),
            });
        };

        let started = Instant::now();
        let (status, response) = self.call(path, url, body).await?;
        if !status.is_success() {
            return Err(Error::status(path, status, &response));
        }
        if written_id(&response).as_ref() != Some(crm_id) {
            return Err(Error::UpdateWithoutId {
                path: path.to_owned(),
                status,
                crm_id: crm_id.clone(),
            });
        }

        tracing::info!(
            crm.id = %crm_id,
            crm.path = path,
            duration_ms = started.elapsed().as_millis() as u64,
            "updated a CRM record"
        );
        Ok(crm_id.clone())
    }
}

/// Returns the non-empty `crmId` of a create or update response body, if it has one.
fn written_id(body: &[u8]) -> Option<CrmId> {
    serde_json::from_slice::<CrmWriteResponse>(body)
        .ok()?
        .crm_id
}
