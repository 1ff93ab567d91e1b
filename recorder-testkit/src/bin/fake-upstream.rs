//! The fake upstream as a server of its own, on a known loopback port, for recording
//! tests whose kind has no small real model here (`scripts/backends.sh start fake`;
//! the `fake` setup of recorder.toml). It has no model: its answers are canned (see
//! `recorder_testkit::fake`), in the real wire formats.
//!
//! ```text
//! fake-upstream [--port 18095]
//! ```
//!
//! It runs until it is killed.

use recorder_testkit::FakeUpstream;

fn main() {
    let mut port: u16 = 18095;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().unwrap_or_default();
                port = value.parse().unwrap_or_else(|_| {
                    eprintln!("fake-upstream: --port wants a port number, got `{value}`");
                    std::process::exit(2)
                });
            }
            "-h" | "--help" => {
                println!(
                    "usage: fake-upstream [--port PORT]  (default 18095; listens on 127.0.0.1)"
                );
                return;
            }
            other => {
                eprintln!("fake-upstream: unknown argument `{other}` (usage: fake-upstream [--port PORT])");
                std::process::exit(2)
            }
        }
    }
    let fake = match FakeUpstream::try_start_on(([127, 0, 0, 1], port).into()) {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("fake-upstream: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        }
    };
    fake.set_models(["fake-chat", "fake-embed", "fake-vision", "fake-moderation"]);
    println!(
        "fake-upstream: the fake OpenAI-compatible upstream (no model) on {}",
        fake.openai_url()
    );
    loop {
        std::thread::park();
    }
}
