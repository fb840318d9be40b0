//! Host bindings generated from the `wit/` contract.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "mfw:flow/flow-component",
    with: {
        "mfw:flow/streams.value-writer": crate::streams::ValueWriter,
        "mfw:flow/streams.value-reader": crate::streams::ValueReader,
    },
});
