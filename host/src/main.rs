//! The `switchyard` binary: all logic lives in the library.

fn main() -> std::process::ExitCode {
    switchyard::cli::main()
}
