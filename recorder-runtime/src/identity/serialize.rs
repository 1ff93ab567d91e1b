//! The canonical text of a request whose body is still a Rust value: serialized
//! straight into the canonical tree, without writing JSON text and reading it back.
//!
//! The result is exactly what [`request_canonical`](super::request_canonical) gives
//! for `serde_json::to_vec(body)`; whatever this serializer cannot reproduce with
//! certainty (an integer beyond 64 bits, `serde_json::value::RawValue`, an
//! unusual map key) is an error, and the caller takes the byte path instead.

use super::{finish_canonical, Canon};
use serde::ser::{self, Serialize};
use std::borrow::Cow;
use std::fmt;

/// [`request_canonical`](super::request_canonical) of `serde_json::to_vec(body)`,
/// computed from `body` itself; `None` when the serializer leaves the case to the
/// byte path (see the module docs) or `body` fails to serialize.
///
/// ```
/// use recorder_runtime::identity::{request_canonical, request_canonical_of};
/// use serde_json::json;
/// let body = json!({"model": "m", "temperature": 0.7, "messages": [{"role": "user", "content": "hi\n"}]});
/// let bytes = serde_json::to_vec(&body).unwrap();
/// assert_eq!(
///     request_canonical_of("POST", "/v1/chat/completions", &body, &[], Some("t")),
///     Some(request_canonical("POST", "/v1/chat/completions", &bytes, &[], Some("t"))),
/// );
/// ```
pub fn request_canonical_of<T: Serialize + ?Sized>(
    method: &str,
    endpoint: &str,
    body: &T,
    ignore: &[String],
    test_id: Option<&str>,
) -> Option<String> {
    let canon = body.serialize(CanonSerializer).ok()?;
    let mut out = String::with_capacity(endpoint.len() + 1024);
    out.push_str("{\"body\":");
    canon.write_body(ignore, &mut out);
    Some(finish_canonical(method, endpoint, test_id, out))
}

/// Why the serializer gave up; never shown to users (the byte path takes over).
#[derive(Debug)]
pub(super) struct Unsupported(String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

fn unsupported<T>(what: &str) -> Result<T, Unsupported> {
    Err(Unsupported(what.into()))
}

type Owned = Canon<'static>;

/// serde_json writes these struct names for values it spells itself (raw JSON text,
/// arbitrary-precision numbers); only its own serializer understands them.
fn is_serde_json_private(name: &str) -> bool {
    name.starts_with("$serde_json::private::")
}

/// A float as serde_json writes it and reads it back: non-finite floats are `null`.
fn float(v: f64) -> Owned {
    serde_json::Number::from_f64(v).map_or(Canon::Null, Canon::Num)
}

struct CanonSerializer;

impl ser::Serializer for CanonSerializer {
    type Ok = Owned;
    type Error = Unsupported;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Variant<Seq>;
    type SerializeMap = Map;
    type SerializeStruct = Map;
    type SerializeStructVariant = Variant<Map>;

    fn serialize_bool(self, v: bool) -> Result<Owned, Unsupported> {
        Ok(Canon::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Owned, Unsupported> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Owned, Unsupported> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Owned, Unsupported> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Owned, Unsupported> {
        Ok(Canon::Num(v.into()))
    }
    fn serialize_i128(self, v: i128) -> Result<Owned, Unsupported> {
        match (i64::try_from(v), u64::try_from(v)) {
            (Ok(v), _) => self.serialize_i64(v),
            (_, Ok(v)) => self.serialize_u64(v),
            // serde_json reads such a literal back as a float: left to the byte path.
            _ => unsupported("an integer beyond 64 bits"),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<Owned, Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Owned, Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Owned, Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Owned, Unsupported> {
        Ok(Canon::Num(v.into()))
    }
    fn serialize_u128(self, v: u128) -> Result<Owned, Unsupported> {
        match u64::try_from(v) {
            Ok(v) => self.serialize_u64(v),
            Err(_) => unsupported("an integer beyond 64 bits"),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<Owned, Unsupported> {
        // serde_json writes an f32 in its shortest f32 spelling (0.7 for 0.7f32), which
        // reads back as the f64 nearest to that text, not as `v as f64`.
        if !v.is_finite() {
            return Ok(Canon::Null);
        }
        let mut buf = ryu::Buffer::new();
        let text = buf.format_finite(v);
        Ok(float(
            text.parse().map_err(|_| Unsupported("an f32".into()))?,
        ))
    }
    fn serialize_f64(self, v: f64) -> Result<Owned, Unsupported> {
        Ok(float(v))
    }
    fn serialize_char(self, v: char) -> Result<Owned, Unsupported> {
        Ok(Canon::Str(Cow::Owned(v.to_string())))
    }
    fn serialize_str(self, v: &str) -> Result<Owned, Unsupported> {
        Ok(Canon::Str(Cow::Owned(v.to_owned())))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Owned, Unsupported> {
        Ok(Canon::Arr(
            v.iter().map(|b| Canon::Num(u64::from(*b).into())).collect(),
        ))
    }
    fn serialize_none(self) -> Result<Owned, Unsupported> {
        Ok(Canon::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Owned, Unsupported> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Owned, Unsupported> {
        Ok(Canon::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Owned, Unsupported> {
        Ok(Canon::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Owned, Unsupported> {
        Ok(Canon::Str(Cow::Borrowed(variant)))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<Owned, Unsupported> {
        if is_serde_json_private(name) {
            return unsupported(name);
        }
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Owned, Unsupported> {
        Ok(Canon::Obj(vec![(
            Cow::Borrowed(variant),
            v.serialize(self)?,
        )]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq, Unsupported> {
        Ok(Seq(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Seq>, Unsupported> {
        Ok(Variant(variant, self.serialize_seq(Some(len))?))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Map, Unsupported> {
        Ok(Map {
            entries: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Map, Unsupported> {
        if is_serde_json_private(name) {
            return unsupported(name);
        }
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Map>, Unsupported> {
        Ok(Variant(variant, self.serialize_map(Some(len))?))
    }
}

struct Seq(Vec<Owned>);

impl Seq {
    fn push<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        self.0.push(v.serialize(CanonSerializer)?);
        Ok(())
    }
}

/// The three sequence traits, which differ only in their method's name.
macro_rules! seq_impl {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Seq {
            type Ok = Owned;
            type Error = Unsupported;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
                self.push(v)
            }
            fn end(self) -> Result<Owned, Unsupported> {
                Ok(Canon::Arr(self.0))
            }
        }
    )*};
}

seq_impl!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

struct Map {
    entries: Vec<(Cow<'static, str>, Owned)>,
    key: Option<Cow<'static, str>>,
}

impl ser::SerializeMap for Map {
    type Ok = Owned;
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Unsupported> {
        self.key = Some(k.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Unsupported("a map value without a key".into()))?;
        self.entries.push((key, v.serialize(CanonSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Owned, Unsupported> {
        Ok(Canon::object(self.entries))
    }
}

impl ser::SerializeStruct for Map {
    type Ok = Owned;
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Unsupported> {
        self.entries
            .push((Cow::Borrowed(key), v.serialize(CanonSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Owned, Unsupported> {
        Ok(Canon::object(self.entries))
    }
}

/// An enum variant holding a tuple or a struct: `{"Variant": ...}`, as serde_json
/// writes it.
struct Variant<S>(&'static str, S);

impl ser::SerializeTupleVariant for Variant<Seq> {
    type Ok = Owned;
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        self.1.push(v)
    }
    fn end(self) -> Result<Owned, Unsupported> {
        Ok(Canon::Obj(vec![(
            Cow::Borrowed(self.0),
            Canon::Arr(self.1 .0),
        )]))
    }
}

impl ser::SerializeStructVariant for Variant<Map> {
    type Ok = Owned;
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Unsupported> {
        ser::SerializeStruct::serialize_field(&mut self.1, key, v)
    }
    fn end(self) -> Result<Owned, Unsupported> {
        let inner = ser::SerializeStruct::end(self.1)?;
        Ok(Canon::Obj(vec![(Cow::Borrowed(self.0), inner)]))
    }
}

/// Map keys: strings, and what serde_json turns into a string key the same way
/// everywhere (integers, chars, unit variants); anything else goes to the byte path.
struct KeySerializer;

/// Key methods that write the value as text, as serde_json does.
macro_rules! key_as_text {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, v: $ty) -> Result<Self::Ok, Unsupported> {
            Ok(Cow::Owned(v.to_string()))
        }
    )*};
}

impl ser::Serializer for KeySerializer {
    type Ok = Cow<'static, str>;
    type Error = Unsupported;
    type SerializeSeq = ser::Impossible<Self::Ok, Unsupported>;
    type SerializeTuple = ser::Impossible<Self::Ok, Unsupported>;
    type SerializeTupleStruct = ser::Impossible<Self::Ok, Unsupported>;
    type SerializeTupleVariant = ser::Impossible<Self::Ok, Unsupported>;
    type SerializeMap = ser::Impossible<Self::Ok, Unsupported>;
    type SerializeStruct = ser::Impossible<Self::Ok, Unsupported>;
    type SerializeStructVariant = ser::Impossible<Self::Ok, Unsupported>;

    key_as_text!(
        serialize_str: &str,
        serialize_char: char,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64
    );
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Self::Ok, Unsupported> {
        Ok(Cow::Borrowed(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Self::Ok, Unsupported> {
        v.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> Result<Self::Ok, Unsupported> {
        unsupported("a bool map key")
    }
    fn serialize_i128(self, _: i128) -> Result<Self::Ok, Unsupported> {
        unsupported("an i128 map key")
    }
    fn serialize_u128(self, _: u128) -> Result<Self::Ok, Unsupported> {
        unsupported("a u128 map key")
    }
    fn serialize_f32(self, _: f32) -> Result<Self::Ok, Unsupported> {
        unsupported("a float map key")
    }
    fn serialize_f64(self, _: f64) -> Result<Self::Ok, Unsupported> {
        unsupported("a float map key")
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Self::Ok, Unsupported> {
        unsupported("a bytes map key")
    }
    fn serialize_none(self) -> Result<Self::Ok, Unsupported> {
        unsupported("a none map key")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Self::Ok, Unsupported> {
        unsupported("an option map key")
    }
    fn serialize_unit(self) -> Result<Self::Ok, Unsupported> {
        unsupported("a unit map key")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Self::Ok, Unsupported> {
        unsupported("a unit map key")
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, Unsupported> {
        unsupported("an enum map key")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
        unsupported("a sequence map key")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
        unsupported("a tuple map key")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        unsupported("a tuple map key")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        unsupported("an enum map key")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        unsupported("a map map key")
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Unsupported> {
        unsupported("a struct map key")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        unsupported("an enum map key")
    }
}

#[cfg(test)]
mod tests {
    use super::super::request_canonical;
    use super::*;
    use serde::Serialize;
    use serde_json::json;
    use std::collections::{BTreeMap, HashMap};

    /// The serializer's canonical text equals the byte path's for `v`.
    fn same<T: Serialize>(v: &T) {
        let ignore = vec!["user".to_string(), "meta.trace".to_string()];
        let bytes = serde_json::to_vec(v).unwrap();
        let want = request_canonical("POST", "/v1/x", &bytes, &ignore, Some("t"));
        let got = request_canonical_of("POST", "/v1/x", v, &ignore, Some("t"));
        assert_eq!(
            got.as_deref(),
            Some(want.as_str()),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }

    #[derive(Serialize)]
    #[serde(tag = "role", rename_all = "lowercase")]
    enum Msg {
        User { content: String },
        Tool { id: u32, content: Option<String> },
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        New(i8),
        Pair(u8, f64),
        Named { x: f32 },
    }

    #[derive(Serialize)]
    struct Req {
        model: &'static str,
        messages: Vec<Msg>,
        temperature: f32,
        top_p: Option<f32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
        shapes: Vec<Shape>,
        #[serde(flatten)]
        extra: BTreeMap<String, serde_json::Value>,
        by_id: HashMap<u32, char>,
        bytes: serde_bytes_like::Bytes,
        unit: (),
        wide: i128,
    }

    mod serde_bytes_like {
        pub struct Bytes(pub Vec<u8>);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
    }

    #[test]
    fn typed_requests_match_the_byte_path() {
        let req = Req {
            model: "m",
            messages: vec![
                Msg::User {
                    content: "héllo \"q\"\n\u{1}".into(),
                },
                Msg::Tool {
                    id: 7,
                    content: None,
                },
            ],
            temperature: 0.7,
            top_p: Some(f32::NAN),
            seed: None,
            shapes: vec![
                Shape::Unit,
                Shape::New(-3),
                Shape::Pair(1, -0.0),
                Shape::Named { x: 0.1 },
            ],
            extra: BTreeMap::from([
                ("user".into(), json!("dropped by ignore")),
                ("model".into(), json!("repeated key: the last wins")),
                (
                    "meta".into(),
                    json!({"trace": 1, "keep": [1.5e300, -2, 18446744073709551615u64]}),
                ),
            ]),
            by_id: HashMap::from([(10, 'a'), (2, 'b')]),
            bytes: serde_bytes_like::Bytes(vec![0, 255]),
            unit: (),
            wide: -5,
        };
        same(&req);
    }

    #[test]
    fn json_values_match_the_byte_path() {
        for v in [
            json!(null),
            json!(1),
            json!("text"),
            json!([]),
            json!({}),
            json!({"b": {"z": [1, 2.5, {"y": null, "x": true}]}, "a": 1e-7, "": "empty key"}),
            json!({"n": -9223372036854775808i64, "u": 18446744073709551615u64, "f": 0.1}),
        ] {
            same(&v);
        }
        for f in [0.1f32, 0.7, 1e-7, 3.4e38, f32::MIN_POSITIVE, 16777217.0] {
            same(&json!({ "f": f }));
            same(&f);
        }
    }

    #[test]
    fn what_it_cannot_reproduce_is_left_to_the_byte_path() {
        assert_eq!(
            request_canonical_of("POST", "/", &u128::MAX, &[], None),
            None
        );
        // How serde_json's RawValue (feature `raw_value`) serializes itself.
        struct Raw;
        impl Serialize for Raw {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct("$serde_json::private::RawValue", 1)?;
                st.serialize_field("$serde_json::private::RawValue", "{\"a\": 1}")?;
                st.end()
            }
        }
        assert_eq!(request_canonical_of("POST", "/", &Raw, &[], None), None);
        assert_eq!(
            request_canonical_of("POST", "/", &HashMap::from([(true, 1)]), &[], None),
            None
        );
    }
}
