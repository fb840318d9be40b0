//! Metaflow's forms, each in a flow that differs from its Metaflow original
//! only in the import line, asserting what Metaflow gives (tests/metaflow/).

mod common;

use common::Scratch;

fn flow(name: &str) -> std::path::PathBuf {
    common::repo().join("tests/metaflow").join(name)
}

#[test]
fn metaflow_forms_give_metaflow_results() {
    let scratch = Scratch::new();
    // A flow file named with a '-', like Metaflow's hello-cloud.py.
    let path = flow("compat-flow.py");
    let ran = scratch
        .mfw([
            "run".as_ref(),
            path.as_os_str(),
            "--typed-int".as_ref(),
            "4".as_ref(),
        ])
        .ok();
    let run = ran.run_id();
    let end = scratch.dump(&format!("CompatFlow/{run}/end/0"));
    let artifacts = &end["artifacts"];

    // A JSONType default given as text is parsed; a hyphenated parameter,
    // set as --typed-int, is read as self.typed_int.
    assert_eq!(artifacts["config_depth"], 3, "{artifacts}");
    assert_eq!(artifacts["doubled"], 8, "{artifacts}");

    // frozenset and bytearray come back as themselves.
    assert_eq!(
        artifacts["types"],
        serde_json::json!(["frozenset", "bytearray"])
    );

    // foreach_stack(): (index, num_splits, value) per level, outermost first.
    assert_eq!(
        artifacts["stacks"],
        serde_json::json!([
            [[0, 2, "a"], [0, 3, 10]],
            [[0, 2, "a"], [2, 3, 30]],
            [[1, 2, "b"], [0, 3, 10]],
            [[1, 2, "b"], [2, 3, 30]],
        ])
    );

    // @catch's variable reads like Metaflow's wrapper: the exception's type
    // and text, and its traceback.
    assert_eq!(
        artifacts["failures"],
        serde_json::json!([
            ["builtins.KeyError", "'missing_key'", true],
            ["builtins.KeyError", "'missing_key'", true],
        ])
    );

    // @retry: the second attempt ran (locally at once, as in Metaflow).
    assert_eq!(artifacts["attempt"], 1, "{artifacts}");
    assert!(
        ran.stdout
            .contains("end/0: types ['frozenset', 'bytearray'] depth 3 doubled 8"),
        "{}",
        ran.stdout
    );
}
