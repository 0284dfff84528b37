//! Simulated buildings: the shared vocabulary of doors, people and rhythms that the
//! vendor simulators and the benchmarks draw from.

pub mod doorflow;
pub mod history;
pub mod kisi;
pub mod launch;
pub mod pdk;
pub mod seam;
pub mod serve;
