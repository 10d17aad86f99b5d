#[wasio::main]
struct Main;

fn main() {}
