//! Login throttling, shared by `POST /v1/auth/login` and the console's
//! login form: per account and per client address, failures first cost a
//! growing wait, then a temporary lockout, and every lockout is audited.
//!
//! Per key (an account name, or a client address from
//! [`ClientAddr`](crate::client_addr::ClientAddr)):
//! - the first third of the allowed failures are free;
//! - after that, the next attempt must wait `backoff * 2^k` (k = failures
//!   past the free ones, minus one; at most [`MAX_BACKOFF`]);
//! - the failure that reaches the limit locks the key for the lockout
//!   time, and the lockout is written to the audit (`login_lockouts`);
//! - failures are forgotten a lockout time after the last one's wait
//!   ended, and a successful login clears its account's count.
//!
//! An attempt that must wait is answered 429 with `Retry-After` and its
//! password is never checked, so waiting out the throttle is the only way
//! on. Every attempt counts as a failure from the moment it starts and is
//! taken back only if it succeeds: parallel guesses cannot slip through
//! while the first ones are being hashed.
//!
//! Counters live in this process (bounded maps); lockouts are also read
//! back from the audit table, so a lockout holds on every server process
//! sharing the database. Unknown usernames are counted like known ones, so
//! the throttle does not tell which accounts exist.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;

/// Longest wait between two attempts before the lockout.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Keys remembered per map; beyond it, the oldest is forgotten.
const MAX_KEYS: usize = 100_000;

/// Flags of login throttling.
#[derive(Clone, Debug, Args)]
pub struct ThrottleSettings {
    /// Failed logins per account before a lockout (waits grow from a third of it).
    #[arg(
        long,
        env = "FIELDSYNC_LOGIN_MAX_FAILURES",
        default_value_t = 10,
        global = true
    )]
    pub login_max_failures: u32,
    /// Failed logins per client address before a lockout.
    #[arg(
        long,
        env = "FIELDSYNC_LOGIN_ADDRESS_MAX_FAILURES",
        default_value_t = 50,
        global = true
    )]
    pub login_address_max_failures: u32,
    /// How long a lockout lasts, in seconds (also how long failures are remembered).
    #[arg(
        long,
        env = "FIELDSYNC_LOGIN_LOCKOUT_SECS",
        default_value_t = 900,
        global = true
    )]
    pub login_lockout_secs: u64,
    /// First wait after the free failures, in milliseconds; doubles per failure.
    #[arg(
        long,
        env = "FIELDSYNC_LOGIN_BACKOFF_MS",
        default_value_t = 1000,
        global = true
    )]
    pub login_backoff_ms: u64,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            login_max_failures: 10,
            login_address_max_failures: 50,
            login_lockout_secs: 900,
            login_backoff_ms: 1000,
        }
    }
}

impl ThrottleSettings {
    pub fn lockout(&self) -> Duration {
        Duration::from_secs(self.login_lockout_secs)
    }
}

/// What is counted: an account name or a client address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Account,
    Address,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Address => "address",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "account" => Ok(Scope::Account),
            "address" => Ok(Scope::Address),
            other => Err(format!("unknown lockout scope {other:?}")),
        }
    }
}

/// Why an attempt may not go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub scope: Scope,
    /// Locked out (else: a backoff wait).
    pub locked: bool,
    pub retry_after: Duration,
}

impl Refused {
    /// Whole seconds to wait, at least 1 (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0)
    }
}

/// A lockout that started: what the audit records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lockout {
    pub scope: Scope,
    /// The account name, or the address the key was counted under.
    pub subject: String,
    pub failures: u32,
    pub duration: Duration,
}

#[derive(Clone, Copy, Debug)]
struct Count {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// The limits of one scope.
#[derive(Clone, Copy, Debug)]
struct Rule {
    max: u32,
    free: u32,
}

impl Rule {
    fn new(max: u32) -> Self {
        let max = max.max(1);
        Self {
            max,
            free: (max / 3).max(1),
        }
    }
}

struct Counter<K> {
    rule: Rule,
    keys: HashMap<K, Count>,
}

impl<K: std::hash::Hash + Eq + Clone> Counter<K> {
    fn new(max: u32) -> Self {
        Self {
            rule: Rule::new(max),
            keys: HashMap::new(),
        }
    }

    /// Whether a count is over: its lockout ended, or a lockout time
    /// passed since its wait ended (counted from the wait's end, so a
    /// wait longer than the lockout time is not a way to a clean slate).
    fn expired(rule: Rule, c: &Count, now: Instant, s: &ThrottleSettings) -> bool {
        match c.locked_until {
            Some(until) => now >= until,
            None => {
                let wait = match c.failures.checked_sub(rule.free) {
                    Some(past_free) => backoff(past_free, s),
                    None => Duration::ZERO,
                };
                now.saturating_duration_since(c.last) >= wait.saturating_add(s.lockout())
            }
        }
    }

    /// The key's live count (forgetting an expired one).
    fn current(&mut self, key: &K, now: Instant, s: &ThrottleSettings) -> Option<&mut Count> {
        let rule = self.rule;
        let expired = self
            .keys
            .get(key)
            .is_some_and(|c| Self::expired(rule, c, now, s));
        if expired {
            self.keys.remove(key);
        }
        self.keys.get_mut(key)
    }

    fn check(&mut self, key: &K, now: Instant, s: &ThrottleSettings) -> Option<(bool, Duration)> {
        let rule = self.rule;
        let c = self.current(key, now, s)?;
        if let Some(until) = c.locked_until {
            return Some((true, until - now));
        }
        if c.failures >= rule.free {
            let wait = backoff(c.failures - rule.free, s);
            let ready = c.last + wait;
            if now < ready {
                return Some((false, ready - now));
            }
        }
        None
    }

    fn count(&mut self, key: &K, now: Instant, s: &ThrottleSettings) {
        if !self.keys.contains_key(key) && self.keys.len() >= MAX_KEYS {
            let rule = self.rule;
            self.keys.retain(|_, c| !Self::expired(rule, c, now, s));
            if self.keys.len() >= MAX_KEYS
                && let Some(oldest) = self
                    .keys
                    .iter()
                    .filter(|(_, c)| c.locked_until.is_none())
                    .min_by_key(|(_, c)| c.last)
                    .map(|(k, _)| k.clone())
            {
                self.keys.remove(&oldest);
            }
        }
        let c = self.keys.entry(key.clone()).or_insert(Count {
            failures: 0,
            last: now,
            locked_until: None,
        });
        c.failures += 1;
        c.last = now;
    }

    /// After a failure: the wait runs from its answer (hashing the password
    /// took a while), and the key is locked if it reached the limit.
    fn failed(&mut self, key: &K, now: Instant, s: &ThrottleSettings) -> Option<u32> {
        let max = self.rule.max;
        let c = self.keys.get_mut(key)?;
        c.last = c.last.max(now);
        if c.failures >= max && c.locked_until.is_none() {
            c.locked_until = Some(now + s.lockout());
            return Some(c.failures);
        }
        None
    }

    /// Takes back an attempt that succeeded.
    fn undo(&mut self, key: &K) {
        if let Some(c) = self.keys.get_mut(key) {
            c.failures = c.failures.saturating_sub(1);
        }
    }
}

fn backoff(past_free: u32, s: &ThrottleSettings) -> Duration {
    let base = Duration::from_millis(s.login_backoff_ms);
    base.saturating_mul(1u32 << past_free.min(16))
        .min(MAX_BACKOFF)
}

/// The throttle, one per process (in the app state).
pub struct LoginThrottle {
    settings: ThrottleSettings,
    inner: Mutex<(Counter<String>, Counter<IpAddr>)>,
}

/// An attempt under way: report how it ended with [`LoginThrottle::finish`].
#[derive(Debug)]
#[must_use = "an attempt must be finished"]
pub struct Attempt {
    account: String,
    address: IpAddr,
}

impl LoginThrottle {
    pub fn new(settings: ThrottleSettings) -> Self {
        let inner = (
            Counter::new(settings.login_max_failures),
            Counter::new(settings.login_address_max_failures),
        );
        Self {
            settings,
            inner: Mutex::new(inner),
        }
    }

    pub fn settings(&self) -> &ThrottleSettings {
        &self.settings
    }

    /// Starts an attempt for `account` from `address` (a [`ClientAddr::limit_key`]),
    /// or says how long to wait.
    ///
    /// [`ClientAddr::limit_key`]: crate::client_addr::ClientAddr::limit_key
    pub fn begin(&self, account: &str, address: IpAddr, now: Instant) -> Result<Attempt, Refused> {
        let account = account_key(account);
        let s = &self.settings;
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (accounts, addresses) = &mut *guard;
        let refusals = [
            accounts
                .check(&account, now, s)
                .map(|r| (Scope::Account, r)),
            addresses
                .check(&address, now, s)
                .map(|r| (Scope::Address, r)),
        ];
        // A lockout outranks a wait; the longest wait is the one to report.
        if let Some((scope, (locked, retry_after))) = refusals
            .into_iter()
            .flatten()
            .max_by_key(|(_, (locked, wait))| (*locked, *wait))
        {
            return Err(Refused {
                scope,
                locked,
                retry_after,
            });
        }
        accounts.count(&account, now, s);
        addresses.count(&address, now, s);
        Ok(Attempt { account, address })
    }

    /// Ends an attempt; returns the lockouts it started (to be audited).
    pub fn finish(&self, attempt: Attempt, succeeded: bool, now: Instant) -> Vec<Lockout> {
        let s = &self.settings;
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (accounts, addresses) = &mut *guard;
        if succeeded {
            // The account is proven: its count starts over. The address's
            // is only taken back by one (a valid login between guesses
            // must not reset the guesser's count).
            accounts.keys.remove(&attempt.account);
            addresses.undo(&attempt.address);
            return Vec::new();
        }
        let mut started = Vec::new();
        if let Some(failures) = accounts.failed(&attempt.account, now, s) {
            started.push(Lockout {
                scope: Scope::Account,
                subject: attempt.account.clone(),
                failures,
                duration: s.lockout(),
            });
        }
        if let Some(failures) = addresses.failed(&attempt.address, now, s) {
            started.push(Lockout {
                scope: Scope::Address,
                subject: attempt.address.to_string(),
                failures,
                duration: s.lockout(),
            });
        }
        started
    }
}

/// The account key of a typed username: trimmed, lowercased (usernames
/// are case-insensitive), bounded.
pub fn account_key(username: &str) -> String {
    username.trim().to_lowercase().chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ThrottleSettings {
        ThrottleSettings {
            login_max_failures: 6,
            login_address_max_failures: 12,
            login_lockout_secs: 600,
            login_backoff_ms: 1000,
        }
    }

    const A: &str = "Ana";

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, n])
    }

    /// Fails one attempt (it must be allowed); returns the lockouts.
    fn fail(t: &LoginThrottle, account: &str, addr: IpAddr, now: Instant) -> Vec<Lockout> {
        let attempt = t.begin(account, addr, now).expect("allowed");
        t.finish(attempt, false, now)
    }

    #[test]
    fn free_failures_then_doubling_waits_then_a_lockout() {
        let t = LoginThrottle::new(settings());
        let mut now = Instant::now();
        // 6 allowed: free = 2, then waits of 1, 2, 4, 8 s.
        assert!(fail(&t, A, ip(1), now).is_empty());
        assert!(fail(&t, A, ip(2), now).is_empty());
        for wait in [1, 2, 4, 8] {
            let refused = t.begin("ana", ip(3), now).unwrap_err();
            assert_eq!(refused.scope, Scope::Account);
            assert!(!refused.locked);
            assert_eq!(refused.retry_after, Duration::from_secs(wait));
            now += Duration::from_secs(wait);
            let lockouts = fail(&t, " ANA ", ip(3), now);
            if wait < 8 {
                assert!(lockouts.is_empty());
            } else {
                assert_eq!(
                    lockouts,
                    [Lockout {
                        scope: Scope::Account,
                        subject: "ana".into(),
                        failures: 6,
                        duration: Duration::from_secs(600),
                    }]
                );
            }
        }
        // Locked: even much later within the lockout, from anywhere.
        now += Duration::from_secs(300);
        let refused = t.begin(A, ip(9), now).unwrap_err();
        assert!(refused.locked);
        assert_eq!(refused.retry_after, Duration::from_secs(300));
        assert_eq!(refused.retry_after_secs(), 300);
        // Other accounts are not affected by this account's lockout.
        assert!(t.begin("bob", ip(9), now).is_ok());
        // Over: a clean slate.
        now += Duration::from_secs(300);
        let attempt = t.begin(A, ip(9), now).expect("lockout over");
        assert!(t.finish(attempt, true, now).is_empty());
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let t = LoginThrottle::new(settings());
        let now = Instant::now();
        fail(&t, A, ip(1), now);
        fail(&t, A, ip(1), now);
        let ok = t.begin("bob", ip(1), now).unwrap();
        assert!(t.finish(ok, true, now).is_empty());
        // Ana's count is untouched by Bob's login: she must wait.
        assert!(t.begin(A, ip(2), now).is_err());
        // Bob's success cleared only Bob's count.
        let ok = t.begin(A, ip(2), now + Duration::from_secs(1)).unwrap();
        assert!(t.finish(ok, true, now + Duration::from_secs(1)).is_empty());
        assert!(t.begin(A, ip(2), now + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn one_address_spraying_many_accounts_is_locked_out() {
        let t = LoginThrottle::new(settings());
        let mut now = Instant::now();
        let mut lockouts = Vec::new();
        // 12 failures from one address, each on a different account.
        for n in 0..12 {
            loop {
                match t.begin(&format!("user{n}"), ip(7), now) {
                    Ok(a) => {
                        lockouts.extend(t.finish(a, false, now));
                        break;
                    }
                    Err(r) => {
                        assert_eq!(r.scope, Scope::Address);
                        now += r.retry_after;
                    }
                }
            }
        }
        assert_eq!(lockouts.len(), 1);
        assert_eq!(lockouts[0].scope, Scope::Address);
        assert_eq!(lockouts[0].subject, "203.0.113.7");
        let r = t.begin("someone", ip(7), now).unwrap_err();
        assert!(r.locked && r.scope == Scope::Address);
        // Another address is fine.
        assert!(t.begin("someone", ip(8), now).is_ok());
    }

    #[test]
    fn parallel_attempts_count_before_they_finish() {
        let t = LoginThrottle::new(settings());
        let now = Instant::now();
        // Two start (the free ones); the third must wait although neither finished.
        let a = t.begin(A, ip(1), now).unwrap();
        let b = t.begin(A, ip(1), now).unwrap();
        assert!(t.begin(A, ip(1), now).is_err());
        let _ = t.finish(a, false, now);
        let _ = t.finish(b, false, now);
    }

    #[test]
    fn a_wait_longer_than_the_lockout_time_does_not_forget_the_failures() {
        // Lockout 3 s, waits up to 4 s: the failures must still count after a 4 s wait.
        let t = LoginThrottle::new(ThrottleSettings {
            login_max_failures: 4,
            login_lockout_secs: 3,
            ..settings()
        });
        let mut now = Instant::now();
        assert!(fail(&t, A, ip(1), now).is_empty());
        for wait in [1, 2, 4] {
            let refused = t.begin(A, ip(1), now).unwrap_err();
            assert_eq!(refused.retry_after, Duration::from_secs(wait));
            now += refused.retry_after;
            let lockouts = fail(&t, A, ip(1), now);
            assert_eq!(lockouts.len(), usize::from(wait == 4), "after {wait} s");
        }
        // Forgotten a lockout time after the wait that would have followed.
        let t = LoginThrottle::new(ThrottleSettings {
            login_max_failures: 4,
            login_lockout_secs: 3,
            ..settings()
        });
        let now = Instant::now();
        fail(&t, A, ip(1), now);
        fail(&t, A, ip(1), now + Duration::from_secs(1));
        // Two failures: the next wait is 2 s, so forgotten 5 s after the last.
        assert!(t.begin(A, ip(1), now + Duration::from_secs(2)).is_err());
        let later = now + Duration::from_secs(1) + Duration::from_secs(5);
        let fresh = t.begin(A, ip(1), later).unwrap();
        let _ = t.finish(fresh, false, later);
        // A clean slate: that was a free failure again, the next waits 1 s.
        assert_eq!(
            t.begin(A, ip(1), later).unwrap_err().retry_after,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn failures_are_forgotten_after_the_lockout_time() {
        let t = LoginThrottle::new(settings());
        let now = Instant::now();
        fail(&t, A, ip(1), now);
        fail(&t, A, ip(1), now);
        assert!(t.begin(A, ip(1), now).is_err());
        assert!(t.begin(A, ip(1), now + Duration::from_secs(600)).is_ok());
    }
}
