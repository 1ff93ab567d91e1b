use recorder_runtime::recorded_test;

// Another library's client, named by its path (a stand-in for `reqwest`).
mod reqwest {
    pub struct Client;
}

#[recorded_test]
async fn answers(client: reqwest::Client) {
    let _ = client;
}

fn main() {}
