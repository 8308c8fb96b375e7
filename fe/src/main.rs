//! `doris-fe --conf conf/fe.conf`: starts a frontend.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "doris-fe", version, about = "Doris-compatible frontend")]
struct Args {
    /// Path of fe.conf; relative paths inside it resolve against its directory.
    #[arg(long, default_value = "conf/fe.conf")]
    conf: PathBuf,
    /// Address of a member of the cluster to join (`host:edit_log_port`), for a new
    /// frontend added with `ALTER SYSTEM ADD FOLLOWER|OBSERVER`.
    #[arg(long)]
    helper: Option<String>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = doris_fe::run(args.conf, args.helper).await {
        eprintln!("doris-fe: {e}");
        std::process::exit(1);
    }
}
