//! Host bindings generated from the `wit/` contract.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "mfw:flow/flow-component",
});
