//! The `chute` binary: see `chute --help`.

fn main() -> std::process::ExitCode {
    chute::cli_main()
}
