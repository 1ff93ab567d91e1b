use recorder_runtime::{recorded_test, Client};

#[recorded_test(timeout = "30")]
async fn answers(client: Client) {
    let _ = client;
}

fn main() {}
