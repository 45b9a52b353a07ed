//! What a delivery result means to the forwarder: delivered, never (dead letters), a topic that
//! refuses the agent, a record purged with a dropped producer, or a failure to retry.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Errors after which Kafka will never take the record, however often it is sent: it goes
/// to the dead letters ([`crate::outbox::dead`]) instead of being retried.
pub fn is_permanent(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidRecord
    )
}

/// A record librdkafka gave back unsent because its producer was dropped.
pub(super) fn purged(e: &DeliveryError) -> bool {
    match e {
        DeliveryError::Kafka(k) => matches!(
            k.rdkafka_error_code(),
            Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
        ),
        DeliveryError::ReportLost => false,
    }
}

/// The permanent error in a delivery failure, if it is one.
pub(super) fn permanent(e: &KafkaError) -> Option<RDKafkaErrorCode> {
    match e {
        KafkaError::MessageProduction(code) if is_permanent(*code) => Some(*code),
        _ => None,
    }
}

/// The topic refuses the agent: not allowed to write to it, or it does not exist. The class
/// waits (retried with its backoff) and the budget evicts its records first
/// ([`crate::outbox::Outbox::set_refused`]) until one of its records is delivered.
pub(super) fn topic_refuses(e: &DeliveryError) -> bool {
    matches!(
        e,
        DeliveryError::Kafka(KafkaError::MessageProduction(
            RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
        ))
    )
}

/// Why one record was not delivered (it stays in the outbox and is sent again).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The broker or librdkafka refused or timed out the message.
    #[error("{0}")]
    Kafka(KafkaError),
    #[error("delivery report lost (producer closed)")]
    ReportLost,
}
