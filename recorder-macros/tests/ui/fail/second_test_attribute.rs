use recorder_runtime::recorded_test;

#[recorded_test]
#[tokio::test]
async fn answers() {}

fn main() {}
