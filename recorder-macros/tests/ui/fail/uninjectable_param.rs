use recorder_runtime::{recorded_test, Client, RecordingContext};

#[recorded_test]
async fn answers(client: Client, retries: u32, ctx: &RecordingContext) {
    let _ = (client, retries, ctx);
}

fn main() {}
