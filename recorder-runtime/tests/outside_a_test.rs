//! async-openai through the recorder in a process where no test has started yet:
//! server mode, where a service under test builds its client at start-up and calls
//! made outside any test go to the real API. Its own binary, so that nothing else
//! has set the TLS provider up first.

use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use recorder_runtime::registry::Registry;
use recorder_testkit::fake::FakeUpstream;

#[tokio::test]
async fn a_call_outside_any_test_goes_upstream() {
    let fake = FakeUpstream::start();
    // Building the service is the first thing this process does with the recorder.
    // Building the service must not need a TLS provider (reqwest is built here
    // without one, and building a client would panic).
    let service = Registry::global().openai_service();
    // async-openai's own client does need one; the application installs it.
    recorder_runtime::engine::install_crypto_provider();
    let client =
        async_openai::Client::with_config(OpenAIConfig::new().with_api_base(fake.openai_url()))
            .with_http_service(service);
    let request = CreateEmbeddingRequestArgs::default()
        .model("fake-embed")
        .input("outside")
        .build()
        .unwrap();
    let answer = client.embeddings().create(request).await.unwrap();
    assert_eq!(answer.data.len(), 1);
    assert_eq!(fake.requests().len(), 1, "it reached the upstream");
}
