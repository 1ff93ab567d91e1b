use recorder_runtime::{recorded_test, Client};

#[recorded_test(mode = "replay-only")]
async fn answers(client: Client) {
    let _ = client;
}

fn main() {}
