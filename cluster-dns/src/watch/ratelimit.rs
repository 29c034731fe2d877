//! The kubernetes plugin's `apiserver_qps`, `apiserver_burst` and `apiserver_max_inflight`
//! applied to the API client, as CoreDNS hands them to client-go: a token bucket of BURST
//! requests refilled at QPS a second (client-go's defaults, 5 and 10, for the one not given),
//! and at most N requests waiting for their response headers at once (a watch holds its slot
//! only until the API starts streaming). The bucket arithmetic is pure; the service around it
//! waits in `poll_ready`, so the client's buffer holds requests back.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// client-go's rest.Config defaults.
const DEFAULT_QPS: f64 = 5.0;
const DEFAULT_BURST: u32 = 10;

/// The limits a Corefile asks for (`None`: not given).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ApiLimits {
    pub qps: Option<f64>,
    pub burst: Option<u32>,
    pub max_inflight: Option<u32>,
}

impl ApiLimits {
    /// The token bucket's rate and size, when either is given.
    pub fn bucket(&self) -> Option<(f64, u32)> {
        if self.qps.is_none() && self.burst.is_none() {
            return None;
        }
        let qps = self.qps.filter(|q| *q > 0.0).unwrap_or(DEFAULT_QPS);
        let burst = self.burst.filter(|b| *b > 0).unwrap_or(DEFAULT_BURST);
        Some((qps, burst))
    }
}

/// A token bucket that starts full (client-go's): each request takes a token, and waits for
/// one when the bucket is empty.
#[derive(Debug)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(qps: f64, burst: u32, now: Instant) -> Self {
        Self {
            qps,
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Takes a token at `now`: how long the request must wait for it (zero when one was
    /// there). Tokens owed by waiting requests are counted, so waits queue up in order.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.qps)
        }
    }
}

/// The layer that puts a [`TokenBucket`] in front of the client's service.
#[derive(Clone)]
pub struct RateLimitLayer {
    bucket: Arc<Mutex<TokenBucket>>,
}

impl RateLimitLayer {
    pub fn new(qps: f64, burst: u32) -> Self {
        Self {
            bucket: Arc::new(Mutex::new(TokenBucket::new(qps, burst, Instant::now()))),
        }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            bucket: self.bucket.clone(),
            wait: None,
            granted: false,
        }
    }
}

pub struct RateLimited<S> {
    inner: S,
    bucket: Arc<Mutex<TokenBucket>>,
    /// Waiting for the token of the next request.
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The next request has its token.
    granted: bool,
}

impl<S, R> tower::Service<R> for RateLimited<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        if !self.granted {
            if self.wait.is_none() {
                let wait = self
                    .bucket
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .reserve(Instant::now());
                if !wait.is_zero() {
                    self.wait = Some(Box::pin(tokio::time::sleep(wait)));
                }
            }
            if let Some(sleep) = self.wait.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.wait = None;
            }
            self.granted = true;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.granted = false;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full at first (BURST at once), then one every 1/QPS seconds; idle time refills up to
    /// BURST and no more.
    #[test]
    fn token_bucket_waits_as_client_go_does() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, 3, start);
        let waits: Vec<u128> = (0..5).map(|_| bucket.reserve(start).as_millis()).collect();
        assert_eq!(waits, [0, 0, 0, 500, 1000]);
        // 10 s idle: the debt is paid and the bucket full again, not fuller.
        let later = start + Duration::from_secs(10);
        let waits: Vec<u128> = (0..4).map(|_| bucket.reserve(later).as_millis()).collect();
        assert_eq!(waits, [0, 0, 0, 500]);
    }

    #[test]
    fn defaults_are_client_gos() {
        let limits = |qps, burst| ApiLimits {
            qps,
            burst,
            max_inflight: None,
        };
        assert_eq!(limits(None, None).bucket(), None);
        assert_eq!(limits(Some(50.0), None).bucket(), Some((50.0, 10)));
        assert_eq!(limits(None, Some(100)).bucket(), Some((5.0, 100)));
        assert_eq!(limits(Some(20.0), Some(40)).bucket(), Some((20.0, 40)));
    }
}
