//! The model list, shared by all tests and merged across servers on replay.

use recorder_runtime::{recorded_test, Client, Model};

#[recorded_test(models = "text")]
async fn lists_the_served_model(client: Client, text_model: Model) {
    let list = client.models().await.unwrap();
    assert!(
        list.data.iter().any(|m| m.id == text_model.id()),
        "{:?}",
        list.data.iter().map(|m| &m.id).collect::<Vec<_>>()
    );
    let mut ids: Vec<_> = list.data.iter().map(|m| m.id.clone()).collect();
    let sorted = {
        let mut s = ids.clone();
        s.sort();
        s
    };
    ids.dedup();
    assert_eq!(ids, sorted, "replayed lists are sorted and unique");
}
