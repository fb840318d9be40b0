//! A flow built against mfw:flow@0.2.0, which this mfw does not run.

wit_bindgen::generate!({
    path: "wit",
    world: "flow-component",
});

struct Component;

impl exports::mfw::flow::flow::Guest for Component {
    fn graph() -> String {
        mfw::flow::logging::log("graph");
        "FutureFlow".to_string()
    }
}

export!(Component);
