//! `doris-fe --conf conf/fe.conf`: starts a frontend.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "doris-fe", version, about = "Doris-compatible frontend")]
struct Args {
    /// Path of fe.conf; relative paths inside it resolve against its directory.
    #[arg(long, default_value = "conf/fe.conf")]
    conf: PathBuf,
    /// Address of an existing FE to join (`host:edit_log_port`); accepted for
    /// compatibility, multi-FE replication is not built yet.
    #[arg(long)]
    helper: Option<String>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Some(h) = &args.helper {
        eprintln!("doris-fe: not supported yet: joining an existing frontend ({h})");
        std::process::exit(2);
    }
    if let Err(e) = doris_fe::run(args.conf).await {
        eprintln!("doris-fe: {e}");
        std::process::exit(1);
    }
}
