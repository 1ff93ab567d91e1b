use recorder_runtime::{recorded_test, Client};

#[recorded_test(flavor = "threaded", worker_threads = 2)]
async fn answers(client: Client) {
    let _ = client;
}

fn main() {}
