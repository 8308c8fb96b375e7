//! `doris-be --conf conf/be.conf`: starts a backend.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "doris-be", version, about = "Doris-compatible backend")]
struct Args {
    /// Path of be.conf; relative paths inside it resolve against its directory.
    #[arg(long, default_value = "conf/be.conf")]
    conf: PathBuf,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = doris_be::run(args.conf).await {
        eprintln!("doris-be: {e}");
        std::process::exit(1);
    }
}
