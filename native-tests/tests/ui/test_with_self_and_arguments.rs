struct S;

impl S {
    #[wasio::test]
    async fn method(&self, n: u32) {
        let _ = n;
    }
}

fn main() {}
