//! `Gossip.Read`: the cluster as KurrentDB clients discover it. Strata is
//! one node, so the answer is one member — this server, `Leader`, alive —
//! at the address it listens on (a wildcard listen address is reported as
//! the loopback address of its family; clients given one node connect to
//! the address they were given whatever gossip says).
//!
//! Not here: anything about clusters; Strata has none.

use super::convert;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use strata_proto::kurrent::event_store::client::Empty;
use strata_proto::kurrent::gossip::gossip_server::Gossip;
use strata_proto::kurrent::gossip::{member_info::VNodeState, ClusterInfo, EndPoint, MemberInfo};
use tonic::{Request, Response, Status};

/// The `Gossip` service.
#[derive(Debug, Clone)]
pub struct GossipService {
    /// This process's instance id (new at every start, as KurrentDB's).
    instance: uuid::Uuid,
    advertised: SocketAddr,
}

impl GossipService {
    /// Answers for a server listening on `listen`.
    pub fn new(listen: SocketAddr) -> GossipService {
        let ip = match listen.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        GossipService {
            instance: uuid::Uuid::new_v4(),
            advertised: SocketAddr::new(ip, listen.port()),
        }
    }
}

#[tonic::async_trait]
impl Gossip for GossipService {
    #[tracing::instrument(skip_all)]
    async fn read(&self, _request: Request<Empty>) -> Result<Response<ClusterInfo>, Status> {
        let member = MemberInfo {
            instance_id: Some(convert::uuid_out(self.instance, true)),
            time_stamp: convert::ticks_since_unix_epoch(strata_storage::clock::now_micros()),
            state: VNodeState::Leader as i32,
            is_alive: true,
            http_end_point: Some(EndPoint {
                address: self.advertised.ip().to_string(),
                port: u32::from(self.advertised.port()),
            }),
        };
        Ok(Response::new(ClusterInfo {
            members: vec![member],
        }))
    }
}
