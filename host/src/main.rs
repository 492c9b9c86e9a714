fn main() -> std::process::ExitCode {
    tanto::cli::main()
}
