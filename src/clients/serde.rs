//! Serializers and deserializers that give Kafka's bytes: UTF-8 strings,
//! big-endian integers and floats, raw bytes, and unit (Kafka's `Void`: no
//! bytes at all, a null key or value); with the `json` feature, serde JSON
//! ([`JsonSerde`]).

use bytes::Bytes;

/// Turns a `T` into the bytes of a key or value.
pub trait Serializer<T: ?Sized>: Send + Sync {
    /// The bytes; `None` is a null key or value.
    ///
    /// # Errors
    ///
    /// A message saying why `data` cannot be serialized.
    fn serialize(&self, data: &T) -> Result<Option<Vec<u8>>, String>;
}

/// Turns the bytes of a key or value back into a `T`.
pub trait Deserializer<T>: Send + Sync {
    /// The value of `data` (`None`: a null key or value).
    ///
    /// # Errors
    ///
    /// A message saying why the bytes are not a `T`; the consumer wraps it
    /// in [`crate::Error::Deserialization`] with topic, partition and offset.
    fn deserialize(&self, data: Option<&[u8]>) -> Result<T, String>;
}

/// UTF-8 strings (Kafka's `StringSerializer`); a null deserializes as "".
///
/// ```
/// use topiclog::{Deserializer, Serializer, StringSerde};
/// assert_eq!(StringSerde.serialize("héllo").unwrap(), Some("héllo".as_bytes().to_vec()));
/// assert_eq!(StringSerde.deserialize(Some(b"ok")), Ok("ok".to_string()));
/// assert!(Deserializer::<String>::deserialize(&StringSerde, Some(&[0xff])).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerde;

impl Serializer<str> for StringSerde {
    fn serialize(&self, data: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(data.as_bytes().to_vec()))
    }
}

impl Serializer<String> for StringSerde {
    fn serialize(&self, data: &String) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(data.as_bytes().to_vec()))
    }
}

impl Deserializer<String> for StringSerde {
    fn deserialize(&self, data: Option<&[u8]>) -> Result<String, String> {
        // A null (tombstone) value reads as the empty string: `String` has no null.
        String::from_utf8(data.unwrap_or_default().to_vec()).map_err(|e| format!("not UTF-8: {e}"))
    }
}

/// Big-endian numbers, as Kafka's `ShortSerializer`, `IntegerSerializer`,
/// `LongSerializer`, `FloatSerializer` and `DoubleSerializer` write them.
///
/// ```
/// use topiclog::{Deserializer, NumberSerde, Serializer};
/// assert_eq!(NumberSerde.serialize(&258i32).unwrap(), Some(vec![0, 0, 1, 2]));
/// assert_eq!(Deserializer::<i64>::deserialize(&NumberSerde, Some(&[0, 0, 0, 0, 0, 0, 0, 7])), Ok(7));
/// assert!(Deserializer::<i16>::deserialize(&NumberSerde, Some(&[1])).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NumberSerde;

macro_rules! numbers {
    ($($t:ty),*) => {$(
        impl Serializer<$t> for NumberSerde {
            fn serialize(&self, data: &$t) -> Result<Option<Vec<u8>>, String> {
                Ok(Some(data.to_be_bytes().to_vec()))
            }
        }
        impl Deserializer<$t> for NumberSerde {
            fn deserialize(&self, data: Option<&[u8]>) -> Result<$t, String> {
                let data = data.ok_or_else(|| "null where a number was expected".to_string())?;
                let bytes = <[u8; std::mem::size_of::<$t>()]>::try_from(data).map_err(|_| {
                    format!("{} bytes where {} were expected", data.len(), std::mem::size_of::<$t>())
                })?;
                Ok(<$t>::from_be_bytes(bytes))
            }
        }
    )*};
}

numbers!(i16, i32, i64, f32, f64);

/// Raw bytes (Kafka's `ByteArraySerializer`/`BytesSerializer`), kept null when null.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerde;

impl Serializer<[u8]> for BytesSerde {
    fn serialize(&self, data: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(data.to_vec()))
    }
}

impl Serializer<Vec<u8>> for BytesSerde {
    fn serialize(&self, data: &Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(data.clone()))
    }
}

impl Serializer<Bytes> for BytesSerde {
    fn serialize(&self, data: &Bytes) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(data.to_vec()))
    }
}

impl Deserializer<Vec<u8>> for BytesSerde {
    fn deserialize(&self, data: Option<&[u8]>) -> Result<Vec<u8>, String> {
        // A null (tombstone) value reads as no bytes.
        Ok(data.unwrap_or_default().to_vec())
    }
}

impl Deserializer<Option<Bytes>> for BytesSerde {
    fn deserialize(&self, data: Option<&[u8]>) -> Result<Option<Bytes>, String> {
        Ok(data.map(Bytes::copy_from_slice))
    }
}

/// Unit: no bytes (Kafka's `VoidSerializer`), for topics without keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitSerde;

impl Serializer<()> for UnitSerde {
    fn serialize(&self, _: &()) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

impl Deserializer<()> for UnitSerde {
    fn deserialize(&self, data: Option<&[u8]>) -> Result<(), String> {
        match data {
            None => Ok(()),
            Some(d) => Err(format!("{} bytes where none were expected", d.len())),
        }
    }
}

/// serde JSON (the `json` feature): any `T: serde::Serialize` as JSON text,
/// read back into any `T: serde::de::DeserializeOwned`, as Kafka's
/// `JsonSerializer`/`JsonDeserializer` write and read it. A null key or value
/// reads as JSON `null` (so `Option<T>` gives `None`; other types fail).
///
/// ```
/// use std::collections::BTreeMap;
/// use topiclog::{Deserializer, JsonSerde, Serializer};
/// let serde = JsonSerde::<BTreeMap<String, i64>>::new();
/// let order = BTreeMap::from([("qty".to_string(), 3)]);
/// assert_eq!(serde.serialize(&order).unwrap(), Some(br#"{"qty":3}"#.to_vec()));
/// assert_eq!(serde.deserialize(Some(br#"{"qty":3}"#)), Ok(order));
/// assert!(serde.deserialize(Some(b"not json")).is_err());
/// ```
#[cfg(feature = "json")]
pub struct JsonSerde<T: ?Sized> {
    // `fn(&T)`: Send, Sync, Copy whatever `T` is.
    _type: std::marker::PhantomData<fn(&T)>,
}

#[cfg(feature = "json")]
impl<T: ?Sized> JsonSerde<T> {
    /// A JSON serializer and deserializer of `T`.
    #[must_use]
    pub const fn new() -> Self {
        Self { _type: std::marker::PhantomData }
    }
}

#[cfg(feature = "json")]
impl<T: ?Sized> Default for JsonSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "json")]
impl<T: ?Sized> Clone for JsonSerde<T> {
    fn clone(&self) -> Self {
        *self
    }
}

#[cfg(feature = "json")]
impl<T: ?Sized> Copy for JsonSerde<T> {}

#[cfg(feature = "json")]
impl<T: ?Sized> std::fmt::Debug for JsonSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonSerde<{}>", std::any::type_name::<T>())
    }
}

#[cfg(feature = "json")]
impl<T: ::serde::Serialize + ?Sized> Serializer<T> for JsonSerde<T> {
    fn serialize(&self, data: &T) -> Result<Option<Vec<u8>>, String> {
        serde_json::to_vec(data).map(Some).map_err(|e| format!("not JSON-serializable: {e}"))
    }
}

#[cfg(feature = "json")]
impl<T: ::serde::de::DeserializeOwned> Deserializer<T> for JsonSerde<T> {
    fn deserialize(&self, data: Option<&[u8]>) -> Result<T, String> {
        serde_json::from_slice(data.unwrap_or(b"null"))
            .map_err(|e| format!("not JSON for {}: {e}", std::any::type_name::<T>()))
    }
}
