//! `strata.v1.Security` over [`Node`]: users, tokens and grants. Each
//! handler takes the authenticated caller, converts, makes one domain call
//! (which checks the caller's role and audits) and converts back.
//!
//! Not here: the rules (`domain::security`), the conversions (`convert`).

use super::convert::security as convert;
use crate::api::{auth, status};
use crate::domain::Node;
use std::sync::Arc;
use strata_proto::v1 as pb;
use strata_proto::v1::security_server::Security;
use tonic::{Request, Response, Status};

/// The `Security` service implementation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SecurityService {
    node: Arc<Node>,
}

impl SecurityService {
    pub fn new(node: Arc<Node>) -> SecurityService {
        SecurityService { node }
    }

    fn user(&self, u: crate::domain::security::UserView) -> pb::UserInfo {
        convert::user(u, self.node.auth_enabled())
    }
}

#[tonic::async_trait]
impl Security for SecurityService {
    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::UserInfo>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(self.user(self.node.who_am_i(&caller))))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().name))]
    async fn add_user(
        &self,
        request: Request<pb::AddUserRequest>,
    ) -> Result<Response<pb::UserInfo>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        let u = self
            .node
            .add_user(&caller, &r.name, &r.password, r.roles)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(self.user(u)))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().name))]
    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        self.node
            .change_password(&caller, &r.name, &r.current_password, &r.new_password)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::ChangePasswordResponse {}))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().name))]
    async fn set_user_enabled(
        &self,
        request: Request<pb::SetUserEnabledRequest>,
    ) -> Result<Response<pb::UserInfo>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        let u = self
            .node
            .set_user_enabled(&caller, &r.name, r.enabled)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(self.user(u)))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().name))]
    async fn set_user_roles(
        &self,
        request: Request<pb::SetUserRolesRequest>,
    ) -> Result<Response<pb::UserInfo>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        let u = self
            .node
            .set_user_roles(&caller, &r.name, r.roles)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(self.user(u)))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let caller = auth::caller(&request)?;
        let users = self.node.list_users(&caller).map_err(status::from_domain)?;
        Ok(Response::new(pb::ListUsersResponse {
            users: users.into_iter().map(|u| self.user(u)).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().user))]
    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        let t = self
            .node
            .create_token(&caller, &r.user, r.expires_in_seconds, &r.description)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(convert::new_token(t)))
    }

    #[tracing::instrument(skip_all, fields(id = %request.get_ref().id))]
    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let caller = auth::caller(&request)?;
        self.node
            .revoke_token(&caller, &request.into_inner().id)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::RevokeTokenResponse {}))
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let caller = auth::caller(&request)?;
        let tokens = self
            .node
            .list_tokens(&caller, &request.into_inner().user)
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::ListTokensResponse {
            tokens: tokens.into_iter().map(convert::token).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(principal = %request.get_ref().principal, prefix = %request.get_ref().stream_prefix))]
    async fn grant(
        &self,
        request: Request<pb::GrantRequest>,
    ) -> Result<Response<pb::GrantInfo>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        let permissions = convert::permissions(&r.permissions)?;
        let g = self
            .node
            .grant(&caller, &r.principal, &r.stream_prefix, permissions)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(convert::grant(g)))
    }

    #[tracing::instrument(skip_all, fields(id = %request.get_ref().id))]
    async fn revoke(
        &self,
        request: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::RevokeResponse>, Status> {
        let caller = auth::caller(&request)?;
        self.node
            .revoke_grant(&caller, &request.into_inner().id)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::RevokeResponse {}))
    }

    async fn list_grants(
        &self,
        request: Request<pb::ListGrantsRequest>,
    ) -> Result<Response<pb::ListGrantsResponse>, Status> {
        let caller = auth::caller(&request)?;
        let grants = self
            .node
            .list_grants(&caller)
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::ListGrantsResponse {
            grants: grants.into_iter().map(convert::grant).collect(),
        }))
    }
}
