//! Password hashing: argon2id with the crate's default (OWASP) parameters,
//! stored as PHC strings. Hashing is slow on purpose, so it runs on the
//! blocking pool.
//!
//! Memory: each hash needs a 19 MiB work buffer. Allocated per call, glibc
//! serves the first from mmap, then raises its mmap threshold past that
//! size, so later buffers come from the per-thread arenas of tokio's
//! blocking threads and stay resident there: one login wave of 100
//! technicians left the server at ~1 GiB. Instead at most one hash per core
//! runs at once (more logins wait their turn, which costs them no more than
//! sharing the cores would) and each borrows a buffer from a pool that
//! never holds more than that many, so hashing keeps at most
//! cores x 19 MiB, allocated once and reused.

use std::sync::{Mutex, OnceLock, PoisonError};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password may have at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed")]
    Task,
}

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The PHC string (`$argon2id$v=19$...`) of a new password.
pub async fn hash_password(password: String) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    let slot = slots().acquire().await.map_err(|_| PasswordError::Task)?;
    // The slot moves into the task: a caller that goes away (a timed-out
    // request) frees it only when the hash has finished.
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        hash_now(&password)
    })
    .await
    .map_err(|_| PasswordError::Task)?
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let salt = Salt::new(&rand::random::<[u8; Salt::RECOMMENDED_LENGTH]>())
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    let params = Params::DEFAULT;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(
        Algorithm::Argon2id,
        Version::V0x13,
        &params,
        password,
        &salt,
        &mut out,
    )?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| PasswordError::Hash(e.to_string()))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| PasswordError::Hash(e.to_string()))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches `phc`. With `phc = None` (unknown user) it
/// checks against a dummy hash, so both cases take the same time.
pub async fn verify_password(password: String, phc: Option<String>) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(slot) = slots().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| dummy_hash().to_owned());
        match verify_now(&password, &phc) {
            Ok(ok) => ok && known,
            Err(e) => {
                tracing::error!(error = %e, "stored password hash cannot be checked");
                false
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// What argon2's own `verify_password` does, with a pooled buffer: hash
/// with the stored hash's algorithm, version, parameters and salt, and
/// compare the outputs in constant time (`Output`'s `PartialEq`).
fn verify_now(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let bad = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let parsed = PasswordHash::new(phc).map_err(|e| bad(&e))?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(PasswordError::Hash("no salt or no hash".into()));
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| bad(&e))?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| bad(&e))?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|e| bad(&e))?;
    let mut out = vec![0u8; expected.len()];
    compute(algorithm, version, &params, password, salt, &mut out)?;
    let computed = Output::new(&out).map_err(|e| bad(&e))?;
    Ok(&computed == expected)
}

/// Hashes into `out` with a work buffer from the pool.
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), PasswordError> {
    let blocks = params.block_count();
    let mut buffer = BUFFERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop()
        .unwrap_or_default();
    // Every block is written before it is read, so a reused buffer needs
    // no clearing; only its length follows the parameters.
    buffer.resize(blocks, Block::default());
    let result = Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut buffer[..])
        .map_err(|e| PasswordError::Hash(e.to_string()));
    give_back(buffer);
    result
}

/// Work buffers not in use. At most [`slot_count`] exist, one per hash
/// running; a buffer of other than today's size (a hash stored with other
/// parameters) is not kept.
static BUFFERS: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

fn give_back(buffer: Vec<Block>) {
    if buffer.len() != Params::DEFAULT.block_count() {
        return;
    }
    let mut pool = BUFFERS.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() < slot_count() {
        pool.push(buffer);
    }
}

/// Hashes that may run at once: one per core. Hashing is CPU-bound, so
/// more at once would only share the same cores while holding more memory.
fn slot_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(slot_count()))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = hex::encode(rand::random::<[u8; 16]>());
        hash_now(&random).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    #[tokio::test]
    async fn hashes_verify_and_reject() {
        let phc = hash_password("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(phc.clone())).await);
        assert!(!verify_password("wrong horse".into(), Some(phc)).await);
        assert!(!verify_password("anything".into(), None).await);
        assert!(matches!(
            hash_password("short".into()).await,
            Err(PasswordError::TooShort)
        ));
    }

    #[tokio::test]
    async fn agrees_with_the_argon2_crate_and_reuses_at_most_one_buffer_per_core() {
        // A hash the crate made (as stored before the pool) verifies here,
        // and one made here verifies with the crate.
        let theirs = argon2::password_hash::PasswordHasher::hash_password(
            &Argon2::default(),
            b"correct horse",
        )
        .unwrap()
        .to_string();
        assert!(verify_password("correct horse".into(), Some(theirs.clone())).await);
        assert!(!verify_password("correct horsf".into(), Some(theirs)).await);
        let ours = hash_password("battery staple".into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"battery staple", &parsed)
                .is_ok()
        );
        // Hashes with other parameters verify too; their buffer is not kept.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        );
        let other = argon2::password_hash::PasswordHasher::hash_password(&small, b"other pass")
            .unwrap()
            .to_string();
        assert!(verify_password("other pass".into(), Some(other)).await);

        let logins: Vec<_> = (0..8)
            .map(|_| tokio::spawn(verify_password("correct horse".into(), Some(ours.clone()))))
            .collect();
        for login in logins {
            assert!(!login.await.unwrap(), "the wrong password for this hash");
        }
        let pool = BUFFERS.lock().unwrap();
        assert!(pool.len() <= slot_count(), "{} buffers kept", pool.len());
        assert!(
            pool.iter()
                .all(|b| b.len() == Params::DEFAULT.block_count())
        );
    }
}
