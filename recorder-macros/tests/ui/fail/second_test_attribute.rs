use recorder_runtime::{recorded_test, Client};

#[recorded_test]
#[tokio::test]
async fn answers(client: Client) {
    let _ = client;
}

fn main() {}
