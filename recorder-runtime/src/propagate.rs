//! Server mode: a service under test learns the test id from each incoming
//! request's `X-Recorder-Test-Id` header, and every outbound call it makes while
//! handling that request is recorded in that test's scope.
//!
//! The service's side lives in the light `recorder-propagate` crate (a service
//! depends on it alone), re-exported here: [`TestIdLayer`], [`spawn`] / [`bind`],
//! [`headers`], and (with the `reqwest-middleware` and `async-openai` features)
//! `PropagateMiddleware` and `PropagateOpenAiService`. The test process's side is
//! the recorder's registry, which knows the running tests' scopes, and
//! [`recorder_url`], the loopback proxy root that routes requests by their header.
//! [`crate::service::Service`] wires it all up.
//!
//! ```
//! use recorder_runtime::propagate::{current_test_id, headers, with_test_id};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! assert_eq!(current_test_id(), None);
//! with_test_id("my::test", async {
//!     assert_eq!(headers()["x-recorder-test-id"], "my::test");
//! })
//! .await;
//! # });
//! ```

pub use recorder_propagate::*;

/// The root URL of this process's loopback proxy, routing requests by their
/// `X-Recorder-Test-Id` header to the running tests (starts it on first use).
/// Point a service's model base URL here (`{recorder_url}/v1` for OpenAI clients).
/// Feature `proxy` (on by default).
#[cfg(feature = "proxy")]
pub fn recorder_url() -> String {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    let proxy = crate::proxy::Proxy::global();
    INSTALLED.call_once(|| proxy.set_fallback(crate::registry::Registry::global().clone()));
    format!("http://{}", proxy.addr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawn_carries_the_id_and_tokio_spawn_does_not() {
        with_test_id("t::a", async {
            let carried = spawn(async { current_test_id() }).await.unwrap();
            assert_eq!(carried.as_deref(), Some("t::a"));
            let lost = tokio::spawn(async { current_test_id() }).await.unwrap();
            assert_eq!(lost, None);
            let bound = tokio::spawn(bind(async { headers() })).await.unwrap();
            assert_eq!(bound[TEST_ID_HEADER], "t::a");
        })
        .await;
    }

    #[tokio::test]
    async fn the_layer_scopes_only_requests_with_the_header() {
        use tower::{Layer, ServiceExt};
        let svc = TestIdLayer.layer(tower::service_fn(|_req: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(current_test_id())
        }));
        let with = http::Request::builder()
            .header(TEST_ID_HEADER, "t::b")
            .body(())
            .unwrap();
        assert_eq!(
            svc.clone().oneshot(with).await.unwrap().as_deref(),
            Some("t::b")
        );
        let without = http::Request::builder().body(()).unwrap();
        assert_eq!(svc.oneshot(without).await.unwrap(), None);
    }
}
