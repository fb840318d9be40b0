//! Imports the mfw contract but exports no graph: what a flow looks like
//! when its author forgot the SDK's export.

wit_bindgen::generate!({
    path: "../../../wit",
    inline: "
        package test:no-graph;
        world no-graph {
            import mfw:flow/logging@0.1.6;
            export hello: func();
        }
    ",
    world: "test:no-graph/no-graph",
    generate_all,
});

struct Component;

impl Guest for Component {
    fn hello() {
        mfw::flow::logging::log(mfw::flow::logging::Level::Info, "hello");
    }
}

export!(Component);
