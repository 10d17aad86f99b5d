#[wasio::main]
fn main() {}
