//! `crate = "..."` names the runtime when it is reached under another name.

extern crate recorder_runtime as rr;

#[rr::recorded_test(crate = "rr", models = "text")]
async fn through_an_alias(model: rr::Model, ctx: rr::RecordingContext) {
    assert_eq!(model.kind(), "text");
    assert!(ctx.test_id().starts_with("renamed::through_an_alias[text="));
}

mod inner {
    #[rr::recorded_test(crate = "rr")]
    fn sync_through_an_alias(ctx: rr::RecordingContext) {
        assert_eq!(ctx.test_id(), "renamed::inner::sync_through_an_alias");
    }
}
