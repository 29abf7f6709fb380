//! Clients of a store: consumers with committed offsets (kept, as in Kafka,
//! in the compacted internal topic `__consumer_offsets`) and group
//! administration.
//!
//! Compatibility note: an embedded store gives `__consumer_offsets` one
//! partition by default (`offsets.topic.num.partitions`); with Kafka's 50,
//! each group's commits land on the partition Kafka would choose.

mod committed;
mod consumer;
mod group;
pub(crate) mod offsets_codec;
mod producer;
mod serde;

pub(crate) use committed::{Committed, expire as expire_committed};
pub use committed::{GroupPartitionOffsets, INTERNAL_TOPICS, OFFSETS_TOPIC, OffsetReset};
#[cfg(feature = "async")]
pub use consumer::PollRecords;
pub use consumer::{AutoOffsetReset, Consumer, ConsumerConfig, PolledRecord};
pub(crate) use group::Groups;
pub use producer::{Producer, ProducerConfig, SendHandle};
#[cfg(feature = "json")]
pub use serde::JsonSerde;
pub use serde::{BytesSerde, Deserializer, NumberSerde, Serializer, StringSerde, UnitSerde};
