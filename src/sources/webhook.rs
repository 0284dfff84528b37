//! The webhook receiver: not built yet (issue 4 in progress).

use crate::config::Config;
use crate::sources::runtime::{Sink, StatusBoard};
use tokio_util::sync::CancellationToken;

/// Serve `[webhooks] listen` until cancelled.
pub async fn serve(
    _config: &Config,
    _sink: Sink,
    _board: StatusBoard,
    _cancel: CancellationToken,
) -> anyhow::Result<()> {
    anyhow::bail!("the webhook receiver is not part of this build yet")
}
