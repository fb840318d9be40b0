//! Bounded fuzzing of record parsing, run by CI as property tests: a damaged
//! run or task record read from a datastore is an error, never a panic, and
//! an intact one reads back as written.

use mfw_store::{RunRecord, TaskRecord};
use proptest::collection::vec;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        // Nothing written into the repository; a failure prints its input.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_are_not_records(bytes in vec(any::<u8>(), 0..256)) {
        let _ = serde_json::from_slice::<TaskRecord>(&bytes);
        let _ = serde_json::from_slice::<RunRecord>(&bytes);
    }

    #[test]
    fn a_damaged_task_record_fails_to_parse_or_parses_whole(
        step in "[a-z]{1,8}",
        task in "[0-9]{1,3}",
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let record = TaskRecord::new("FuzzFlow", "1", &step, &task);
        let mut bytes = serde_json::to_vec(&record).unwrap();
        prop_assert_eq!(serde_json::from_slice::<TaskRecord>(&bytes).unwrap(), record);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let end = cut.index(bytes.len() + 1);
        let _ = serde_json::from_slice::<TaskRecord>(&bytes[..end]);
    }
}
