use recorder_runtime::{recorded_test, Client, Model};

#[recorded_test(models = "text", modles = "text")]
async fn answers(client: Client, text_model: Model) {
    let _ = (client, text_model);
}

fn main() {}
