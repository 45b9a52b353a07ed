//! The `forewarn` binary: the command line lives in the library ([`forewarn::cli`]), with its
//! exit codes ([`forewarn::cli::Exit`]: 0 ok, 1 runtime failure, 2 usage, 3 invalid
//! provisioning file, 4 outbox problems, 5 model package refused).

fn main() -> std::process::ExitCode {
    forewarn::cli::main()
}
