use crate::printer;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Start N hosts lab1..labN (idempotent; --fresh resets them to a clean image)
    Up {
        #[arg(default_value_t = 3)]
        n: u32,
        #[arg(long)]
        fresh: bool,
        /// The Debian release of new hosts: 13 (trixie) or 12 (bookworm)
        #[arg(long, value_name = "RELEASE", default_value_t = 13, value_parser = clap::value_parser!(u32).range(12..=13))]
        debian: u32,
        /// Hosts able to run Docker (cgroup v2, keyctl/bpf allowed, /var/lib/docker on a plain
        /// directory) and the image registry on 198.18.0.1:5000
        #[arg(long)]
        docker: bool,
    },
    /// Stop and remove every lab host, its network and mounts (--purge: the base images too)
    Down {
        #[arg(long)]
        purge: bool,
    },
    /// Print (or write) an inventory for the running lab hosts
    Inventory {
        #[arg(long, value_name = "FILE")]
        out: Option<String>,
    },
    /// One line per lab host
    Status,
    /// Power a host off hard (link down, kill -9 of its init)
    Kill { host: String },
    /// Boot a killed host again
    Start { host: String },
    /// Cut a host's network link
    Cut { host: String },
    /// Restore a host's network link
    Heal { host: String },
    /// Build a stand-in app image (health paths, `/` names NAME:TAG) and push it to the lab's registry
    Image {
        /// NAME:TAG, pushed as 198.18.0.1:5000/NAME:TAG
        image: String,
        /// Its health paths answer 503: an image that never turns healthy
        #[arg(long)]
        unhealthy: bool,
    },
    /// Run a command on a lab host over SSH
    Ssh {
        host: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
}

pub fn run(a: Args) -> i32 {
    let args: Vec<String> = match a.command {
        LabCommand::Up {
            n,
            fresh,
            debian,
            docker,
        } => {
            let mut v = vec!["up".to_string(), n.to_string()];
            if fresh {
                v.push("--fresh".into());
            }
            v.extend(["--debian".to_string(), debian.to_string()]);
            if docker {
                v.push("--docker".into());
            }
            v
        }
        LabCommand::Down { purge } => {
            let mut v = vec!["down".to_string()];
            if purge {
                v.push("--purge".into());
            }
            v
        }
        LabCommand::Inventory { out } => {
            let mut v = vec!["inventory".to_string()];
            v.extend(out);
            v
        }
        LabCommand::Status => vec!["status".into()],
        LabCommand::Image { image, unhealthy } => {
            let mut v = vec!["image".to_string(), image];
            if unhealthy {
                v.push("--unhealthy".into());
            }
            v
        }
        LabCommand::Kill { host } => vec!["kill".into(), host],
        LabCommand::Start { host } => vec!["start".into(), host],
        LabCommand::Cut { host } => vec!["cut".into(), host],
        LabCommand::Heal { host } => vec!["heal".into(), host],
        LabCommand::Ssh { host, command } => {
            let mut v = vec!["ssh".into(), host];
            v.extend(command);
            v
        }
    };
    match crate::lab::run(&args) {
        Ok(code) => code,
        Err(e) => {
            printer::err(&format!("error: cannot run the lab script: {e}\n"));
            super::EXIT_ERROR
        }
    }
}
