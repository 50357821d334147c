//! What every call travels over: the channel (plaintext or TLS), with the
//! caller's credentials added to each request as `authorization` metadata
//! (HTTP basic, as KurrentDB clients send, or a bearer token).
//!
//! Not here: the connection settings (`builder`), trace context
//! (`trace`).

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;

/// The channel every generated client of this crate uses (credentials
/// added to each request).
pub type Transport = InterceptedService<Channel, Credentials>;

/// How the client proves who it is, if at all.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    header: Option<MetadataValue<Ascii>>,
}

impl Credentials {
    /// None: the server must not require authentication (or identifies the
    /// client by its certificate).
    pub fn none() -> Credentials {
        Credentials::default()
    }

    /// A user name and password (HTTP basic).
    pub fn basic(user: &str, password: &str) -> Credentials {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Credentials {
            header: MetadataValue::try_from(format!("Basic {token}")).ok(),
        }
    }

    /// A bearer token (from the server's `CreateToken`).
    pub fn bearer(token: &str) -> Credentials {
        Credentials {
            header: MetadataValue::try_from(format!("Bearer {token}")).ok(),
        }
    }
}

impl Interceptor for Credentials {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(h) = &self.header {
            req.metadata_mut().insert("authorization", h.clone());
        }
        Ok(req)
    }
}
