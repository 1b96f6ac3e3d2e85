//! Webhook delivery deduplication: Redis `SET NX EX` when Redis is configured, an in-process
//! map otherwise.
//!
//! Deduplication here is only a first filter. The job store decides for good: a delivery
//! coalesces into a job only while that job is still waiting (see `Store::enqueue_job`), so a
//! stale key can never drop a change that arrives after its job was claimed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error("could not connect to Redis: {0}")]
    Connect(#[source] redis::RedisError),
    #[error("Redis command failed: {0}")]
    Command(#[source] redis::RedisError),
}

/// The deduplication backend.
#[derive(Clone)]
pub enum Dedup {
    Redis {
        connection: ConnectionManager,
        prefix: String,
    },
    InProcess {
        seen: Arc<Mutex<HashMap<String, Instant>>>,
        prefix: String,
    },
}

impl std::fmt::Debug for Dedup {
    // The connection manager carries the Redis URL, which may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dedup::Redis { prefix, .. } => write!(f, "Dedup::Redis({prefix})"),
            Dedup::InProcess { prefix, .. } => write!(f, "Dedup::InProcess({prefix})"),
        }
    }
}

/// Entry count at which the in-process map sweeps expired entries.
const IN_PROCESS_SWEEP_AT: usize = 10_000;

impl Dedup {
    /// Connects to Redis, or returns the in-process backend when `redis_url` is `None`.
    pub async fn connect(redis_url: Option<&str>, prefix: &str) -> Result<Dedup, DedupError> {
        let Some(url) = redis_url else {
            return Ok(Dedup::in_process(prefix));
        };
        let client = redis::Client::open(url).map_err(DedupError::Connect)?;
        let connection = ConnectionManager::new(client)
            .await
            .map_err(DedupError::Connect)?;
        Ok(Dedup::Redis {
            connection,
            prefix: prefix.to_owned(),
        })
    }

    pub fn in_process(prefix: &str) -> Dedup {
        Dedup::InProcess {
            seen: Arc::default(),
            prefix: prefix.to_owned(),
        }
    }

    pub fn is_redis(&self) -> bool {
        matches!(self, Dedup::Redis { .. })
    }

    /// Returns `true` for the first delivery of `key` within `ttl`, `false` for a repeat.
    pub async fn first_delivery(&self, key: &str, ttl: Duration) -> Result<bool, DedupError> {
        match self {
            Dedup::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let set: Option<String> = redis::cmd("SET")
                    .arg(format!("{prefix}:{key}"))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl.as_secs().max(1))
                    .query_async(&mut connection)
                    .await
                    .map_err(DedupError::Command)?;
                Ok(set.is_some())
            }
            Dedup::InProcess { seen, prefix } => {
                let now = Instant::now();
                let mut seen = seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if seen.len() >= IN_PROCESS_SWEEP_AT {
                    seen.retain(|_, expires| *expires > now);
                }
                let full_key = format!("{prefix}:{key}");
                match seen.get(&full_key) {
                    Some(expires) if *expires > now => Ok(false),
                    _ => {
                        seen.insert(full_key, now + ttl);
                        Ok(true)
                    }
                }
            }
        }
    }

    /// Forgets `key`, so the next delivery counts as a first one.
    pub async fn forget(&self, key: &str) -> Result<(), DedupError> {
        match self {
            Dedup::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let _: i64 = redis::cmd("DEL")
                    .arg(format!("{prefix}:{key}"))
                    .query_async(&mut connection)
                    .await
                    .map_err(DedupError::Command)?;
                Ok(())
            }
            Dedup::InProcess { seen, prefix } => {
                let mut seen = seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                seen.remove(&format!("{prefix}:{key}"));
                Ok(())
            }
        }
    }

    /// Checks that the backend responds; the in-process backend always does.
    pub async fn ping(&self) -> Result<(), DedupError> {
        match self {
            Dedup::Redis { connection, .. } => {
                let mut connection = connection.clone();
                let _: String = redis::cmd("PING")
                    .query_async(&mut connection)
                    .await
                    .map_err(DedupError::Command)?;
                Ok(())
            }
            Dedup::InProcess { .. } => Ok(()),
        }
    }
}

/// Key of one record's webhook deliveries.
pub fn delivery_key(entity: &str, record_id: &str) -> String {
    format!("webhook:{entity}:{record_id}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn check_backend(dedup: Dedup) {
        let key = delivery_key("customer", &uuid::Uuid::new_v4().to_string());

        assert!(
            dedup
                .first_delivery(&key, Duration::from_secs(60))
                .await
                .unwrap()
        );
        assert!(
            !dedup
                .first_delivery(&key, Duration::from_secs(60))
                .await
                .unwrap()
        );
        dedup.forget(&key).await.unwrap();
        assert!(
            dedup
                .first_delivery(&key, Duration::from_secs(60))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn in_process_backend_reports_repeats() {
        check_backend(Dedup::in_process("test")).await;
    }

    #[tokio::test]
    async fn in_process_entries_expire() {
        let dedup = Dedup::in_process("test");

        assert!(
            dedup
                .first_delivery("k", Duration::from_millis(20))
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(40)).await;

        assert!(
            dedup
                .first_delivery("k", Duration::from_millis(20))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn redis_backend_reports_repeats() {
        let url = std::env::var("TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
        let prefix = format!("siagh-sync-test-{}", uuid::Uuid::new_v4().simple());
        let dedup = Dedup::connect(Some(&url), &prefix)
            .await
            .expect("Redis must be reachable at TEST_REDIS_URL (default redis://127.0.0.1:6379)");

        dedup.ping().await.unwrap();
        check_backend(dedup).await;
    }
}
