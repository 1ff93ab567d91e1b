//! `cargo-recordings`: `cargo recordings <command>` (see [`recorder_cli`]).

fn main() -> std::process::ExitCode {
    recorder_cli::main()
}
