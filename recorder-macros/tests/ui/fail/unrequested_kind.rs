use recorder_runtime::{recorded_test, Model};

#[recorded_test(models = "text,embedding")]
async fn answers(text_model: Model, vision_model: Model, model: Model) {
    let _ = (text_model, vision_model, model);
}

fn main() {}
