//! The engines, one file each, peers that know their protocol and nothing
//! of tracking, retries or publishing.

pub mod clock;
pub mod containerd;
pub mod cri;
pub mod docker;
pub mod http;
pub mod podman;
