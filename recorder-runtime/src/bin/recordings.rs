//! `recordings`: manage the recordings of recorded tests (see `recorder_runtime::cli`).

fn main() -> std::process::ExitCode {
    recorder_runtime::cli::main()
}
