use recorder_runtime::{recorded_test, Model};

#[recorded_test(models = "text", timeout = "5s", models = "embedding")]
async fn answers(text_model: Model) {
    let _ = text_model;
}

fn main() {}
