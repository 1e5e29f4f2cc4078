//! Defines the load-balancing policy of migration statements: each statement goes to the
//! node that ran the previous one, so it sees the schema that statement created.
//!
//! The driver waits for schema agreement after DDL, but only among the nodes it is
//! connected to: a node restarted a moment ago, reconnected just after the check, can
//! still lack a table the previous statement created (seen in the fault suite:
//! `ALTER TABLE t39 …` refused with "Table … doesn't exist" on the restarted node, right
//! after `CREATE TABLE t39` succeeded elsewhere). Staying on one coordinator removes that
//! window; when the node fails, the inner policy's plan takes over and the node that
//! answers next becomes the one to stay on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use scylla::cluster::{ClusterState, NodeRef};
use scylla::errors::RequestAttemptError;
use scylla::policies::load_balancing::{FallbackPlan, LoadBalancingPolicy, RoutingInfo};
use scylla::routing::Shard;
use uuid::Uuid;

/// Sends every request to the node that answered the last one, while it is connected.
#[derive(Debug)]
pub(crate) struct Sticky {
    inner: Arc<dyn LoadBalancingPolicy>,
    node: Mutex<Option<Uuid>>,
}

impl Sticky {
    pub(crate) fn new(inner: Arc<dyn LoadBalancingPolicy>) -> Self {
        Sticky {
            inner,
            node: Mutex::new(None),
        }
    }

    fn current(&self) -> Option<Uuid> {
        *self
            .node
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, node: Option<Uuid>) {
        *self
            .node
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = node;
    }
}

impl LoadBalancingPolicy for Sticky {
    fn pick<'a>(
        &'a self,
        request: &'a RoutingInfo,
        cluster: &'a ClusterState,
    ) -> Option<(NodeRef<'a>, Option<Shard>)> {
        if let Some(node) = self
            .current()
            .and_then(|id| cluster.get_node_by_host_id(id))
            .filter(|n| n.is_connected() && n.is_enabled())
        {
            return Some((node, None));
        }
        self.inner.pick(request, cluster)
    }

    fn fallback<'a>(
        &'a self,
        request: &'a RoutingInfo,
        cluster: &'a ClusterState,
    ) -> FallbackPlan<'a> {
        self.inner.fallback(request, cluster)
    }

    fn on_request_success(&self, request: &RoutingInfo, latency: Duration, node: NodeRef<'_>) {
        self.set(Some(node.host_id));
        self.inner.on_request_success(request, latency, node);
    }

    fn on_request_failure(
        &self,
        request: &RoutingInfo,
        latency: Duration,
        node: NodeRef<'_>,
        error: &RequestAttemptError,
    ) {
        if matches!(error, RequestAttemptError::BrokenConnectionError(_))
            && self.current() == Some(node.host_id)
        {
            self.set(None);
        }
        self.inner.on_request_failure(request, latency, node, error);
    }

    fn name(&self) -> String {
        format!("Sticky({})", self.inner.name())
    }
}
