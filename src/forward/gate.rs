//! What the Kafka clients' error callbacks report, and when to stop connecting for a while.
//!
//! librdkafka reconnects on its own, backing off up to `reconnect.backoff.max.ms` (10 s): a
//! gateway with a wrong password logs in 6 times a minute for as long as it runs, and each
//! topic check starts a new client from a short backoff again. (Measured against the test
//! broker with a wrong SCRAM password, connections counted at a TCP proxy over 120 s: 15
//! without the gate, 47 with `create_topics`; with the gate 10 and 9, and fewer every minute
//! after. A newer librdkafka, 2.16 from PyPI, retried about 10 times a second.) A wrong password or an untrusted certificate does not fix itself, so on such a
//! failure the gate closes: the forwarder drops its client and the topic check gives up its
//! attempt, and both wait out a pause (1 s doubling to 5 min, reset by a delivery) before they
//! connect again, about 12 times an hour at most once the pause is long. The records wait in
//! the outbox meanwhile. Every failure is counted by cause in the status (`kafka_client_errors`,
//! `last_kafka_client_error`), by the clients' context ([`super::client::ReportingContext`]).

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::util::Backoff;

/// The first and the longest pause after an authentication or TLS failure.
pub const PAUSE_MIN: Duration = Duration::from_secs(1);
pub const PAUSE_MAX: Duration = Duration::from_secs(300);

/// The cause of a client error, as the status counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFailure {
    /// SASL: wrong credentials, an unknown user, a mechanism the broker does not offer.
    Authentication,
    /// The TLS handshake: an untrusted or expired broker certificate, a name that does not
    /// match, a refused client certificate.
    Tls,
    /// The broker could not be reached or dropped the connection.
    Transport,
    /// The principal may not do what the agent asked (ACLs).
    Authorization,
}

impl ClientFailure {
    pub fn name(self) -> &'static str {
        match self {
            ClientFailure::Authentication => "authentication",
            ClientFailure::Tls => "tls",
            ClientFailure::Transport => "transport",
            ClientFailure::Authorization => "authorization",
        }
    }

    /// The cause of a client error; `None` for errors that only summarise others ("all
    /// brokers are down") or are not about the connection.
    pub fn of(error: &KafkaError) -> Option<ClientFailure> {
        use RDKafkaErrorCode as C;
        match error.rdkafka_error_code()? {
            C::Authentication | C::SaslAuthenticationFailed | C::UnsupportedSASLMechanism => {
                Some(ClientFailure::Authentication)
            }
            C::SSL => Some(ClientFailure::Tls),
            C::BrokerTransportFailure | C::Resolve => Some(ClientFailure::Transport),
            C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::TransactionalIdAuthorizationFailed => Some(ClientFailure::Authorization),
            _ => None,
        }
    }

    /// A failure that retrying soon will not cure.
    fn closes_the_gate(self) -> bool {
        matches!(self, ClientFailure::Authentication | ClientFailure::Tls)
    }
}

#[derive(Debug)]
struct State {
    /// An authentication or TLS failure since the gate last opened.
    closed: Option<ClientFailure>,
    /// The cause of the last error recorded since the last delivery.
    last: Option<ClientFailure>,
    backoff: Backoff,
}

/// Shared by every Kafka client's context (writers) and the forwarder and topic check
/// (readers).
#[derive(Debug)]
pub struct Gate {
    state: Mutex<State>,
    /// Woken when the gate closes: the forwarder drops its producer at once (librdkafka would
    /// try again within 50 to 100 ms).
    pub closing: tokio::sync::Notify,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            state: Mutex::new(State {
                closed: None,
                last: None,
                backoff: Backoff::new(PAUSE_MIN, PAUSE_MAX),
            }),
            closing: tokio::sync::Notify::new(),
        }
    }
}

impl Gate {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A client reported `error`. Returns its cause, and whether it differs from the cause of
    /// the error before it (since the last delivery): the one to log loudly.
    pub fn record(&self, error: &KafkaError) -> Option<(ClientFailure, bool)> {
        let failure = ClientFailure::of(error)?;
        let mut s = self.state();
        let new = s.last.replace(failure) != Some(failure);
        if failure.closes_the_gate() && s.closed.is_none() {
            s.closed = Some(failure);
            self.closing.notify_one();
        }
        Some((failure, new))
    }

    /// The failure that closed the gate, if one did since it last opened.
    pub fn closed(&self) -> Option<ClientFailure> {
        self.state().closed
    }

    /// How long to stay away before the next try, which reopens the gate (a failure then
    /// closes it again). Each call doubles the pause, up to [`PAUSE_MAX`].
    pub fn pause(&self) -> Duration {
        let mut s = self.state();
        s.closed = None;
        s.backoff.next_delay()
    }

    /// Pauses taken since the last delivery.
    pub fn pauses(&self) -> u32 {
        self.state().backoff.attempts()
    }

    /// A delivery went through: the next failure pauses from [`PAUSE_MIN`] again.
    pub fn delivered(&self) {
        let mut s = self.state();
        s.backoff.reset();
        s.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(code: RDKafkaErrorCode) -> KafkaError {
        KafkaError::Global(code)
    }

    #[test]
    fn causes_are_told_apart_and_only_authentication_and_tls_close_the_gate() {
        let g = Gate::default();
        assert_eq!(
            g.record(&global(RDKafkaErrorCode::BrokerTransportFailure)),
            Some((ClientFailure::Transport, true))
        );
        assert_eq!(
            g.record(&global(RDKafkaErrorCode::BrokerTransportFailure)),
            Some((ClientFailure::Transport, false))
        );
        assert_eq!(
            g.record(&global(RDKafkaErrorCode::TopicAuthorizationFailed)),
            Some((ClientFailure::Authorization, true))
        );
        assert_eq!(g.record(&global(RDKafkaErrorCode::AllBrokersDown)), None);
        assert_eq!(g.closed(), None);
        assert_eq!(
            g.record(&global(RDKafkaErrorCode::Authentication)),
            Some((ClientFailure::Authentication, true))
        );
        assert_eq!(g.closed(), Some(ClientFailure::Authentication));
        assert_eq!(
            g.record(&global(RDKafkaErrorCode::SSL)),
            Some((ClientFailure::Tls, true))
        );
        // The first cause stays the reason the gate closed.
        assert_eq!(g.closed(), Some(ClientFailure::Authentication));
        g.delivered();
        assert_eq!(
            g.record(&global(RDKafkaErrorCode::SSL)),
            Some((ClientFailure::Tls, true))
        );
    }

    #[test]
    fn pauses_double_until_a_delivery_and_taking_one_reopens_the_gate() {
        let g = Gate::default();
        let mut pauses = Vec::new();
        for _ in 0..12 {
            g.record(&global(RDKafkaErrorCode::SSL));
            assert!(g.closed().is_some());
            pauses.push(g.pause());
            assert_eq!(g.closed(), None);
        }
        // Jitter takes up to half off: the n-th pause is within [min·2ⁿ/2, min·2ⁿ], capped.
        for (n, p) in pauses.iter().enumerate() {
            let full = PAUSE_MIN.saturating_mul(1 << n).min(PAUSE_MAX);
            assert!(*p >= full / 2 && *p <= full, "pause {n}: {p:?}");
        }
        g.delivered();
        assert!(g.pause() <= PAUSE_MIN);
    }
}
