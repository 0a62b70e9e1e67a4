//! The DFSM protocol of the original pmxcfs: wire format, the state machine, and
//! the two applications on top of it (DCDB = the file system, kvstore = status).

pub mod dcdb;
pub mod kvstore;
pub mod machine;
pub mod wire;
