//! Serializers and deserializers that give Kafka's bytes: UTF-8 strings,
//! big-endian integers and floats, raw bytes, and unit (Kafka's `Void`: no
//! bytes at all, a null key or value). serde JSON is not included (the
//! library takes no JSON dependency); implement [`Serializer`] for it.

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
