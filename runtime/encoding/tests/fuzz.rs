//! Bounded fuzzing of the decoder, run by CI as property tests: whatever
//! bytes a guest hands the host, decoding returns a value or an error,
//! never panics, and the validator agrees with it.

use mfw_encoding::{StreamValidator, Value, decode, encode, validate};
use proptest::collection::vec;
use proptest::prelude::*;

/// Values whose encoding is stable (no NaN: it is canonicalised).
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        any::<f64>()
            .prop_filter("NaN is canonicalised", |f| !f.is_nan())
            .prop_map(Value::Float),
        ".{0,20}".prop_map(Value::Text),
        vec(any::<u8>(), 0..32).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..6).prop_map(|m| {
                Value::Map(m.into_iter().map(|(k, v)| (Value::Text(k), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        // Nothing written into the repository; a failure prints its input.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_decode_or_fail_and_validation_agrees(bytes in vec(any::<u8>(), 0..256)) {
        let decoded = decode(&bytes);
        prop_assert_eq!(decoded.is_ok(), validate(&bytes).is_ok());
    }

    #[test]
    fn encoded_values_decode_to_themselves(value in value()) {
        // Maps come back in the encoding's key order, so compare bytes.
        let bytes = encode(&value);
        prop_assert!(validate(&bytes).is_ok());
        prop_assert_eq!(encode(&decode(&bytes).unwrap()), bytes);
    }

    #[test]
    fn a_damaged_encoding_decodes_or_fails_cleanly(
        value in value(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode(&value);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let end = cut.index(bytes.len() + 1);
        let damaged = &bytes[..end];
        prop_assert_eq!(decode(damaged).is_ok(), validate(damaged).is_ok());
    }

    #[test]
    fn a_stream_check_agrees_with_validate_whatever_the_pieces(
        value in value(),
        long in vec(any::<u8>(), 4096..6000),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
        piece in 1usize..300,
    ) {
        // A long byte string inside, as large values have, then damage.
        let mut bytes = encode(&Value::Array(vec![value, Value::Bytes(long)]));
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let end = cut.index(bytes.len() + 1);
        let damaged = &bytes[..end];
        let mut check = StreamValidator::new();
        let streamed = damaged.chunks(piece).try_for_each(|p| check.feed(p)).and_then(|()| check.finish());
        prop_assert_eq!(streamed.is_ok(), validate(damaged).is_ok(), "{:?}", streamed);
    }
}
