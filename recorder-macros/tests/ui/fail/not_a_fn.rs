use recorder_runtime::recorded_test;

#[recorded_test(models = "text")]
struct Answers {
    model: String,
}

fn main() {
    let _ = Answers { model: String::new() }.model;
}
