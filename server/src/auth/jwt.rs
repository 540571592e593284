//! Access tokens: HS256 JWTs signed with keys from the `signing_keys` table,
//! so every server process sharing a database signs and verifies alike.
//!
//! The algorithm is pinned (HS256 only: `none`, HS512, RS256, ... are
//! rejected before any key is looked at). `exp`, `iat`, `sub`, `aud`
//! ("fieldsync") and `iss` ("fieldsync-server") are required; `nbf`, when a
//! token carries it (ours always do), is checked with the same leeway as
//! `exp`. The header's
//! `kid` names the key; an unknown kid reloads the keys from the store (at
//! most once per second, so garbage kids cannot hammer the database) and is
//! then a 401. Keys are also reloaded every minute, so a key rotated by
//! another process (`fieldsync admin rotate-key`) is used for signing soon
//! after; a retired key still verifies for the access-token lifetime plus a
//! margin.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use fieldsync_core::{Role, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::store::{DeviceId, SigningKey, Store, StoreError, now_utc};

pub const AUDIENCE: &str = "fieldsync";
pub const ISSUER: &str = "fieldsync-server";
pub const ALGORITHM: Algorithm = Algorithm::HS256;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 30;
/// How long a retired key keeps verifying, beyond the access-token lifetime.
const RETIRED_KEY_MARGIN: Duration = Duration::from_secs(10 * 60);
/// Minimum time between two reloads caused by unknown kids.
const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// How often [`JwtKeys::reload`] should run in the background.
pub const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    /// Not valid before (the issue time on our tokens). Optional on the
    /// wire so tokens issued before it was added still verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub aud: String,
    pub iss: String,
    /// The user's role when the token was issued (requests use the current one).
    pub role: Role,
    /// The device id the token was issued to.
    pub did: String,
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub role: Role,
}

struct KeySet {
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, DecodingKey>,
}

/// The key ring, built once into the app state.
pub struct JwtKeys {
    store: Arc<dyn Store>,
    access_ttl: Duration,
    keys: RwLock<KeySet>,
    /// When an unknown kid last caused a reload.
    last_reload: tokio::sync::Mutex<Option<Instant>>,
    validation: Validation,
}

impl JwtKeys {
    /// Loads the keys, creating the first one if the database has none.
    pub async fn load(store: Arc<dyn Store>, access_ttl: Duration) -> Result<Self, StoreError> {
        store.ensure_signing_key(&new_signing_key()).await?;
        let mut validation = Validation::new(ALGORITHM);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let keys = Self {
            store,
            access_ttl,
            keys: RwLock::new(KeySet {
                signing: None,
                verifying: HashMap::new(),
            }),
            last_reload: tokio::sync::Mutex::new(None),
            validation,
        };
        keys.reload().await?;
        Ok(keys)
    }

    /// Re-reads the keys from the store.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let margin = self.access_ttl + RETIRED_KEY_MARGIN;
        let retired_after = now_utc() - margin;
        let rows = self.store.signing_keys(retired_after).await?;
        let signing = rows
            .iter()
            .find(|k| k.retired_at.is_none())
            .map(|k| (k.kid.clone(), EncodingKey::from_secret(&k.secret)));
        let verifying = rows
            .iter()
            .map(|k| (k.kid.clone(), DecodingKey::from_secret(&k.secret)))
            .collect();
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = KeySet { signing, verifying };
        Ok(())
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// A signed access token for this user and device, valid for the access TTL.
    pub fn issue(
        &self,
        user_id: UserId,
        role: Role,
        device_id: DeviceId,
        now: OffsetDateTime,
    ) -> Result<String, ApiError> {
        let iat = u64::try_from(now.unix_timestamp()).map_err(ApiError::internal)?;
        let claims = Claims {
            sub: user_id.to_string(),
            exp: iat + self.access_ttl.as_secs(),
            iat,
            nbf: Some(iat),
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
            role,
            did: device_id.to_string(),
        };
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let (kid, key) = keys
            .signing
            .as_ref()
            .ok_or_else(|| ApiError::internal("no active signing key"))?;
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &claims, key).map_err(ApiError::internal)
    }

    /// Checks a bearer token. Every failure is the same 401 to the client;
    /// the reason goes to the debug log.
    pub async fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Verified, ApiError> {
        const INVALID: ApiError = ApiError::Unauthorized("invalid or expired access token");
        let reject = |why: &str| {
            tracing::debug!(reason = why, "access token rejected");
            INVALID
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| reject("bad header"))?;
        if header.alg != ALGORITHM {
            return Err(reject("algorithm"));
        }
        let kid = header.kid.ok_or_else(|| reject("no kid"))?;
        let key = match self.decoding_key(&kid) {
            Some(k) => k,
            None => {
                self.reload_for_unknown_kid().await;
                self.decoding_key(&kid)
                    .ok_or_else(|| reject("unknown kid"))?
            }
        };
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| reject(&e.to_string()))?;
        let claims = data.claims;
        let now_secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        if claims.iat > now_secs + LEEWAY_SECS {
            return Err(reject("issued in the future"));
        }
        Ok(Verified {
            user_id: claims.sub.parse().map_err(|_| reject("sub"))?,
            device_id: claims.did.parse().map_err(|_| reject("did"))?,
            role: claims.role,
        })
    }

    fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.verifying.get(kid).cloned()
    }

    async fn reload_for_unknown_kid(&self) {
        let mut last = self.last_reload.lock().await;
        if last.is_some_and(|t| t.elapsed() < MIN_RELOAD_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.reload().await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
    }
}

/// A fresh random key (256-bit secret, random kid), created now.
pub fn new_signing_key() -> SigningKey {
    SigningKey {
        kid: hex::encode(rand::random::<[u8; 8]>()),
        secret: rand::random::<[u8; 32]>().to_vec(),
        created_at: now_utc(),
        retired_at: None,
    }
}
