//! serde round trips through `to_vec` / `from_slice`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;

use mfw_encoding::{
    Error, TAG_PICKLE, TAG_SET, TAG_TUPLE, Value, decode, encode, from_slice, from_value, to_value,
    to_vec,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

type TestResult = Result<(), Error>;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) -> TestResult {
    let bytes = to_vec(value)?;
    // What comes out is canonical.
    assert_eq!(encode(&decode(&bytes)?), bytes, "{value:?}");
    let back: T = from_slice(&bytes)?;
    assert_eq!(&back, value);
    Ok(())
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn tagged_array(tag: u64, items: Vec<Value>) -> Vec<u8> {
    encode(&Value::Tagged(tag, Box::new(Value::Array(items))))
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Inner {
    label: String,
    weight: f64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Shape {
    Empty,
    Circle(f64),
    Pair(i32, i32),
    Rect { w: u32, h: u32 },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    zeta: u8,
    alpha: Option<String>,
    missing: Option<i64>,
    nested: BTreeMap<String, Vec<Inner>>,
    by_id: HashMap<u32, String>,
    shapes: Vec<Shape>,
    big: i128,
    huge: u128,
    small: f32,
    unit: (),
    pair: (bool, char),
}

fn record() -> Record {
    Record {
        zeta: 255,
        alpha: Some("a".into()),
        missing: None,
        nested: BTreeMap::from([(
            "k".to_string(),
            vec![Inner {
                label: "x".into(),
                weight: -0.5,
            }],
        )]),
        by_id: HashMap::from([
            (10, "ten".to_string()),
            (1, "one".into()),
            (300, "many".into()),
        ]),
        shapes: vec![
            Shape::Empty,
            Shape::Circle(1.5),
            Shape::Pair(-1, 2),
            Shape::Rect { w: 3, h: 4 },
        ],
        big: i128::MIN,
        huge: u128::MAX,
        small: 0.1,
        unit: (),
        pair: (true, 'é'),
    }
}

#[test]
fn structs_enums_options_and_maps_round_trip() -> TestResult {
    round_trip(&record())
}

#[test]
fn struct_fields_become_sorted_text_keys() -> TestResult {
    let value = decode(&to_vec(&record())?)?;
    let Value::Map(entries) = value else {
        panic!("not a map: {value:?}");
    };
    let keys: Vec<Value> = entries.into_iter().map(|(k, _)| k).collect();
    // Sorted by encoding: shorter text keys first, then bytewise.
    let want = [
        "big", "huge", "pair", "unit", "zeta", "alpha", "by_id", "small", "nested", "shapes",
        "missing",
    ];
    assert_eq!(keys, want.map(text));
    Ok(())
}

#[test]
fn hash_maps_are_deterministic() -> TestResult {
    let a: HashMap<String, i32> = (0..100).map(|i| (format!("k{i}"), i)).collect();
    let mut b: HashMap<String, i32> = HashMap::new();
    for i in (0..100).rev() {
        b.insert(format!("k{i}"), i);
    }
    assert_eq!(to_vec(&a)?, to_vec(&b)?);
    Ok(())
}

#[test]
fn enums_serialize_like_serde_json() -> TestResult {
    assert_eq!(to_value(&Shape::Empty)?, text("Empty"));
    assert_eq!(
        to_value(&Shape::Circle(2.0))?,
        Value::Map(vec![(text("Circle"), Value::Float(2.0))])
    );
    assert_eq!(
        to_value(&Shape::Pair(1, 2))?,
        Value::Map(vec![(
            text("Pair"),
            Value::Array(vec![Value::Integer(1), Value::Integer(2)])
        )])
    );
    assert_eq!(
        to_value(&Shape::Rect { w: 1, h: 2 })?,
        Value::Map(vec![(
            text("Rect"),
            Value::Map(vec![
                (text("w"), Value::Integer(1)),
                (text("h"), Value::Integer(2))
            ])
        )])
    );
    // A unit variant may also come as {"Empty": null}.
    let blob = encode(&Value::Map(vec![(text("Empty"), Value::Null)]));
    assert_eq!(from_slice::<Shape>(&blob)?, Shape::Empty);
    let err = from_slice::<Shape>(&encode(&text("Circle")))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.reason(), "unexpected-kind");
    assert!(from_slice::<Shape>(&encode(&text("Hexagon"))).is_err());
    Ok(())
}

#[test]
fn integers_of_every_size() -> TestResult {
    for v in [
        0i128,
        -1,
        i128::from(i64::MIN),
        i128::from(u64::MAX),
        1 << 64,
        -(1 << 64) - 1,
        i128::MAX,
        i128::MIN,
    ] {
        round_trip(&v)?;
    }
    for v in [0u128, u128::from(u64::MAX), 1 << 64, 1 << 127, u128::MAX] {
        round_trip(&v)?;
    }
    round_trip(&(
        i8::MIN,
        u8::MAX,
        i16::MIN,
        u16::MAX,
        i32::MIN,
        u32::MAX,
        i64::MIN,
        u64::MAX,
    ))?;
    // u128::MAX is tag 2 with 16 bytes.
    assert_eq!(
        to_vec(&u128::MAX)?,
        [vec![0xc2, 0x50], vec![0xff; 16]].concat()
    );
    // A value too big for the type.
    let err = from_slice::<u8>(&to_vec(&256u32)?).unwrap_err();
    assert!(err.to_string().contains("256"), "{err}");
    assert!(from_slice::<u64>(&to_vec(&-1i32)?).is_err());
    assert!(from_slice::<i128>(&to_vec(&u128::MAX)?).is_err());
    // Beyond 128 bits nothing fits.
    let huge = encode(&Value::BigInteger {
        negative: false,
        magnitude: vec![1; 17],
    });
    let err = from_slice::<u128>(&huge).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    Ok(())
}

#[test]
fn floats() -> TestResult {
    // f32 widens exactly to a 64-bit float.
    let bytes = to_vec(&0.1f32)?;
    assert_eq!(bytes[0], 0xfb);
    assert_eq!(decode(&bytes)?, Value::Float(f64::from(0.1f32)));
    assert_eq!(from_slice::<f32>(&bytes)?, 0.1f32);
    round_trip(&-0.0f64)?;
    round_trip(&f64::INFINITY)?;
    let nan: f64 = from_slice(&to_vec(&f64::NAN)?)?;
    assert!(nan.is_nan());
    // An integer is accepted where a float is expected.
    assert_eq!(from_slice::<f64>(&to_vec(&3)?)?, 3.0);
    Ok(())
}

/// A byte-string wrapper, as `serde_bytes::ByteBuf` would be.
#[derive(Debug, PartialEq)]
struct ByteBuf(Vec<u8>);

impl Serialize for ByteBuf {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[test]
fn plain_vec_u8_is_a_list_and_bytes_need_a_wrapper() -> TestResult {
    assert_eq!(to_vec(&vec![1u8, 2])?, [0x82, 0x01, 0x02]);
    assert_eq!(to_vec(&ByteBuf(vec![1, 2]))?, [0x42, 0x01, 0x02]);
    round_trip(&ByteBuf(vec![0, 255]))?;
    // Bytes written by another SDK also fill a Vec<u8>.
    assert_eq!(from_slice::<Vec<u8>>(&[0x42, 0x01, 0x02])?, vec![1, 2]);
    Ok(())
}

#[test]
fn sets_and_tuples_from_other_languages() -> TestResult {
    let set = tagged_array(
        TAG_SET,
        vec![Value::Integer(3), Value::Integer(1), Value::Integer(2)],
    );
    let want = BTreeSet::from([1, 2, 3]);
    assert_eq!(from_slice::<BTreeSet<i32>>(&set)?, want);
    assert_eq!(
        from_slice::<HashSet<i32>>(&set)?,
        want.iter().copied().collect()
    );
    assert_eq!(from_slice::<Vec<i32>>(&set)?, vec![1, 2, 3]);
    let tuple = tagged_array(TAG_TUPLE, vec![Value::Integer(1), text("a")]);
    assert_eq!(from_slice::<(u8, String)>(&tuple)?, (1, "a".to_string()));
    // Rust tuples and sets serialize as plain lists.
    assert_eq!(to_vec(&(1, "a"))?, [0x82, 0x01, 0x61, b'a']);
    assert_eq!(to_vec(&BTreeSet::from([2, 1]))?, [0x82, 0x01, 0x02]);
    // Lengths must match a tuple.
    assert!(from_slice::<(u8, u8)>(&tuple).is_err());
    assert!(from_slice::<(u8,)>(&tuple).is_err());
    assert!(from_slice::<(u8, String, bool)>(&tuple).is_err());
    Ok(())
}

#[test]
fn unit_and_none_are_null() -> TestResult {
    assert_eq!(to_vec(&())?, [0xf6]);
    assert_eq!(to_vec(&None::<u8>)?, [0xf6]);
    assert_eq!(to_vec(&Some(5u8))?, [0x05]);
    assert_eq!(from_slice::<Option<u8>>(&[0xf6])?, None);
    assert_eq!(from_slice::<Option<u8>>(&[0x05])?, Some(5));
    from_slice::<()>(&[0xf6])?;
    Ok(())
}

#[test]
fn kind_mismatches_say_what_was_found() {
    let cases: [(&[u8], String); 5] = [
        (
            &[0x61, b'a'],
            from_slice::<i64>(&[0x61, b'a'])
                .map(|_| ())
                .unwrap_err()
                .to_string(),
        ),
        (
            &[0xa0],
            from_slice::<Vec<u8>>(&[0xa0])
                .map(|_| ())
                .unwrap_err()
                .to_string(),
        ),
        (
            &[0x80],
            from_slice::<HashMap<String, u8>>(&[0x80])
                .map(|_| ())
                .unwrap_err()
                .to_string(),
        ),
        (
            &[0x01],
            from_slice::<String>(&[0x01])
                .map(|_| ())
                .unwrap_err()
                .to_string(),
        ),
        (
            &[0xf6],
            from_slice::<bool>(&[0xf6])
                .map(|_| ())
                .unwrap_err()
                .to_string(),
        ),
    ];
    let want = [
        "expected an integer, found a str",
        "expected a list, found a map",
        "expected a map, found a list",
        "expected a str, found an int",
        "expected a bool, found null",
    ];
    for ((_, got), want) in cases.iter().zip(want) {
        assert_eq!(got, want);
    }
    let pickle = encode(&Value::Tagged(
        TAG_PICKLE,
        Box::new(Value::Bytes(vec![0x80])),
    ));
    let err = from_slice::<Vec<u8>>(&pickle).unwrap_err();
    assert!(err.to_string().contains("found a pickle"), "{err}");
}

#[test]
fn invalid_blobs_are_rejected_before_deserializing() {
    // [1, 1] under the set tag: duplicate element.
    let blob = [0xd9, 0x01, 0x02, 0x82, 0x01, 0x01];
    assert_eq!(
        from_slice::<Vec<u8>>(&blob).unwrap_err(),
        Error::DuplicateSetElement { offset: 5 }
    );
}

#[test]
fn unknown_fields_with_any_content_are_skipped() -> TestResult {
    #[derive(Debug, PartialEq, Deserialize)]
    struct Small {
        a: u8,
    }
    let blob = encode(&Value::Map(vec![
        (text("a"), Value::Integer(1)),
        (
            text("z"),
            Value::Tagged(TAG_PICKLE, Box::new(Value::Bytes(vec![0x80]))),
        ),
        (text("y"), Value::Tagged(99, Box::new(Value::Null))),
    ]));
    assert_eq!(from_slice::<Small>(&blob)?, Small { a: 1 });
    Ok(())
}

#[test]
fn value_helpers() -> TestResult {
    let v = to_value(&BTreeMap::from([(1u8, "x")]))?;
    assert_eq!(v, Value::Map(vec![(Value::Integer(1), text("x"))]));
    let back: BTreeMap<u8, String> = from_value(v)?;
    assert_eq!(back, BTreeMap::from([(1, "x".to_string())]));
    Ok(())
}
