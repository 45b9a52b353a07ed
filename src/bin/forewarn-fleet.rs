//! The `forewarn-fleet` binary, for the center (not shipped to gateways): the command line
//! lives in the library ([`forewarn::fleet::cli`]). Exit codes: 0 ok, 1 failure, 2 usage.

fn main() -> std::process::ExitCode {
    forewarn::fleet::cli::main()
}
