//! Command-line tools built from API methods, as upstream's `PVE::CLIHandler`: option
//! parsing ([`getopt`]), usage texts ([`usage`]) and the command tree ([`command`]).

pub mod command;
pub mod getopt;
pub mod schema_walk;
pub mod text_wrap;
pub mod usage;
