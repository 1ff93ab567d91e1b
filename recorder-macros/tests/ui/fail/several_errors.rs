use recorder_runtime::{recorded_test, Model};

/// Every mistake is reported at once, each at its token.
#[recorded_test(models = "text,chat", mode = "fast", retries = 3, timeout = "1h", timeout = "2s")]
async fn answers(text_model: Model, limit: usize) {
    let _ = (text_model, limit);
}

fn main() {}
