//! `berth`: the docker-compatible command line client for berthd. All the work is in the library
//! so unit tests can reach it; this only hands over the arguments and the exit code.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(berth_cli::run(args));
}
