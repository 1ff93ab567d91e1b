use recorder_runtime::{recorded_test, Client};

struct Suite;

impl Suite {
    #[recorded_test]
    async fn answers<T>(&self, client: Client) {
        let _ = client;
    }
}

fn main() {}
