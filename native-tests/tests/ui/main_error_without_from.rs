#[derive(Debug)]
struct MyError;

#[wasio::main]
async fn main() -> Result<(), MyError> {
    Ok(())
}
