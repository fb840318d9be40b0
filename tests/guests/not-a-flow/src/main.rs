//! A plain WASI command: a component, but not an mfw flow.

fn main() {
    println!("I am not a flow");
}
